// adapterbias analyze --model DIR --adapter FILE --task NAME --data DIR [--split dev] --out DIR [--min-count 5]
// The AdapterBias shift over a whole split (analysis/token_shift.h, docs/explain.md). Writes to --out:
//   summary.json      per-layer mean and quantiles of the shift and relative shift, the word ranking (words
//                     seen at least --min-count times), shift vs prediction confidence
//   words.tsv         every word (lowercased) with its count, mean shift and mean relative shift, ranked
//   layers.svg        mean shift per layer across the split, with the interquartile band
//   top_words.svg     the --top words by mean shift (bar chart)
//   report.html       one self-contained page with the figures and tables
// The statistics and the report are analysis/split_analysis.h's.
#include <cstdio>
#include <filesystem>
#include <memory>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "analysis/split_analysis.h"  // defines: analyze_split
#include "analysis/token_shift.h"     // defines: token_shifts, shift_vector_norms
#include "cli/commands.h"
#include "cli/common.h"            // defines: add_data_options, read_split_reported, apply_run_options
#include "core/error.h"
#include "core/io.h"               // defines: write_file_atomic
#include "model/checkpoint.h"      // defines: load_pretrained
#include "peft/adapter_file.h"     // defines: read_adapter, adapter_task, load_adapter_model
#include "train/inference.h"       // defines: encode_examples

namespace adapterbias::cli {
namespace {

struct AnalyzeArgs {
  std::string model;
  std::string adapter;
  DataSource data;
  std::string split = "dev";
  std::string out;
  int64_t min_count = 5;
  int64_t top = 30;
  int64_t max_examples = -1;
  int64_t batch_size = 32;
  int64_t max_length = 0;  // 0: the adapter's
  bool overwrite = false;
  RunArgs run;
};

void run_analyze(AnalyzeArgs args) {
  const Compute compute = apply_run_options(args.run);
  const std::filesystem::path out = args.out;
  if (std::filesystem::exists(out) && !std::filesystem::is_directory(out))
    throw InputError(fmt::format("--out {}: is a file, expected a folder for the analysis files", out.string()));
  AdapterFile adapter = read_adapter(args.adapter);
  const TaskSpec task = adapter_task(args.data, adapter.info, args.adapter);
  const Dataset data = read_split_reported(args.data, task, args.split, args.max_examples);
  if (data.examples.empty()) throw InputError(fmt::format("{}: split '{}' is empty", data.path.string(), args.split));

  LoadedAdapter loaded = load_adapter_model(load_pretrained(args.model), std::move(adapter), args.adapter, compute);
  const AdapterInfo& info = loaded.info();
  const auto encodings = encode_examples(*loaded.tokenizer, data.examples, loaded.max_length(args.max_length));
  const auto all = token_shifts(loaded.model, encodings, args.batch_size, loaded.tokenizer->pad_token_id(), true);
  const at::Tensor v_norm = shift_vector_norms(loaded.model);

  const SplitAnalysis analysis = analyze_split(all, data, task, args.split, info, v_norm, args.adapter, args.model,
                                               args.min_count, args.top);
  for (const auto& [name, content] : analysis.files)
    check_output_file(out / name, {args.adapter, data.path}, args.overwrite, "--out");
  std::string names;
  for (const auto& [name, content] : analysis.files) {
    write_file_atomic(out / name, content);
    names += (names.empty() ? "" : ", ") + name;
  }
  std::fprintf(stderr, "wrote %s/{%s}\n", out.c_str(), names.c_str());
}

}  // namespace

void setup_analyze(CLI::App& app) {
  auto args = std::make_shared<AnalyzeArgs>();
  auto* sub = app.add_subcommand("analyze", "The AdapterBias shift over a whole split: per layer, per word, vs confidence");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm) the adapter was trained on")
      ->required();
  sub->add_option("--adapter", args->adapter, "AdapterBias adapter file written by `adapterbias train`")->required();
  add_data_options(sub, args->data);
  sub->add_option("--split", args->split, "Split to analyze: dev, train, dev_matched, ...")->capture_default_str();
  sub->add_option("--out", args->out, "Output folder (summary.json, words.tsv, *.svg, report.html)")->required();
  sub->add_option("--min-count", args->min_count, "Rank only words seen at least this many times")
      ->capture_default_str()->check(positive());
  sub->add_option("--top", args->top, "Words in the summary's top list and the bar chart")->capture_default_str()
      ->check(positive());
  sub->add_option("--max-examples", args->max_examples, "Use the first N examples of the split (-1: all)")
      ->capture_default_str()->check(count_or_all());
  sub->add_option("--batch-size", args->batch_size, "Examples per forward pass")->capture_default_str()->check(positive());
  sub->add_option("--max-length", args->max_length, "Truncate inputs to this many tokens (0: the adapter's)")
      ->capture_default_str()->check(non_negative());
  sub->add_flag("--overwrite", args->overwrite, "Replace analysis files already in --out");
  add_run_options(sub, args->run);
  sub->callback([args] { run_analyze(*args); });
}

}  // namespace adapterbias::cli
