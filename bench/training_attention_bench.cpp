// Attention in a CPU training step, forward + backward: training_attention (model/cpu_attention.h, one
// autograd node) against the same products as separate ATen ops under autograd (baddbmm with the scale and the
// padding mask, softmax, hashed dropout with its mask, bmm, on q, k and v unbound from one grid), which is what the
// encoder ran before. MiniLM's heads (NH 12, D 32), batch 32, one row in four half as long as the grid, dropout 0.1. One
// Markdown table, median microseconds per forward + backward; the two forms alternate call by call.
//
//   training_attention_bench [--threads 2] [--repetitions 100] [--dtype fp32|bf16] [--lengths 24 32 64 128]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include "core/heap.h"
#include "model/dropout.h"
#include "model/cpu_attention.h"

using namespace adapterbias;

namespace {

at::Tensor composite_attention(const at::Tensor& qkv, const at::Tensor& mask, double dropout_p) {
  const int64_t B = qkv.size(1), NH = qkv.size(2), T = qkv.size(3), D = qkv.size(4);
  const auto parts = qkv.view({3, B * NH, T, D}).unbind(0);
  const at::Tensor bias = at::zeros({B, 1, 1, T}, qkv.options())
                              .masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity())
                              .expand({B, NH, 1, T})
                              .reshape({B * NH, 1, T});
  const at::Tensor scores = at::baddbmm(bias, parts[0], parts[1].transpose(1, 2), 1.0, 1.0 / std::sqrt(double(D)));
  return at::bmm(hashed_dropout(at::softmax(scores, -1), dropout_p, true), parts[2]).view({B, NH, T, D});
}

double median(std::vector<double> values) {
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"training_attention against the composite ATen ops"};
  int threads = 2, repetitions = 100;
  std::string dtype_name = "fp32";
  std::vector<int64_t> lengths{24, 32, 64, 128};
  app.add_option("--threads", threads, "CPU threads")->capture_default_str();
  app.add_option("--repetitions", repetitions, "Timed calls per form and row")->capture_default_str();
  app.add_option("--dtype", dtype_name, "fp32 or bf16 (bf16 is emulated, slow, without AMX or AVX512-BF16)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  app.add_option("--lengths", lengths, "Grid lengths T, one row each")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  keep_freed_activations_in_heap();  // as the CLI does
  const at::ScalarType dtype = dtype_name == "bf16" ? at::kBFloat16 : at::kFloat;
  const int64_t B = 32, NH = 12, D = 32;
  const double p = 0.1;

  std::printf("| grid length T | dtype | ATen ops (us) | training_attention (us) | speed-up |\n|---:|---|---:|---:|---:|\n");
  for (const int64_t T : lengths) {
    const at::Tensor qkv = at::randn({3, B, NH, T, D}).to(dtype);
    const at::Tensor lengths = at::where(at::arange(B) % 4 == 0, at::full({B}, T / 2), at::full({B}, T));
    const at::Tensor mask = at::arange(T).lt(lengths.view({B, 1})).view({B, 1, 1, T});
    const at::Tensor grad = at::randn({B, NH, T, D}).to(dtype);
    auto step = [&](bool fused) {
      const at::Tensor x = qkv.detach().requires_grad_(true);
      const at::Tensor out = fused ? training_attention(x, mask, p) : composite_attention(x, mask, p);
      out.backward(grad);
    };
    for (int i = 0; i < 5; ++i) step(false), step(true);
    std::vector<double> us[2];
    for (int i = 0; i < repetitions; ++i)
      for (const bool fused : {false, true}) {
        const auto start = std::chrono::steady_clock::now();
        step(fused);
        us[fused].push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
      }
    const double aten = median(us[0]), ours = median(us[1]);
    std::printf("| %ld | %s | %.0f | %.0f | %.2fx |\n", static_cast<long>(T), dtype_name.c_str(), aten, ours, aten / ours);
  }
  return 0;
}
