// adapterbias embed --model DIR --input FILE.jsonl --output OUT.safetensors
// Encodes each input line and writes last_hidden_state (N, T, H; padded), attention_mask (N, T) and
// pooler_output (N, H).
#include <algorithm>
#include <memory>
#include <numeric>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/io.h"
#include "core/progress.h"
#include "core/safetensors.h"
#include "model/checkpoint.h"
#include "model/collate.h"

namespace adapterbias::cli {
namespace {

struct EmbedOptions {
  std::string model;
  std::string input;
  std::string output;
  int64_t batch_size = 32;
  int64_t max_length = 512;
  RunArgs run;
};

// One JSONL line: {"text": ..., "text_pair": ...} or pre-tokenised {"input_ids": [...], "token_type_ids": [...]}.
Encoding parse_line(const std::string& line, const std::string& where, const BertConfig& config,
                    const EmbedOptions& options, std::unique_ptr<Tokenizer>& tokenizer,
                    const std::filesystem::path& model_dir) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", where, e.what()));
  }
  Encoding encoding;
  try {
    if (json.contains("input_ids")) {
      encoding.ids = json.at("input_ids").get<std::vector<int64_t>>();
      encoding.type_ids = json.value("token_type_ids", std::vector<int64_t>(encoding.ids.size(), 0));
    } else if (json.contains("text")) {
      if (!tokenizer) tokenizer = Tokenizer::from_pretrained(model_dir);
      std::optional<std::string> pair;
      if (json.contains("text_pair") && !json.at("text_pair").is_null()) pair = json.at("text_pair").get<std::string>();
      encoding = tokenizer->encode(json.at("text").get<std::string>(), pair,
                                   EncodeOptions{.max_length = options.max_length});
    } else {
      throw InputError(fmt::format("{}: needs \"text\" or \"input_ids\"", where));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: {}", where, e.what()));
  }
  const int64_t T = static_cast<int64_t>(encoding.ids.size());
  if (T == 0) throw InputError(fmt::format("{}: empty input", where));
  if (T > config.max_position_embeddings)
    throw InputError(fmt::format("{}: {} tokens, more than the model's {} positions", where, T,
                                 config.max_position_embeddings));
  if (static_cast<int64_t>(encoding.type_ids.size()) != T)
    throw InputError(fmt::format("{}: token_type_ids has {} entries for {} input_ids", where, encoding.type_ids.size(), T));
  for (size_t t = 0; t < encoding.ids.size(); ++t) {
    if (encoding.ids[t] < 0 || encoding.ids[t] >= config.vocab_size)
      throw InputError(fmt::format("{}: input id {} outside the vocabulary [0, {})", where, encoding.ids[t], config.vocab_size));
    if (encoding.type_ids[t] < 0 || encoding.type_ids[t] >= config.type_vocab_size)
      throw InputError(fmt::format("{}: token type {} outside [0, {})", where, encoding.type_ids[t], config.type_vocab_size));
  }
  return encoding;
}

void run_embed(const EmbedOptions& options) {
  const Compute compute = apply_run_options(options.run);
  Pretrained pretrained = load_pretrained(options.model);
  for (auto& p : pretrained.model->parameters()) p.set_requires_grad(false);
  pretrained.model->set_compute(compute);
  const BertConfig& config = pretrained.config;

  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<Encoding> encodings;
  LineReader reader(options.input);
  std::string line;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    encodings.push_back(
        parse_line(line, where(reader.path(), reader.line_number()), config, options, tokenizer, pretrained.dir));
  }
  if (encodings.empty()) throw InputError(fmt::format("{}: no inputs", options.input));

  const int64_t N = static_cast<int64_t>(encodings.size()), H = config.hidden_size;
  int64_t T = 0, total_tokens = 0;
  for (const auto& e : encodings) {
    T = std::max<int64_t>(T, static_cast<int64_t>(e.ids.size()));
    total_tokens += static_cast<int64_t>(e.ids.size());
  }
  const int64_t pad_id = config.pad_token_id;
  at::Tensor hidden = at::zeros({N, T, H});
  at::Tensor mask = at::zeros({N, T}, at::kLong);
  at::Tensor pooled = at::zeros({N, H});

  // Longest first, so each batch pads only to its own longest input.
  std::vector<int64_t> order(N);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return encodings[a].ids.size() > encodings[b].ids.size(); });
  torch::NoGradGuard no_grad;
  Progress progress((N + options.batch_size - 1) / options.batch_size, "embed");
  for (int64_t start = 0; start < N; start += options.batch_size) {
    std::vector<const Encoding*> batch;
    int64_t tokens = 0;
    for (int64_t i = start; i < std::min(N, start + options.batch_size); ++i) {
      batch.push_back(&encodings[order[i]]);
      tokens += static_cast<int64_t>(encodings[order[i]].ids.size());
    }
    const EncoderInput input = collate(batch, pad_id).to(compute.device);
    const EncoderOutput out = pretrained.model->forward(input);
    for (size_t b = 0; b < batch.size(); ++b) {
      const int64_t row = order[start + b], len = static_cast<int64_t>(batch[b]->ids.size());
      hidden[row].narrow(0, 0, len).copy_(out.last_hidden_state[b].narrow(0, 0, len));
      mask[row].narrow(0, 0, len).fill_(1);
      pooled[row].copy_(out.pooler_output[b]);
    }
    progress.advance(1, tokens);
  }
  progress.finish();
  save_safetensors(options.output,
                   {{"last_hidden_state", hidden}, {"attention_mask", mask}, {"pooler_output", pooled}},
                   {{"model", pretrained.dir.string()}, {"fingerprint", pretrained.fingerprint}});
  std::fprintf(stderr, "wrote %s: %ld inputs, %ld tokens, hidden %ld\n", options.output.c_str(), static_cast<long>(N),
               static_cast<long>(total_tokens), static_cast<long>(H));
}

}  // namespace

void setup_embed(CLI::App& app) {
  auto options = std::make_shared<EmbedOptions>();
  auto* sub = app.add_subcommand("embed", "Encode JSONL inputs and write hidden states as safetensors");
  sub->add_option("--model", options->model, "Checkpoint folder or packaged model name (minilm)")->required();
  sub->add_option("--input", options->input, "JSONL: {\"text\", \"text_pair\"} or {\"input_ids\", \"token_type_ids\"}")
      ->required();
  sub->add_option("--output", options->output, "Output .safetensors file")->required();
  sub->add_option("--batch-size", options->batch_size, "Inputs per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--max-length", options->max_length, "Truncate text inputs to this many tokens")->capture_default_str();
  add_run_options(sub, options->run);
  sub->callback([options] { run_embed(*options); });
}

}  // namespace adapterbias::cli
