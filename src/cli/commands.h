// The subcommands of the `adapterbias` CLI: one file per subcommand (src/cli/<name>.cpp), each with a
// setup function that adds its options to the app and binds its callback. main.cpp only registers them.
#pragma once

namespace CLI {
class App;
}

namespace adapterbias::cli {

void setup_info(CLI::App& app);
void setup_embed(CLI::App& app);
void setup_train(CLI::App& app);
void setup_tokenize(CLI::App& app);
void setup_eval(CLI::App& app);
void setup_predict(CLI::App& app);
void setup_inspect(CLI::App& app);
void setup_merge(CLI::App& app);
void setup_compare(CLI::App& app);
void setup_explain(CLI::App& app);
void setup_analyze(CLI::App& app);
void setup_serve(CLI::App& app);

// Ends the program with `code` after its message was already printed (e.g. by the workers of --nproc).
struct ExitStatus {
  int code;
};

}  // namespace adapterbias::cli
