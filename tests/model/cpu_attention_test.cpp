// training_attention: forward and gradients equal the composite of ATen ops under autograd (fp32, with and
// without a padding mask and dropout), and its backward matches finite differences in float64.
// inference_attention: equals the composite ops, in one slice and in several.
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "numeric_gradient.h"
#include "model/dropout.h"
#include "model/cpu_attention.h"

namespace adapterbias {
namespace {

constexpr int64_t kB = 2, kNH = 3, kT = 5, kD = 4;

at::Tensor padding_mask() {  // (B, 1, 1, T): row 0 has 5 real tokens, row 1 has 3
  return at::arange(kT).lt(at::tensor({5, 3}).view({kB, 1})).view({kB, 1, 1, kT});
}

// The same computation as separate ATen ops, differentiated by autograd.
at::Tensor composite_attention(const at::Tensor& qkv, const at::Tensor& mask, double dropout_p) {
  const auto parts = qkv.unbind(0);  // (B, NH, T, D) each
  at::Tensor scores = at::matmul(parts[0], parts[1].transpose(-1, -2)) / std::sqrt(static_cast<double>(kD));
  if (mask.defined()) scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
  at::Tensor probs = at::softmax(scores, -1);
  probs = hashed_dropout(probs, dropout_p, /*train=*/true);  // x * mask under autograd
  return at::matmul(probs, parts[2]);
}

struct Case {
  bool masked;
  double dropout_p;
};

class TrainingAttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(TrainingAttentionTest, EqualsTheCompositeOpsForwardAndBackward) {
  const Case c = GetParam();
  at::manual_seed(7);
  const at::Tensor qkv = at::randn({3, kB, kNH, kT, kD});
  const at::Tensor mask = c.masked ? padding_mask() : at::Tensor();
  const at::Tensor weight = at::randn({kB, kNH, kT, kD});
  at::Tensor grads[2], outs[2];
  for (int impl = 0; impl < 2; ++impl) {
    at::manual_seed(11);  // the same dropout mask for both
    const at::Tensor x = qkv.clone().requires_grad_(true);
    outs[impl] = impl == 0 ? training_attention(x, mask, c.dropout_p) : composite_attention(x, mask, c.dropout_p);
    (outs[impl] * weight).sum().backward();
    grads[impl] = x.grad();
  }
  EXPECT_LT((outs[0] - outs[1]).abs().max().item<double>(), 1e-5);
  EXPECT_LT((grads[0] - grads[1]).abs().max().item<double>(), 1e-5);
  if (c.masked) {  // a padding key gets no gradient
    EXPECT_EQ(grads[0].select(0, 1).select(0, 1).narrow(1, 3, 2).abs().sum().item<double>(), 0.0);
  }
}

TEST_P(TrainingAttentionTest, BackwardMatchesFiniteDifferences) {
  const Case c = GetParam();
  at::manual_seed(3);
  const at::Tensor qkv = at::randn({3, kB, kNH, kT, kD}, at::kDouble).requires_grad_(true);
  const at::Tensor mask = c.masked ? padding_mask() : at::Tensor();
  const at::Tensor weight = at::randn({kB, kNH, kT, kD}, at::kDouble);
  auto loss = [&](const at::Tensor& x) {
    at::manual_seed(5);  // every evaluation draws the same dropout mask
    return (training_attention(x, mask, c.dropout_p).sin() * weight).sum();
  };
  loss(qkv).backward();
  const at::Tensor analytic = qkv.grad();
  const at::Tensor numeric = testing::numeric_gradient(loss, qkv);
  EXPECT_LT((analytic - numeric).abs().max().item<double>(), 1e-7);
}

INSTANTIATE_TEST_SUITE_P(MaskAndDropout, TrainingAttentionTest,
                         ::testing::Values(Case{false, 0.0}, Case{true, 0.0}, Case{false, 0.3}, Case{true, 0.3}),
                         [](const auto& info) {
                           return std::string(info.param.masked ? "Masked" : "Unmasked") +
                                  (info.param.dropout_p > 0 ? "Dropout" : "NoDropout");
                         });

TEST(TrainingAttention, Bf16StaysCloseToFp32) {
  at::manual_seed(9);
  const at::Tensor qkv = at::randn({3, kB, kNH, kT, kD});
  const at::Tensor weight = at::randn({kB, kNH, kT, kD});
  at::Tensor grads[2], outs[2];
  for (int i = 0; i < 2; ++i) {
    const at::Tensor x = (i == 0 ? qkv.clone() : qkv.to(at::kBFloat16)).requires_grad_(true);
    outs[i] = training_attention(x, padding_mask(), 0.0).to(at::kFloat);
    (outs[i] * weight).sum().backward();
    grads[i] = x.grad().to(at::kFloat);
  }
  EXPECT_LT((outs[0] - outs[1]).abs().max().item<double>(), 0.05);
  EXPECT_LT((grads[0] - grads[1]).abs().max().item<double>(), 0.05);
}

TEST(TrainingAttention, RefusesAnUnstackedInput) {
  EXPECT_THROW(training_attention(at::randn({kB, kNH, kT, kD}), at::Tensor(), 0.0), c10::Error);
  EXPECT_THROW(training_attention(at::randn({3, kB, kNH, kD, kT}).transpose(3, 4), at::Tensor(), 0.0), c10::Error);
}

TEST(InferenceAttention, EqualsTheCompositeOps) {
  at::manual_seed(13);
  const at::Tensor qkv = at::randn({3, kB, kNH, kT, kD});
  for (const at::Tensor& mask : {padding_mask(), at::Tensor()}) {
    const at::Tensor out = inference_attention(qkv, mask);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{kB, kNH, kT, kD}));
    EXPECT_LT((out - composite_attention(qkv, mask, 0.0)).abs().max().item<double>(), 1e-6);
  }
}

TEST(InferenceAttention, SlicesOfTheBatchEqualOnePass) {
  // 256 fp64 keys: 512 KiB of scores per (sequence, head) pair, so a 2 MiB slice holds 4 of the 6 pairs and the
  // second slice is partial.
  constexpr int64_t T = 256;
  at::manual_seed(17);
  const at::Tensor qkv = at::randn({3, kB, kNH, T, kD}, at::kDouble);
  const at::Tensor mask = at::arange(T).lt(at::tensor({T, int64_t{100}}).view({kB, 1})).view({kB, 1, 1, T});
  const auto parts = qkv.unbind(0);
  const at::Tensor expected = at::scaled_dot_product_attention(parts[0], parts[1], parts[2], mask);
  EXPECT_LT((inference_attention(qkv, mask) - expected).abs().max().item<double>(), 1e-12);
}

TEST(InferenceAttention, RefusesAnUnstackedInput) {
  EXPECT_THROW(inference_attention(at::randn({kB, kNH, kT, kD}), at::Tensor()), c10::Error);
}

}  // namespace
}  // namespace adapterbias
