// adapterbias tokenize --model DIR (--text T [--text-pair P] ... | --input FILE) [--max-length N]:
// prints one JSON object per input with input_ids, token_type_ids, attention_mask, tokens and offsets
// (code points into the original text), exactly what Hugging Face `tokenizers` returns for the checkpoint.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"  // defines: TextInputs, read_text_inputs, non_negative
#include "core/error.h"
#include "model/checkpoint.h"     // defines: resolve_model_dir
#include "tokenizer/tokenizer.h"  // defines: Tokenizer, Encoding, EncodeOptions

namespace adapterbias::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  TextInputs inputs;
  DataSource columns;      // --text-column, --text-pair-column of --input
  int64_t max_length = 0;  // 0 = no truncation
  bool no_special_tokens = false;
};

template <typename T>
void write_ints(std::string& out, const std::vector<T>& values) {
  out += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  out += ']';
}

void write_json(std::string& out, const Encoding& e) {
  out += "{\"input_ids\":";
  write_ints(out, e.ids);
  out += ",\"token_type_ids\":";
  write_ints(out, e.type_ids);
  out += ",\"attention_mask\":";
  write_ints(out, e.attention_mask);
  out += ",\"tokens\":[";
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    if (i > 0) out += ',';
    out += nlohmann::json(e.tokens[i]).dump();
  }
  out += "],\"offsets\":[";
  for (size_t i = 0; i < e.offsets.size(); ++i) {
    if (i > 0) out += ',';
    out += fmt::format("[{},{}]", e.offsets[i].first, e.offsets[i].second);
  }
  out += "]}\n";
}

void run_tokenize(const TokenizeOptions& options) {
  const std::vector<Example> examples = read_text_inputs(options.inputs, options.columns);
  const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_pretrained(resolve_model_dir(options.model));
  EncodeOptions encode_options;
  encode_options.max_length = options.max_length;
  encode_options.add_special_tokens = !options.no_special_tokens;
  std::vector<std::pair<std::string, std::optional<std::string>>> inputs;
  for (const Example& e : examples) inputs.emplace_back(e.text_a, e.text_b);
  std::vector<Encoding> encodings;
  try {
    encodings = tokenizer->encode_batch(inputs, encode_options);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", options.inputs.input.empty() ? std::string("--text") : options.inputs.input,
                                 e.what()));
  }
  std::string out;
  for (size_t i = 0; i < encodings.size(); ++i) {
    write_json(out, encodings[i]);
    if (out.size() > (1 << 20) || i + 1 == encodings.size()) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fflush(stdout);
}

}  // namespace

void setup_tokenize(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* sub = app.add_subcommand("tokenize", "Tokenize text as the checkpoint's Hugging Face tokenizer does (JSON lines)");
  sub->add_option("--model", options->model, "Checkpoint folder or packaged model name (minilm)")->required();
  add_text_input_options(sub, options->inputs, &options->columns);
  sub->add_option("--max-length", options->max_length,
                  "Truncate (longest_first) to at most N tokens, special tokens included; 0 = no truncation")
      ->capture_default_str()
      ->check(non_negative());
  sub->add_flag("--no-special-tokens", options->no_special_tokens, "Do not add [CLS]/[SEP] (<s>/</s>)");
  sub->callback([options] { run_tokenize(*options); });
}

}  // namespace adapterbias::cli
