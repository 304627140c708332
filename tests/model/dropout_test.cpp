// The CPU dropout: Bernoulli(1 - p) masks at the right rate, inverted scaling, reproducible for a seed whatever
// the thread count, a gradient through the same mask, and the input's dtype.
#include <ATen/ATen.h>
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
