// adapterbias info --model DIR: the checkpoint's config and parameter counts.
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "model/checkpoint.h"

namespace adapterbias::cli {
namespace {

struct InfoOptions {
  std::string model;
};

void run_info(const InfoOptions& options) {
  const Pretrained pretrained = load_pretrained(options.model);
  const BertConfig& c = pretrained.config;
  std::printf("model:               %s\n", pretrained.dir.c_str());
  std::printf("model_type:          %s\n", c.model_type.c_str());
  std::printf("layers (L):          %ld\n", static_cast<long>(c.num_hidden_layers));
  std::printf("hidden_size (H):     %ld\n", static_cast<long>(c.hidden_size));
  std::printf("heads (NH):          %ld\n", static_cast<long>(c.num_attention_heads));
  std::printf("intermediate (I):    %ld\n", static_cast<long>(c.intermediate_size));
  std::printf("hidden_act:          %s\n", c.hidden_act.c_str());
  std::printf("vocab_size:          %ld\n", static_cast<long>(c.vocab_size));
  std::printf("max_positions:       %ld\n", static_cast<long>(c.max_position_embeddings));
  std::printf("type_vocab_size:     %ld\n", static_cast<long>(c.type_vocab_size));
  std::printf("layer_norm_eps:      %g\n", c.layer_norm_eps);
  std::printf("parameters:          %ld\n", static_cast<long>(pretrained.num_parameters));
  std::printf("fingerprint:         %s\n", pretrained.fingerprint.c_str());
}

}  // namespace

void setup_info(CLI::App& app) {
  auto options = std::make_shared<InfoOptions>();
  auto* sub = app.add_subcommand("info", "Print a checkpoint's config summary and parameter count");
  sub->add_option("--model", options->model, "Checkpoint folder or packaged model name (minilm)")->required();
  sub->callback([options] { run_info(*options); });
}

}  // namespace adapterbias::cli
