// The CPU dropout: Bernoulli(1 - p) masks at the right rate, inverted scaling, reproducible for a seed whatever
// the thread count, a gradient through the same mask, and the input's dtype.
#include <cstdint>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "model/dropout.h"

namespace adapterbias {
namespace {

TEST(Dropout, IdentityInEvalOrAtZero) {
  const at::Tensor x = at::randn({5, 7});
  EXPECT_TRUE(hashed_dropout(x, 0.1, false).is_same(x));
  EXPECT_TRUE(hashed_dropout(x, 0.0, true).is_same(x));
}

TEST(Dropout, KeepsOneMinusPAndScalesTheKeptValues) {
  const at::Tensor x = at::ones({1000, 1000});
  at::manual_seed(1);
  const at::Tensor y = hashed_dropout(x, 0.1, true);
  const double kept = y.ne(0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.9, 0.002);
  const double scale = 65536.0 / (65536.0 - 6554.0);  // p = 0.1 resolved to 6554 / 65536
  EXPECT_TRUE(at::allclose(y.masked_select(y.ne(0)), at::full({1}, scale)));
  EXPECT_NEAR(y.mean().item<double>(), 1.0, 0.003);  // the expectation is unchanged
}

TEST(Dropout, SameSeedSameMaskWhateverTheThreads) {
  const at::Tensor x = at::ones({300, 257});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  at::manual_seed(7);
  const at::Tensor one = hashed_dropout(x, 0.3, true);
  at::set_num_threads(2);
  at::manual_seed(7);
  const at::Tensor two = hashed_dropout(x, 0.3, true);
  const at::Tensor next = hashed_dropout(x, 0.3, true);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(one, two));
  EXPECT_FALSE(at::equal(two, next));  // each call draws a new seed
}

TEST(Dropout, MaskIsTheDocumentedHashOfSeedAndIndex) {
  // Element i is kept when 16-bit lane i % 4 of splitmix64(seed ^ (i / 4) * K) reaches p * 65536, the seed being
  // the default generator's next random64(): checked element by element on sizes whose tails are not whole chunks
  // of 4, with threads splitting the chunks, in fp32, bf16 and fp64.
  auto splitmix64 = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  const uint32_t threshold = 19661;  // p = 0.3
  for (const int64_t n : {1, 7, 4099, 20001})
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kDouble}) {
      at::manual_seed(n);
      const uint64_t seed = at::detail::getDefaultCPUGenerator().get<at::CPUGeneratorImpl>()->random64();
      at::manual_seed(n);
      const at::Tensor kept = hashed_dropout(at::ones({n}, dtype), 0.3, true).ne(0);
      const auto k = kept.accessor<bool, 1>();
      int64_t mismatches = 0;
      for (int64_t i = 0; i < n; ++i) {
        const uint64_t bits = splitmix64(seed ^ (static_cast<uint64_t>(i / 4) * 0xd1b54a32d192ed03ULL));
        mismatches += k[i] != (((bits >> (16 * (i % 4))) & 0xffff) >= threshold);
      }
      EXPECT_EQ(mismatches, 0) << "n " << n << " dtype " << dtype;
    }
}

TEST(Dropout, GradientFlowsThroughTheSameMask) {
  const at::Tensor x = at::randn({64, 33}).requires_grad_(true);
  const at::Tensor y = hashed_dropout(x, 0.5, true);
  y.sum().backward();
  EXPECT_TRUE(at::allclose(x.grad() * x, y));
}

TEST(Dropout, KeepsTheDtype) {
  EXPECT_EQ(hashed_dropout(at::randn({8, 8}).to(at::kBFloat16), 0.1, true).scalar_type(), at::kBFloat16);
  EXPECT_EQ(hashed_dropout(at::randn({8, 8}, at::kDouble), 0.1, true).scalar_type(), at::kDouble);
}

}  // namespace
}  // namespace adapterbias
