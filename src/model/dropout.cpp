#include "model/dropout.h"

#include <cmath>
#include <mutex>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

namespace adapterbias {
namespace {

uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t draw_seed() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get<at::CPUGeneratorImpl>()->random64();
}

template <typename T>
void fill_mask(T* mask, int64_t n, uint64_t seed, uint32_t threshold, float scale) {
  const T keep(scale), drop(0.0f);
  // Four 16-bit draws per hash; chunks of 4 elements so every element's draw depends on its index alone.
  at::parallel_for(0, (n + 3) / 4, 2048, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      const uint64_t bits = splitmix64(seed ^ (static_cast<uint64_t>(chunk) * 0xd1b54a32d192ed03ULL));
      for (int64_t j = 0; j < 4; ++j) {
        const int64_t i = 4 * chunk + j;
        if (i >= n) break;
        mask[i] = ((bits >> (16 * j)) & 0xffff) >= threshold ? keep : drop;
      }
    }
  });
}

}  // namespace

at::Tensor hashed_dropout(const at::Tensor& x, double p, bool train) {
  if (!train || p <= 0.0) return x;
  if (!x.is_cpu() || p >= 1.0) return at::dropout(x, p, train);
  const auto threshold = static_cast<uint32_t>(std::lround(p * 65536.0));
  const float scale = static_cast<float>(65536.0 / (65536.0 - threshold));  // 1 / P(keep), exactly
  at::Tensor mask = at::empty(x.sizes(), x.options().requires_grad(false));
  const uint64_t seed = draw_seed();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "dropout_mask", [&] {
    fill_mask(mask.data_ptr<scalar_t>(), mask.numel(), seed, threshold, scale);
  });
  return x * mask;
}

}  // namespace adapterbias
