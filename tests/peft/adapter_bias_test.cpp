// AdapterBias: float64 finite-difference gradients (the shift alone and end to end through a tiny BertModel +
// TaskModel), identity at initialisation, what a training step may change, trainable counts, and merge.
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include "tiny_model.h"
#include "model/bert.h"
#include "peft/adapter_bias.h"
#include "peft/task_model.h"

namespace adapterbias {
namespace {

using namespace adapterbias::testing;

// Central differences in float64: truncation O(eps^2) ~ 1e-12 and round-off ~ 1e-16 / eps ~ 1e-10 on an O(1)
// loss, so 1e-7 relative to the gradient's scale is far above both and far below any real error.
constexpr double kFdEps = 1e-6;
constexpr double kFdRelTol = 1e-7;

// Checks autograd's gradient of `loss_fn` w.r.t. `x` against central differences at up to `samples` elements
// (all when the tensor is small). `x` must be a float64 leaf; its values are restored.
void expect_fd_gradient(const std::string& what, at::Tensor x, const at::Tensor& grad,
                        const std::function<double()>& loss_fn, int64_t samples = 24) {
  ASSERT_TRUE(grad.defined()) << what << ": no gradient";
  ASSERT_EQ(x.scalar_type(), at::kDouble);
  const int64_t n = x.numel();
  const double scale = std::max(grad.abs().max().item<double>(), 1e-3);
  std::vector<int64_t> idx;
  if (n <= samples) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (int64_t k = 0; k < samples; ++k) idx.push_back((k * 7919) % n);
  }
  double worst = 0.0;
  at::Tensor flat = x.detach().view({-1});  // shares storage with x
  const at::Tensor flat_grad = grad.reshape({-1});
  for (const int64_t i : idx) {
    const double orig = flat[i].item<double>();
    double plus, minus;
    {
      torch::NoGradGuard no_grad;
      flat[i].fill_(orig + kFdEps);
      plus = loss_fn();
      flat[i].fill_(orig - kFdEps);
      minus = loss_fn();
      flat[i].fill_(orig);
    }
    const double fd = (plus - minus) / (2 * kFdEps);
    worst = std::max(worst, std::abs(fd - flat_grad[i].item<double>()) / scale);
  }
  std::printf("  fd %-48s worst |fd - autograd| / max|grad| = %.2e\n", what.c_str(), worst);
  EXPECT_LE(worst, kFdRelTol) << what << ": finite differences vs autograd, relative to max |grad| " << scale;
}

TEST(AdapterBiasGrad, ShiftFiniteDifferencesFloat64) {
  torch::manual_seed(3);
  AdapterBiasShift shift(kH, kI, torch::nn::Linear(nullptr));
  shift.to(at::kDouble);
  {
    torch::NoGradGuard no_grad;
    shift.v.normal_();  // nonzero, so that L_alpha's gradients are nonzero too
  }
  at::Tensor h = at::randn({2, 5, kI}, at::kDouble).requires_grad_();
  const at::Tensor ffn_out = at::randn({2, 5, kH}, at::kDouble);
  const at::Tensor weights = at::randn({2, 5, kH}, at::kDouble);
  // A nonlinear loss so that the gradients depend on the point.
  auto loss_of = [&] { return (at::tanh(shift.forward(h, ffn_out, TaskRouting())) * weights).sum(); };
  const at::Tensor loss = loss_of();
  loss.backward();
  auto value = [&] { return loss_of().item<double>(); };
  expect_fd_gradient("v", shift.v, shift.v.grad(), value);
  expect_fd_gradient("alpha.weight", shift.alpha->weight, shift.alpha->weight.grad(), value);
  expect_fd_gradient("alpha.bias", shift.alpha->bias, shift.alpha->bias.grad(), value);
  expect_fd_gradient("h", h, h.grad(), value, 40);
  // The parameter names a saved adapter uses.
  std::set<std::string> names;
  for (const auto& p : shift.named_parameters()) names.insert(p.key());
  EXPECT_EQ(names, (std::set<std::string>{"v", "alpha.weight", "alpha.bias"}));
}

TaskModel make_task_model(bool share_alpha, uint64_t seed = 5) {
  torch::manual_seed(seed);
  BertModel backbone(tiny_config());
  backbone->set_dropout(0.0);
  return TaskModel(backbone, make_peft_method("adapterbias", {{"share_alpha", share_alpha}}), kLabels, 0.0);
}

void randomise_trainable(TaskModel& model) {
  torch::NoGradGuard no_grad;
  for (auto& t : model.trainable()) t.tensor.add_(at::randn_like(t.tensor) * 0.3);
}

class AdapterBiasModel : public ::testing::TestWithParam<bool> {};

TEST_P(AdapterBiasModel, EndToEndFiniteDifferencesFloat64) {
  TaskModel model = make_task_model(GetParam());
  model.backbone->to(at::kDouble);
  model.classifier->to(at::kDouble);
  randomise_trainable(model);  // v != 0 and LayerNorms away from identity
  model.eval();                // deterministic (dropout is 0 anyway)
  const EncoderInput input = tiny_batch();
  const at::Tensor labels = at::tensor({2, 0}, at::kLong);
  auto loss_of = [&] { return at::cross_entropy_loss(model.forward(input), labels); };
  const at::Tensor loss = loss_of();
  EXPECT_EQ(loss.scalar_type(), at::kDouble);
  loss.backward();
  auto value = [&] { return loss_of().item<double>(); };
  const auto trainable = model.trainable();
  for (const auto& t : trainable) {
    EXPECT_TRUE(t.tensor.requires_grad()) << t.name;
    expect_fd_gradient(t.name, t.tensor, t.tensor.grad(), value, 12);
  }
}

TEST_P(AdapterBiasModel, IdentityAtInitialisation) {
  torch::manual_seed(11);
  BertModel backbone(tiny_config());
  backbone->eval();
  const EncoderInput input = tiny_batch();
  const EncoderOutput plain = backbone->forward(input);
  TaskModel model(backbone, make_peft_method("adapterbias", {{"share_alpha", GetParam()}}), kLabels);
  model.eval();
  for (auto& layer : model.backbone->encoder->layers) {
    const auto shift = AdapterBias::shift_of(layer);
    ASSERT_TRUE(shift);
    EXPECT_TRUE(at::equal(shift->v, at::zeros({kH})));
  }
  const EncoderOutput injected = model.backbone->forward(input);
  EXPECT_TRUE(at::equal(plain.last_hidden_state, injected.last_hidden_state));
  EXPECT_TRUE(at::equal(plain.pooler_output, injected.pooler_output));
}

TEST_P(AdapterBiasModel, TrainingStepChangesOnlyTrainableTensors) {
  TaskModel model = make_task_model(GetParam());
  const auto trainable = model.trainable();
  std::set<std::string> trainable_names;
  for (const auto& t : trainable) trainable_names.insert(t.name);
  // Exactly the method's tensors, the embeddings and output LayerNorms, and the head.
  std::set<std::string> expected = {"embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias", "classifier.weight",
                                    "classifier.bias"};
  for (int64_t l = 0; l < kL; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".output.";
    expected.insert({p + "adapter_bias.v", p + "LayerNorm.weight", p + "LayerNorm.bias"});
    if (!GetParam()) expected.insert({p + "adapter_bias.alpha.weight", p + "adapter_bias.alpha.bias"});
  }
  if (GetParam()) expected.insert({"encoder.adapter_bias.alpha.weight", "encoder.adapter_bias.alpha.bias"});
  EXPECT_EQ(trainable_names, expected);

  const auto before = snapshot(model);
  std::vector<at::Tensor> everything = model.backbone->parameters();
  for (const auto& p : model.classifier->parameters()) everything.push_back(p);
  // Every tensor goes to the optimizer, with weight decay: a frozen tensor stays unchanged only because it
  // gets no gradient.
  torch::optim::AdamW optimizer(everything, torch::optim::AdamWOptions(1e-2).weight_decay(0.01));
  model.train();
  for (int step = 0; step < 2; ++step) {
    optimizer.zero_grad();
    at::cross_entropy_loss(model.forward(tiny_batch()), at::tensor({1, 2}, at::kLong)).backward();
    optimizer.step();
  }
  const size_t changed = expect_only_trainable_changed(model, before, trainable_names);
  EXPECT_EQ(changed, expected.size());
}

TEST_P(AdapterBiasModel, TrainableCountMatchesFormula) {
  const bool shared = GetParam();
  TaskModel model = make_task_model(shared);
  int64_t sum = 0;
  for (const auto& t : model.trainable()) sum += t.tensor.numel();
  EXPECT_EQ(model.num_trainable(), sum);
  const int64_t head = kH * kLabels + kLabels;
  const int64_t expected = shared ? kL * kH + kI + 1 + 2 * kH * (kL + 1) + head
                                  : kL * (kH + kI + 1) + 2 * kH * (kL + 1) + head;
  EXPECT_EQ(model.num_trainable(), expected);
  // The backbone count is the plain backbone's, without the injected tensors.
  int64_t backbone = 0;
  for (const auto& p : BertModel(tiny_config())->parameters()) backbone += p.numel();
  EXPECT_EQ(model.num_backbone_parameters(), backbone);
}

TEST_P(AdapterBiasModel, MergeKeepsTheOutput) {
  TaskModel model = make_task_model(GetParam());
  randomise_trainable(model);
  model.eval();
  const EncoderInput input = tiny_batch();
  torch::NoGradGuard no_grad;
  const EncoderOutput unmerged = model.backbone->forward(input);
  const at::Tensor logits = model.forward(input);
  model.method->merge(model.backbone);
  for (const auto& p : model.backbone->named_parameters())
    EXPECT_EQ(p.key().find("adapter_bias"), std::string::npos) << p.key() << " left after merge";
  for (auto& layer : model.backbone->encoder->layers) EXPECT_FALSE(AdapterBias::shift_of(layer));
  const EncoderOutput merged = model.backbone->forward(input);
  const at::Tensor real = input.attention_mask.to(at::kBool);
  const double hidden_diff =
      (merged.last_hidden_state.index({real}) - unmerged.last_hidden_state.index({real})).abs().max().item<double>();
  const double pooled_diff = (merged.pooler_output - unmerged.pooler_output).abs().max().item<double>();
  const double logits_diff = (model.forward(input) - logits).abs().max().item<double>();
  std::printf("  merge: max diff hidden %.2e, pooled %.2e, logits %.2e\n", hidden_diff, pooled_diff, logits_diff);
  EXPECT_LE(hidden_diff, 1e-5);
  EXPECT_LE(pooled_diff, 1e-5);
  EXPECT_LE(logits_diff, 1e-5);
  // The shift was not negligible: merging it away would have been caught.
  EXPECT_GT((unmerged.last_hidden_state - make_task_model(GetParam()).backbone->forward(input).last_hidden_state)
                .abs().max().item<double>(), 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Sharing, AdapterBiasModel, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "shared" : "plain"; });

}  // namespace
}  // namespace adapterbias
