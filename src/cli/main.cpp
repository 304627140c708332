// adapterbias: parameter-efficient transfer learning of BERT/RoBERTa encoders with AdapterBias.
// main only registers the subcommands (one file each) and maps errors to exit codes.
#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/launch.h"
#include "core/error.h"
#include "core/heap.h"

namespace {
constexpr int kUsageExitCode = 2;  // as Unix tools (and argparse) do
}  // namespace

int main(int argc, char** argv) {
  adapterbias::keep_freed_activations_in_heap();
  CLI::App app{"adapterbias: AdapterBias transfer learning for BERT/RoBERTa encoders"};
  app.set_version_flag("--version", "adapterbias 0.1.0");
  app.require_subcommand(1);
  // A flag given twice takes its last value, as Unix tools do (so `scripts/run.sh --epochs 1` can override).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  adapterbias::cli::setup_info(app);
  adapterbias::cli::setup_embed(app);
  adapterbias::cli::setup_train(app);
  adapterbias::cli::setup_tokenize(app);
  adapterbias::cli::setup_eval(app);
  adapterbias::cli::setup_predict(app);
  adapterbias::cli::setup_serve(app);
  adapterbias::cli::setup_inspect(app);
  adapterbias::cli::setup_merge(app);
  adapterbias::cli::setup_compare(app);
  adapterbias::cli::setup_explain(app);
  adapterbias::cli::setup_analyze(app);
  adapterbias::cli::set_program_arguments(argc, argv);
  adapterbias::cli::install_console_handlers();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error (unknown flag, bad value, missing option) exits 2.
    return app.exit(e) == 0 ? 0 : kUsageExitCode;
  } catch (const adapterbias::cli::ExitStatus& status) {
    return status.code;
  } catch (const adapterbias::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return static_cast<int>(e.exit_code());
  } catch (const std::filesystem::filesystem_error& e) {
    // Paths the command could not create or read, said as "PATH: reason" like every other input error.
    std::fprintf(stderr, "error: %s: %s\n", e.path1().c_str(), e.code().message().c_str());
    return static_cast<int>(adapterbias::ExitCode::kInput);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
    return static_cast<int>(adapterbias::ExitCode::kInternal);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return static_cast<int>(adapterbias::ExitCode::kInternal);
  }
  return 0;
}
