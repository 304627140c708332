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
#include "data/submission.h"   // defines: format_submission, submission_file_name
#include "model/checkpoint.h"  // defines: load_pretrained
#include "peft/adapter_file.h"  // defines: read_adapter, adapter_task, load_adapter_model
#include "train/inference.h"    // defines: encode_examples, predict_logits, predicted_classes/scores

namespace adapterbias::cli {
namespace {

struct PredictArgs {
  std::string model;
  std::string adapter;
  TextInputs inputs;
  DataSource data;
  std::string split;
  std::string out;
  bool logits = false;
  bool overwrite = false;
  int64_t batch_size = 64;
  int64_t max_length = 0;  // 0: the adapter's
  RunArgs run;
};

void run_predict(PredictArgs args) {
  const Compute compute = apply_run_options(args.run);
  const int modes = int(args.inputs.given()) + int(!args.split.empty());
  if (modes != 1) throw InputError("give exactly one of --text, --input FILE, or --split test (with --data and --out)");
  if (!args.split.empty() && args.out.empty()) throw InputError("--split needs --out FILE_OR_DIR for the submission file");
  // --out FILE.jsonl: one JSON line per input with its id, label and probabilities, for any mode.
  const bool jsonl_out = !args.out.empty() && std::filesystem::path(args.out).extension() == ".jsonl";
  if (args.split.empty() && !args.out.empty() && !jsonl_out)
    throw InputError(fmt::format("--out {}: with --text or --input, --out is a .jsonl file (or omit it for standard "
                                 "output)", args.out));

  AdapterFile adapter = read_adapter(args.adapter);
  std::optional<TaskSpec> task;
  Dataset data;
  if (!args.split.empty()) {
    task = adapter_task(args.data, adapter.info, args.adapter);
    data = read_split_reported(args.data, *task, args.split);
  } else {
    data.examples = read_text_inputs(args.inputs, args.data);
  }

  // The submission file: a .tsv path, or a folder that gets the GLUE file name (own data: the task's name).
  std::filesystem::path written = jsonl_out ? std::filesystem::path(args.out) : std::filesystem::path();
  if (task && !jsonl_out) {
    const std::filesystem::path out = args.out;
    const bool to_file = out.has_extension() && !std::filesystem::is_directory(out);
    written = to_file               ? out
              : args.data.is_glue() ? out / submission_file_name(*task, args.split)
                                    : out / (checked_file_name(task->name, "the task name") + ".tsv");
  }
  LoadedAdapter loaded = load_adapter_model(load_pretrained(args.model), std::move(adapter), args.adapter, compute);
  if (!written.empty())
    check_output_file(written, {args.adapter, loaded.pretrained.dir, data.path, args.inputs.input}, args.overwrite,
                      "--out");
  const AdapterInfo& info = loaded.info();
  const auto encodings = encode_examples(*loaded.tokenizer, data.examples, loaded.max_length(args.max_length));
  const at::Tensor logits = predict_logits(loaded.model, encodings, args.batch_size, loaded.tokenizer->pad_token_id(),
                                           data.examples.size() > 1000);

  if (jsonl_out || !task) {
    std::string lines;
    for (int64_t i = 0; i < logits.size(0); ++i) {
      nlohmann::ordered_json line;
      if (jsonl_out) line["id"] = data.examples[static_cast<size_t>(i)].id;
      line.update(prediction_json(info, logits[i], args.logits));
      lines += line.dump() + "\n";
    }
    if (!jsonl_out) {
      std::fwrite(lines.data(), 1, lines.size(), stdout);
      return;
    }
    write_file_atomic(written, lines);
  } else {
    write_file_atomic(written, task->regression ? format_submission(*task, data.examples, predicted_scores(logits))
                                                : format_submission(*task, data.examples, predicted_classes(logits)));
  }
  std::fprintf(stderr, "wrote %s: %zu predictions\n", written.c_str(), data.size());
}

}  // namespace

void setup_predict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  auto* sub = app.add_subcommand("predict", "Run a saved adapter on texts, a JSONL file, or a GLUE test split");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm) the adapter was trained on")
      ->required();
  sub->add_option("--adapter", args->adapter, "Adapter file written by `adapterbias train`")->required();
  add_text_input_options(sub, args->inputs);
  add_data_options(sub, args->data);
  sub->add_option("--split", args->split, "Predict a whole split (test, test_matched, ...) and write a submission file");
  sub->add_option("--out", args->out,
                  "A .jsonl file: one line per input with id, label and probabilities (any mode); with --split also "
                  "a folder (gets the GLUE file name, e.g. SST-2.tsv) or a .tsv submission file");
  sub->add_flag("--logits", args->logits, "Also print the raw logits");
  sub->add_flag("--overwrite", args->overwrite, "Replace an existing --out file");
  sub->add_option("--batch-size", args->batch_size, "Inputs per forward pass")->capture_default_str()->check(positive());
  sub->add_option("--max-length", args->max_length, "Truncate inputs to this many tokens (0: the adapter's)")
      ->capture_default_str()->check(non_negative());
  add_run_options(sub, args->run);
  sub->callback([args] { run_predict(*args); });
}

}  // namespace adapterbias::cli
