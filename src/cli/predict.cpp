// adapterbias predict --model DIR --adapter FILE (--text T [--text-pair P] | --input FILE.jsonl |
//                     --split test --data DIR --out FILE_OR_DIR)
// Runs a saved adapter on new inputs. --text/--input print one JSON object per input on stdout:
//   classification {"label": "1", "label_id": 1, "probabilities": {"0": 0.1, "1": 0.9}}
//   regression     {"score": 3.2}
// (with --logits also "logits": [...]). --split writes a GLUE submission file (data/submission.h).
#include <cstdio>
#include <memory>
#include <optional>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"        // defines: add_data_options, read_split_reported, read_text_inputs, apply_run_options
#include "core/error.h"
#include "core/io.h"           // defines: LineReader, where, write_file_atomic
#include "data/submission.h"   // defines: format_submission, write_submission
#include "model/checkpoint.h"  // defines: load_pretrained
#include "peft/adapter_file.h"  // defines: read_adapter, adapter_task, load_adapter_model
#include "train/inference.h"    // defines: encode_examples, predict_logits, predicted_classes/scores

namespace adapterbias::cli {
namespace {

struct PredictArgs {
  std::string model;
  std::string adapter;
  std::string text;
  std::string text_pair;
  std::string input;
  DataSource data;
  std::string split;
  std::string out;
  bool logits = false;
  int64_t batch_size = 64;
  int64_t max_length = 0;  // 0: the adapter's
  RunArgs run;
};

void run_predict(PredictArgs args) {
  const Compute compute = apply_run_options(args.run);
  const int modes = int(!args.text.empty() || !args.text_pair.empty()) + int(!args.input.empty()) + int(!args.split.empty());
  if (modes != 1) throw InputError("give exactly one of --text, --input FILE.jsonl, or --split test (with --data and --out)");
  if (!args.split.empty() && args.out.empty()) throw InputError("--split needs --out FILE_OR_DIR for the submission file");

  AdapterFile adapter = read_adapter(args.adapter);
  std::optional<TaskSpec> task;
  Dataset data;
  if (!args.split.empty()) {
    task = adapter_task(args.data, adapter.info, args.adapter);
    data = read_split_reported(args.data, *task, args.split);
  } else {
    data.examples = read_text_inputs(args.text, args.text_pair, args.input);
  }

  LoadedAdapter loaded = load_adapter_model(load_pretrained(args.model), std::move(adapter), args.adapter, compute);
  const AdapterInfo& info = loaded.info();
  const auto encodings = encode_examples(*loaded.tokenizer, data.examples, loaded.max_length(args.max_length));
  const at::Tensor logits = predict_logits(loaded.model, encodings, args.batch_size, loaded.tokenizer->pad_token_id(),
                                           data.examples.size() > 1000);

  if (task) {
    const std::filesystem::path out = args.out;
    const bool to_file = out.has_extension() && !std::filesystem::is_directory(out);
    std::filesystem::path written;
    if (args.data.is_glue() && !to_file) {
      written = task->regression ? write_submission(out, *task, args.split, data.examples, predicted_scores(logits))
                                 : write_submission(out, *task, args.split, data.examples, predicted_classes(logits));
    } else {
      // A file path, or own data (no GLUE file name): the same "index<TAB>prediction" layout.
      written = to_file ? out : out / (checked_file_name(task->name, "the task name") + ".tsv");
      write_file_atomic(written, task->regression ? format_submission(*task, data.examples, predicted_scores(logits))
                                                  : format_submission(*task, data.examples, predicted_classes(logits)));
    }
    std::fprintf(stderr, "wrote %s: %zu predictions\n", written.c_str(), data.size());
    return;
  }
  for (int64_t i = 0; i < logits.size(0); ++i)
    std::printf("%s\n", prediction_json(info, logits[i], args.logits).dump().c_str());
}

}  // namespace

void setup_predict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  auto* sub = app.add_subcommand("predict", "Run a saved adapter on texts, a JSONL file, or a GLUE test split");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm) the adapter was trained on")
      ->required();
  sub->add_option("--adapter", args->adapter, "Adapter file written by `adapterbias train`")->required();
  sub->add_option("--text", args->text, "One input text; prints one JSON line");
  sub->add_option("--text-pair", args->text_pair, "The second text of a pair task, with --text");
  sub->add_option("--input", args->input, "JSONL file of {\"text\": ..., \"text_pair\": ...}; prints one JSON line each");
  add_data_options(sub, args->data);
  sub->add_option("--split", args->split, "Predict a whole split (test, test_matched, ...) and write a submission file");
  sub->add_option("--out", args->out, "With --split: a folder (gets the GLUE file name, e.g. SST-2.tsv) or a .tsv file");
  sub->add_flag("--logits", args->logits, "Also print the raw logits");
  sub->add_option("--batch-size", args->batch_size, "Inputs per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--max-length", args->max_length, "Truncate inputs to this many tokens (0: the adapter's)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  add_run_options(sub, args->run);
  sub->callback([args] { run_predict(*args); });
}

}  // namespace adapterbias::cli
