// adapterbias tokenize --model DIR (--text T [--text-pair P] | --input FILE.jsonl) [--max-length N]:
// prints one JSON object per input with input_ids, token_type_ids, attention_mask, tokens and offsets
// (code points into the original text), exactly what Hugging Face `tokenizers` returns for the checkpoint.
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "model/checkpoint.h"     // defines: resolve_model_dir
#include "tokenizer/tokenizer.h"  // defines: Tokenizer, Encoding, EncodeOptions

namespace adapterbias::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::optional<std::string> text;
  std::optional<std::string> text_pair;
  std::string input;       // JSONL file: {"text": ...} or {"text": ..., "text_pair": ...} per line
  int64_t max_length = 0;  // 0 = no truncation
  bool no_special_tokens = false;
};

using Input = std::pair<std::string, std::optional<std::string>>;

std::vector<Input> read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the input file", path));
  std::vector<Input> inputs;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(fmt::format("{}:{}: not a JSON object: {}", path, line_no, e.what()));
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      throw InputError(fmt::format("{}:{}: expected {{\"text\": string[, \"text_pair\": string]}}", path, line_no));
    }
    std::optional<std::string> pair;
    if (const auto it = j.find("text_pair"); it != j.end() && !it->is_null()) {
      if (!it->is_string()) throw InputError(fmt::format("{}:{}: \"text_pair\" must be a string", path, line_no));
      pair = it->get<std::string>();
    }
    inputs.emplace_back(j["text"].get<std::string>(), std::move(pair));
  }
  return inputs;
}

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
  if (options.text.has_value() == !options.input.empty()) {
    throw InputError("tokenize: give exactly one of --text or --input");
  }
  if (options.text_pair && !options.text) throw InputError("tokenize: --text-pair needs --text");
  const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_pretrained(resolve_model_dir(options.model));
  EncodeOptions encode_options;
  encode_options.max_length = options.max_length;
  encode_options.add_special_tokens = !options.no_special_tokens;
  std::vector<Input> inputs;
  if (options.text) {
    inputs.emplace_back(*options.text, options.text_pair);
  } else {
    inputs = read_jsonl(options.input);
  }
  std::vector<Encoding> encodings;
  try {
    encodings = tokenizer->encode_batch(inputs, encode_options);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", options.text ? std::string("--text") : options.input, e.what()));
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
  sub->add_option("--text", options->text, "Text to tokenize");
  sub->add_option("--text-pair", options->text_pair, "Second text of a pair (with --text)");
  sub->add_option("--input", options->input,
                  "JSONL file, one {\"text\": ...} or {\"text\": ..., \"text_pair\": ...} per line");
  sub->add_option("--max-length", options->max_length,
                  "Truncate (longest_first) to at most N tokens, special tokens included; 0 = no truncation")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--no-special-tokens", options->no_special_tokens, "Do not add [CLS]/[SEP] (<s>/</s>)");
  sub->callback([options] { run_tokenize(*options); });
}

}  // namespace adapterbias::cli
