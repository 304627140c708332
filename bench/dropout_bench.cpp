// CPU dropout in a training step: hashed_dropout (model/dropout.h) against ATen's at::dropout (Bernoulli masks),
// forward, on the tensors a MiniLM/BERT step drops: the hidden states of an SST-2 batch (about 420 real tokens,
// H 384), its attention probabilities (B 32, NH 12, a 32-wide grid) and BERT-base's at 128 tokens. One Markdown
// table, microseconds per call (median).
//
//   dropout_bench [--threads 2] [--repetitions 200] [--p 0.1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include "core/heap.h"
#include "model/dropout.h"

using namespace adapterbias;

namespace {

double median_us(const std::function<void()>& f, int repetitions) {
  for (int i = 0; i < 5; ++i) f();
  std::vector<double> us;
  for (int i = 0; i < repetitions; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  return us[us.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hashed_dropout against at::dropout"};
  int threads = 2, repetitions = 200;
  double p = 0.1;
  app.add_option("--threads", threads, "CPU threads")->capture_default_str();
  app.add_option("--repetitions", repetitions, "Timed calls per row")->capture_default_str();
  app.add_option("--p", p, "Dropout probability")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  keep_freed_activations_in_heap();  // as the CLI does

  struct Case {
    const char* what;
    std::vector<int64_t> shape;
  };
  const std::vector<Case> cases{{"MiniLM hidden states, SST-2 batch", {420, 384}},
                                {"MiniLM attention probabilities, SST-2 batch", {32, 12, 32, 32}},
                                {"BERT-base attention probabilities, T 128", {32, 12, 128, 128}}};
  std::printf("| tensor | shape | dtype | at::dropout (us) | hashed_dropout (us) | speed-up | ns per element |\n"
              "|---|---|---|---:|---:|---:|---:|\n");
  for (const auto& c : cases)
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const at::Tensor x = at::randn(c.shape).to(dtype);
      const double aten = median_us([&] { at::dropout(x, p, true); }, repetitions);
      const double hashed = median_us([&] { hashed_dropout(x, p, true); }, repetitions);
      std::string shape;
      for (const int64_t d : c.shape) {
        if (!shape.empty()) shape += 'x';
        shape += std::to_string(d);
      }
      std::printf("| %s | %s | %s | %.0f | %.0f | %.2fx | %.2f |\n", c.what, shape.c_str(),
                  dtype == at::kFloat ? "fp32" : "bf16", aten, hashed, aten / hashed, 1e3 * hashed / x.numel());
    }
  return 0;
}
