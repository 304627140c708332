// adapterbias merge --model DIR --adapter FILE --out DIR: folds a mergeable method into the backbone and
// writes a Hugging Face checkpoint folder (peft/merged_checkpoint.h).
#include <cstdio>
#include <memory>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"  // defines: positive, non_negative
#include "model/checkpoint.h"        // defines: load_pretrained
#include "peft/adapter_file.h"       // defines: read_adapter, load_adapter_model
#include "peft/merged_checkpoint.h"  // defines: write_merged_checkpoint

namespace adapterbias::cli {
namespace {

struct MergeArgs {
  std::string model;
  std::string adapter;
  std::string out;
  int threads = 0;
  bool overwrite = false;
};

void run_merge(const MergeArgs& args) {
  if (args.threads > 0) at::set_num_threads(args.threads);
  LoadedAdapter loaded = load_adapter_model(load_pretrained(args.model), read_adapter(args.adapter), args.adapter, Compute{});
  const nlohmann::ordered_json summary = write_merged_checkpoint(loaded, args.out, args.overwrite);
  std::printf("%s\n", summary.dump(2).c_str());
  std::fprintf(stderr, "merged %s into %s (%s): %zu tensors, logits agree within %.2g\n", args.adapter.c_str(),
               args.out.c_str(), summary["architecture"].get<std::string>().c_str(),
               summary["tensors"].get<size_t>(), summary["max_abs_logit_diff"].get<double>());
}

}  // namespace

void setup_merge(CLI::App& app) {
  auto args = std::make_shared<MergeArgs>();
  auto* sub = app.add_subcommand("merge", "Fold an adapter into its backbone and write a Hugging Face checkpoint folder");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm) the adapter was trained on")
      ->required();
  sub->add_option("--adapter", args->adapter, "Adapter file written by `adapterbias train`")->required();
  sub->add_option("--out", args->out, "Output folder: config.json, model.safetensors, tokenizer files")->required();
  sub->add_flag("--overwrite", args->overwrite, "Replace files already in --out");
  sub->add_option("--threads", args->threads, "CPU threads (0: LibTorch's default)")
      ->capture_default_str()->check(non_negative());
  sub->callback([args] { run_merge(*args); });
}

}  // namespace adapterbias::cli
