// gather_rows: the forward is index_select, and the backward (a gather through `inverse`) matches finite
// differences in float64 when the rows it leaves out have zero gradient, as AttentionGathers arranges.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "numeric_gradient.h"
#include "model/row_gather.h"

namespace adapterbias {
namespace {

TEST(RowGather, ForwardIsIndexSelect) {
  const at::Tensor src = at::randn({5, 3});
  const at::Tensor index = at::tensor({4, 0, 2, 2}, at::kLong);
  const at::Tensor inverse = at::tensor({1, 0, 2, 0, 0}, at::kLong);
  EXPECT_TRUE(at::equal(gather_rows(src, index, inverse), src.index_select(0, index)));
}

TEST(RowGather, BackwardMatchesFiniteDifferences) {
  // Source rows 0-3 are read once; row 4 is read twice (outputs 4 and 5), output 5's gradient being zero;
  // row 5 is read by no one, and its inverse points at output 5 too.
  at::manual_seed(2);
  const at::Tensor src = at::randn({6, 3}, at::kDouble).requires_grad_(true);
  const at::Tensor index = at::tensor({2, 0, 3, 1, 4, 4}, at::kLong);
  const at::Tensor inverse = at::tensor({1, 3, 0, 2, 4, 5}, at::kLong);
  const at::Tensor weight = at::randn({6, 3}, at::kDouble);
  weight[5].zero_();
  auto loss = [&](const at::Tensor& x) { return (gather_rows(x, index, inverse).sin() * weight).sum(); };
  loss(src).backward();
  const at::Tensor analytic = src.grad();
  const at::Tensor numeric = testing::numeric_gradient(loss, src);
  EXPECT_LT((analytic - numeric).abs().max().item<double>(), 1e-8);
  EXPECT_EQ(analytic[5].abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace adapterbias
