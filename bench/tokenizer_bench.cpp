// tokenizer_bench: tokens/s of the adapterbias tokenizer on a JSONL of inputs, one sequence at a time
// (single) and with encode_batch on all cores (batch). bench/tokenizer_bench.py runs it beside Hugging Face
// `tokenizers` and prints the Markdown table; run this binary alone for our numbers only.
//   tokenizer_bench --model DIR --input FILE.jsonl [--repetitions N]
// Prints one JSON line: {"inputs": n, "tokens": t, "single_s": [..], "batch_s": [..]}.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

using namespace adapterbias;

int main(int argc, char** argv) {
  std::string model, input;
  int repetitions = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--model") == 0) model = argv[i + 1];
    else if (std::strcmp(argv[i], "--input") == 0) input = argv[i + 1];
    else if (std::strcmp(argv[i], "--repetitions") == 0) repetitions = std::stoi(argv[i + 1]);
  }
  if (model.empty() || input.empty()) {
    std::fprintf(stderr, "usage: tokenizer_bench --model DIR --input FILE.jsonl [--repetitions N]\n");
    return 2;
  }
  try {
    const auto tok = Tokenizer::from_pretrained(model);
    std::vector<std::pair<std::string, std::optional<std::string>>> inputs;
    std::ifstream in(input);
    std::string line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      std::optional<std::string> pair;
      if (j.contains("text_pair")) pair = j["text_pair"].get<std::string>();
      inputs.emplace_back(j["text"].get<std::string>(), std::move(pair));
    }
    using clock = std::chrono::steady_clock;
    std::vector<double> single_s, batch_s;
    size_t tokens = 0;
    for (int r = 0; r < repetitions; ++r) {
      const auto t0 = clock::now();
      size_t n = 0;
      for (const auto& [text, pair] : inputs) {
        n += tok->encode(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt, {}).ids.size();
      }
      const auto t1 = clock::now();
      const auto batch = tok->encode_batch(inputs, {});
      const auto t2 = clock::now();
      tokens = n;
      single_s.push_back(std::chrono::duration<double>(t1 - t0).count());
      batch_s.push_back(std::chrono::duration<double>(t2 - t1).count());
    }
    std::printf("%s\n", nlohmann::json{{"inputs", inputs.size()}, {"tokens", tokens}, {"single_s", single_s},
                                       {"batch_s", batch_s}}.dump().c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return static_cast<int>(e.exit_code());
  }
  return 0;
}
