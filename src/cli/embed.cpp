// adapterbias embed --model DIR --input FILE.jsonl --output OUT.safetensors [--pooling P] [--tokens]
// Encodes each input line and writes "pooled" (N, H) and, with --tokens, the real tokens' last hidden states
// (train/embedding.h: write_embeddings), streaming batch by batch.
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/io.h"              // defines: LineReader, check_output_file
#include "data/dataset.h"         // defines: text_problem
#include "model/checkpoint.h"     // defines: load_pretrained
#include "train/embedding.h"      // defines: write_embeddings

namespace adapterbias::cli {
namespace {

struct EmbedOptions {
  std::string model;
  std::string input;
  std::string output;
  int64_t batch_size = 32;
  int64_t max_length = 512;
  std::string pooling = "pooler";
  bool tokens = false;
  bool overwrite = false;
  RunArgs run;
};

// One JSONL line: {"text": ..., "text_pair": ...} or pre-tokenised {"input_ids": [...], "token_type_ids": [...]}.
Encoding parse_line(const std::string& line, const std::string& where, const BertConfig& config,
                    const EmbedOptions& options, std::unique_ptr<Tokenizer>& tokenizer,
                    const std::filesystem::path& model_dir) {
  if (const std::string problem = text_problem(line); !problem.empty())
    throw InputError(fmt::format("{}: expected a line of JSON text, found {}", where, problem));
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
  if (T > config.max_tokens())
    throw InputError(fmt::format("{}: {} tokens, more than the model's {} positions hold", where, T,
                                 config.max_tokens()));
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
  EmbeddingOutputs outputs;
  outputs.tokens = options.tokens;
  outputs.pooling = options.pooling == "none" ? std::nullopt : std::optional(parse_pooling(options.pooling));
  if (!outputs.pooling && !outputs.tokens) throw InputError("--pooling none needs --tokens: there is nothing else to write");
  Pretrained pretrained = load_pretrained(options.model);
  for (auto& p : pretrained.model->parameters()) p.set_requires_grad(false);
  pretrained.model->set_compute(compute);
  const BertConfig& config = pretrained.config;
  check_output_file(options.output, {options.input, pretrained.dir}, options.overwrite, "--output");

  // Only ids and token types are kept per input (not tokens or offsets): memory grows with the input's
  // tokens, and the outputs stream to the file batch by batch.
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<Encoding> encodings;
  LineReader reader(options.input);  // "-": standard input
  std::string line;
  int64_t total_tokens = 0;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Encoding e = parse_line(line, where(reader.path(), reader.line_number()), config, options, tokenizer, pretrained.dir);
    total_tokens += static_cast<int64_t>(e.ids.size());
    Encoding kept;  // only what the encoder reads: the rest of a long input's encoding is not kept
    kept.ids = std::move(e.ids);
    kept.type_ids = std::move(e.type_ids);
    encodings.push_back(std::move(kept));
  }
  if (encodings.empty()) throw InputError(fmt::format("{}: no inputs", options.input));
  write_embeddings(pretrained.model, encodings, options.batch_size, outputs, options.output,
                   {{"model", pretrained.dir.string()}, {"fingerprint", pretrained.fingerprint}});
  std::fprintf(stderr, "wrote %s: %zu inputs, %ld tokens, hidden %ld\n", options.output.c_str(), encodings.size(),
               static_cast<long>(total_tokens), static_cast<long>(config.hidden_size));
}

}  // namespace

void setup_embed(CLI::App& app) {
  auto options = std::make_shared<EmbedOptions>();
  auto* sub = app.add_subcommand("embed", "Encode JSONL inputs and write hidden states as safetensors");
  sub->add_option("--model", options->model, "Checkpoint folder or packaged model name (minilm)")->required();
  sub->add_option("--input", options->input, "JSONL: {\"text\", \"text_pair\"} or {\"input_ids\", \"token_type_ids\"}")
      ->required();
  sub->add_option("--output", options->output, "Output .safetensors file")->required();
  sub->add_flag("--overwrite", options->overwrite, "Replace an existing --output file");
  sub->add_option("--batch-size", options->batch_size, "Inputs per forward pass")->capture_default_str()->check(positive());
  sub->add_option("--max-length", options->max_length, "Truncate text inputs to this many tokens")
      ->capture_default_str()->check(positive());
  sub->add_option("--pooling", options->pooling,
                  "\"pooled\" (N, H): pooler (BertModel's pooler_output), cls, mean, or none")->capture_default_str();
  sub->add_flag("--tokens", options->tokens,
                "Also write every real token's last hidden state: \"last_hidden_state\" (tokens, H) and \"offsets\" "
                "(N + 1); input i is rows offsets[i] to offsets[i+1]");
  add_run_options(sub, options->run);
  sub->callback([options] { run_embed(*options); });
}

}  // namespace adapterbias::cli
