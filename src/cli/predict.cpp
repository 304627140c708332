// adapterbias predict --model DIR --adapter FILE (--text T [--text-pair P] | --input FILE.jsonl |
//                     --split test --data DIR --out FILE_OR_DIR)
// adapterbias predict --model DIR --adapter NAME=FILE [--adapter NAME=FILE ...] --input MIXED.jsonl
// Runs a saved adapter on new inputs. --text/--input print one JSON object per input on stdout:
//   classification {"label": "1", "label_id": 1, "probabilities": {"0": 0.1, "1": 0.9}}
//   regression     {"score": 3.2}
// (with --logits also "logits": [...]). --split writes a GLUE submission file (data/submission.h).
// Named adapters share one backbone (peft/multi_task_model.h): each input line names its "task" (or --task
// names it for all), rows of every task run in the same batches, and each output line names its task.
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
#include "peft/multi_task_model.h"
#include "train/inference.h"    // defines: encode_examples, predict_logits, predicted_classes/scores

namespace adapterbias::cli {
namespace {

struct PredictArgs {
  std::string model;
  std::vector<std::string> adapters;
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

std::filesystem::path jsonl_output(const PredictArgs& args) {
  const bool jsonl_out = !args.out.empty() && std::filesystem::path(args.out).extension() == ".jsonl";
  if (args.split.empty() && !args.out.empty() && !jsonl_out)
    throw InputError(fmt::format("--out {}: with --text or --input, --out is a .jsonl file (or omit it for standard "
                                 "output)", args.out));
  return jsonl_out ? std::filesystem::path(args.out) : std::filesystem::path();
}

// Writes `lines` to `out` (atomically), or to standard output when `out` is empty.
void emit_lines(const std::string& lines, const std::filesystem::path& out, size_t count) {
  if (out.empty()) {
    std::fwrite(lines.data(), 1, lines.size(), stdout);
    return;
  }
  write_file_atomic(out, lines);
  std::fprintf(stderr, "wrote %s: %zu predictions\n", out.c_str(), count);
}

// Several named adapters on one backbone; every input names its task.
void run_mixed_predict(const PredictArgs& args, const Compute& compute) {
  if (!args.split.empty())
    throw InputError("--split predicts one adapter's task: give a single --adapter FILE");
  if (!args.inputs.given()) throw InputError("give --input FILE.jsonl (a \"task\" on each line) or --text with --task NAME");
  const std::filesystem::path out = jsonl_output(args);
  MultiTaskModel model(load_pretrained(args.model), compute);
  const auto tokenizer = Tokenizer::from_pretrained(model.pretrained().dir);
  std::vector<std::filesystem::path> inputs = add_named_adapters(model, args.adapters);
  inputs.push_back(model.pretrained().dir);
  inputs.push_back(args.inputs.input);
  if (!out.empty()) check_output_file(out, inputs, args.overwrite, "--out");

  DataSource columns = args.data;
  if (columns.task.empty() && model.num_tasks() == 1) columns.task = model.tasks()[0].name;
  std::vector<std::string> task_names;
  const std::vector<Example> examples = read_text_inputs(args.inputs, columns, &task_names);
  std::vector<int64_t> task_of;
  for (size_t i = 0; i < examples.size(); ++i) {
    try {
      task_of.push_back(model.task_index(task_names[i]));
    } catch (const InputError& e) {
      const std::string at = args.inputs.input.empty() ? "--task" : where(args.inputs.input, examples[i].line);
      throw InputError(fmt::format("{}: {}", at, e.what()));
    }
  }
  // Each task's inputs are truncated to its own adapter's length.
  std::vector<Encoding> encodings(examples.size());
  for (int64_t k = 0; k < model.num_tasks(); ++k) {
    std::vector<Example> group;
    std::vector<size_t> where_in;
    for (size_t i = 0; i < examples.size(); ++i)
      if (task_of[i] == k) {
        group.push_back(examples[i]);
        where_in.push_back(i);
      }
    if (group.empty()) continue;
    const ServedTask& task = model.tasks()[k];
    const int64_t max_length = adapter_max_length(model.pretrained().config, task.info, task.source, args.max_length);
    auto encoded = encode_examples(*tokenizer, group, max_length);
    for (size_t j = 0; j < encoded.size(); ++j) encodings[where_in[j]] = std::move(encoded[j]);
  }
  const at::Tensor logits = predict_mixed_logits(model, encodings, task_of, args.batch_size, tokenizer->pad_token_id(),
                                                 examples.size() > 1000);

  std::string lines;
  for (size_t i = 0; i < examples.size(); ++i) {
    const ServedTask& task = model.tasks()[task_of[i]];
    nlohmann::ordered_json line;
    if (!out.empty()) line["id"] = examples[i].id;
    line["task"] = task.name;
    line.update(prediction_json(task.info, logits[i].narrow(0, 0, task.info.num_labels()), args.logits));
    lines += line.dump() + "\n";
  }
  emit_lines(lines, out, examples.size());
}

void run_predict(PredictArgs args) {
  const Compute compute = apply_run_options(args.run);
  if (args.adapters.size() > 1 || !split_named_adapter(args.adapters.at(0)).first.empty())
    return run_mixed_predict(args, compute);
  const std::string adapter_path = args.adapters[0];
  const int modes = int(args.inputs.given()) + int(!args.split.empty());
  if (modes != 1) throw InputError("give exactly one of --text, --input FILE, or --split test (with --data and --out)");
  if (!args.split.empty() && args.out.empty()) throw InputError("--split needs --out FILE_OR_DIR for the submission file");
  // --out FILE.jsonl: one JSON line per input with its id, label and probabilities, for any mode.
  const std::filesystem::path jsonl_path = jsonl_output(args);
  const bool jsonl_out = !jsonl_path.empty();

  AdapterFile adapter = read_adapter(adapter_path);
  std::optional<TaskSpec> task;
  Dataset data;
  if (!args.split.empty()) {
    task = adapter_task(args.data, adapter.info, adapter_path);
    data = read_split_reported(args.data, *task, args.split);
  } else {
    data.examples = read_text_inputs(args.inputs, args.data);
  }

  // The submission file: a .tsv path, or a folder that gets the GLUE file name (own data: the task's name).
  std::filesystem::path written = jsonl_path;
  if (task && !jsonl_out) {
    const std::filesystem::path out = args.out;
    const bool to_file = out.has_extension() && !std::filesystem::is_directory(out);
    written = to_file               ? out
              : args.data.is_glue() ? out / submission_file_name(*task, args.split)
                                    : out / (checked_file_name(task->name, "the task name") + ".tsv");
  }
  LoadedAdapter loaded = load_adapter_model(load_pretrained(args.model), std::move(adapter), adapter_path, compute);
  if (!written.empty())
    check_output_file(written, {adapter_path, loaded.pretrained.dir, data.path, args.inputs.input}, args.overwrite,
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
    emit_lines(lines, written, data.size());
  } else {
    emit_lines(task->regression ? format_submission(*task, data.examples, predicted_scores(logits))
                                : format_submission(*task, data.examples, predicted_classes(logits)),
               written, data.size());
  }
}

}  // namespace

void setup_predict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  auto* sub = app.add_subcommand("predict", "Run a saved adapter on texts, a JSONL file, or a GLUE test split");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm) the adapter was trained on")
      ->required();
  sub->add_option("--adapter", args->adapters,
                  "Adapter file written by `adapterbias train`; or NAME=FILE, repeatable: several tasks on one "
                  "backbone (a plain FILE is named after its task), each input naming its \"task\" (JSONL) or "
                  "--task NAME for all")
      ->required()->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
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
