// adapterbias-l0 (docs/l0.md): fully open gates reproduce AdapterBias exactly, the saved adapter's non-zero
// count matches its tensors and it loads back as "adapterbias", the penalty's gradient reaches log_alpha (positive,
// lambda-scaled), training with a large lambda closes gates (z exactly 0 at eval), the file stores the gated
// tensors sparse, and the gates get their own learning rate.
#include <cmath>
#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include "tiny_model.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "model/bert.h"
#include "model/checkpoint.h"
#include "peft/adapter_bias.h"
#include "peft/adapter_bias_l0.h"
#include "peft/adapter_file.h"
#include "peft/task_model.h"
#include "train/trainer.h"

namespace adapterbias {
namespace {

using namespace adapterbias::testing;

TaskModel l0_model(double lambda, double init_log_alpha = 3.0) {
  torch::manual_seed(5);
  return TaskModel(tiny_backbone(), make_peft_method("adapterbias-l0", {{"l0", lambda}, {"init_log_alpha", init_log_alpha}}),
                   kLabels, 0.0);
}

// Copies every tensor of `from` (by name) into `to` where `to` has it.
void copy_by_name(const TaskModel& from, const TaskModel& to) {
  torch::NoGradGuard no_grad;
  std::map<std::string, at::Tensor> src;
  for (const auto& t : from.trainable()) src[t.name] = t.tensor;
  for (const auto& t : to.trainable())
    if (src.count(t.name)) t.tensor.copy_(src.at(t.name));
}

void randomise(TaskModel& model) {
  torch::NoGradGuard no_grad;
  for (auto& t : model.trainable())
    if (!t.name.ends_with("log_alpha")) t.tensor.add_(at::randn_like(t.tensor) * 0.3);
}

TEST(AdapterBiasL0, GateConstantsAndRange) {
  const at::Tensor la = at::tensor({-20.0, -2.5, 0.0, 2.5, 20.0});
  const at::Tensor z = l0::gate(la, false);
  EXPECT_EQ(z[0].item<double>(), 0.0);
  EXPECT_EQ(z[1].item<double>(), 0.0);   // sigmoid(-2.5) * 1.2 - 0.1 < 0
  EXPECT_NEAR(z[2].item<double>(), 0.5, 1e-7);
  EXPECT_EQ(z[3].item<double>(), 1.0);   // sigmoid(2.5) * 1.2 - 0.1 > 1
  EXPECT_EQ(z[4].item<double>(), 1.0);
  torch::manual_seed(0);
  const at::Tensor sampled = l0::gate(at::zeros({1000}), true);
  EXPECT_GE(sampled.min().item<double>(), 0.0);
  EXPECT_LE(sampled.max().item<double>(), 1.0);
  EXPECT_GT((sampled == 0).sum().item<int64_t>(), 0);  // the stretch makes exact 0 and 1 reachable
  EXPECT_GT((sampled == 1).sum().item<int64_t>(), 0);
}

// (1) Gates fully open (log_alpha large, eval) give exactly AdapterBias's output on the same tensors.
TEST(AdapterBiasL0, OpenGatesReproduceAdapterBiasExactly) {
  TaskModel gated = l0_model(1.0, 50.0);
  randomise(gated);
  torch::manual_seed(5);
  TaskModel plain(tiny_backbone(), make_peft_method("adapterbias", {}), kLabels, 0.0);
  copy_by_name(gated, plain);
  gated.eval();
  plain.eval();
  torch::NoGradGuard no_grad;
  const EncoderInput input = tiny_batch();
  const at::Tensor a = gated.forward(input), b = plain.forward(input);
  EXPECT_TRUE(at::equal(a, b)) << (a - b).abs().max().item<double>();
  EXPECT_GT((gated.forward(input) - TaskModel(tiny_backbone(), make_peft_method("head", {}), kLabels, 0.0).forward(input))
                .abs().max().item<double>(), 0.0);
}

// (2) The saved adapter: plain "adapterbias", no log_alpha, gated-off elements exactly 0, the non-zero count in
// its metadata matching its tensors; it loads back with identical eval logits.
TEST(AdapterBiasL0, SavedAdapterIsSparseAdapterBias) {
  TaskModel model = l0_model(1.0);
  randomise(model);
  {
    torch::NoGradGuard no_grad;
    for (auto& t : model.trainable())  // close about half the gates (eval z = 0 below log_alpha = -2.4)
      if (t.name.ends_with("log_alpha")) t.tensor.copy_(at::where(at::rand_like(t.tensor) < 0.5, -5.0, 5.0));
  }
  model.eval();
  const EncoderInput input = tiny_batch();
  at::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model.forward(input);
  }
  Pretrained pretrained = tiny_pretrained();
  const AdapterInfo info = test_adapter_info(model, pretrained);
  const auto path = std::filesystem::temp_directory_path() / "ab_l0_saved.safetensors";
  save_adapter(path, model, info);
  const SafetensorsFile file = SafetensorsFile::open(path);
  const auto meta = nlohmann::json::parse(file.metadata().at("adapterbias"));
  const AdapterFile adapter = read_adapter(path);
  // The file holds the gated tensors as their non-zeros only (indices + values; shapes under "sparse_tensors").
  int64_t stored_values = 0;
  for (const auto& name : file.names()) {
    EXPECT_FALSE(name.ends_with("adapter_bias.v") || name.ends_with("adapter_bias.alpha.weight")) << name;
    if (name.ends_with(".nonzero_values")) stored_values += file.get(name).numel();
  }
  EXPECT_EQ(meta.at("sparse_tensors").size(), static_cast<size_t>(2 * kL));
  EXPECT_EQ(meta.at("sparse_tensors").at("encoder.layer.0.output.adapter_bias.alpha.weight"), (nlohmann::json{1, kI}));

  // A sparse pair that does not fit its shape is a FormatError naming the file and the tensor.
  NamedTensors corrupt;
  for (const auto& name : file.names()) {
    at::Tensor t = file.get(name).clone();
    if (name == "encoder.layer.1.output.adapter_bias.v.nonzero_indices" && t.numel() > 0) t[0] = kH;
    corrupt.emplace_back(name, t);
  }
  const auto corrupt_path = std::filesystem::temp_directory_path() / "ab_l0_corrupt.safetensors";
  save_safetensors(corrupt_path, corrupt, file.metadata());
  try {
    read_adapter(corrupt_path);
    ADD_FAILURE() << "an out-of-range sparse index was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("ab_l0_corrupt.safetensors"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("encoder.layer.1.output.adapter_bias.v"), std::string::npos) << e.what();
  }
  std::filesystem::remove(corrupt_path);
  std::filesystem::remove(path);

  EXPECT_EQ(adapter.info.method, "adapterbias");
  EXPECT_EQ(adapter.info.method_options, (nlohmann::json{{"share_alpha", false}}));
  const auto& notes = meta.at("method_notes");
  EXPECT_EQ(notes.at("trained_as"), "adapterbias-l0");
  int64_t gated = 0, nonzero_gated = 0, nonzero = 0;
  for (const auto& [name, t] : adapter.tensors) {
    EXPECT_FALSE(name.ends_with("log_alpha")) << name;
    if (name.starts_with("classifier.")) continue;
    const int64_t nz = at::count_nonzero(t).item<int64_t>();
    nonzero += nz;
    if (name.ends_with("adapter_bias.v") || name.ends_with("adapter_bias.alpha.weight")) {
      gated += t.numel();
      nonzero_gated += nz;
    }
  }
  EXPECT_EQ(gated, kL * (kH + kI));
  EXPECT_EQ(notes.at("gated_parameters").get<int64_t>(), gated);
  EXPECT_EQ(notes.at("nonzero_gated_parameters").get<int64_t>(), nonzero_gated);
  EXPECT_EQ(stored_values, nonzero_gated);
  EXPECT_EQ(notes.at("nonzero_parameters").get<int64_t>(), nonzero);
  EXPECT_GT(nonzero_gated, 0);
  EXPECT_LT(nonzero_gated, gated);
  std::printf("  saved: %ld of %ld gated elements non-zero\n", static_cast<long>(nonzero_gated), static_cast<long>(gated));

  TaskModel loaded = load_task_model(pretrained, adapter, path);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(loaded.forward(input), logits));
}

// (3) The penalty: lambda times the mean P(z != 0); its gradient reaches every log_alpha, positive and
// proportional to lambda.
TEST(AdapterBiasL0, PenaltyGradientReachesLogAlpha) {
  for (const double lambda : {0.5, 2.0}) {
    TaskModel model = l0_model(lambda);
    const at::Tensor reg = model.method->regularization(model.backbone);
    ASSERT_TRUE(reg.defined());
    const double p_open = 1.0 / (1.0 + std::exp(-(3.0 - l0::kBeta * std::log(-l0::kGamma / l0::kZeta))));
    EXPECT_NEAR(reg.item<double>(), lambda * p_open, 1e-6);
    reg.backward();
    const int64_t n = kL * (kH + kI);
    const double expected = lambda / n * p_open * (1.0 - p_open);
    for (const auto& t : model.trainable()) {
      if (!t.name.ends_with("log_alpha")) continue;
      EXPECT_FALSE(t.weight_decay) << t.name;
      ASSERT_TRUE(t.tensor.grad().defined()) << t.name;
      EXPECT_GT(t.tensor.grad().min().item<double>(), 0.0) << t.name;
      EXPECT_NEAR(t.tensor.grad().max().item<double>(), expected, 1e-4 * expected) << t.name;  // float32
    }
  }
  TaskModel off = l0_model(0.0);
  EXPECT_FALSE(off.method->regularization(off.backbone).defined());
}

// (4) A few training steps with a large lambda close gates: some eval z exactly 0, and the output of the
// model changes accordingly.
TEST(AdapterBiasL0, LargeLambdaClosesGates) {
  TaskModel model = l0_model(100.0);
  randomise(model);
  std::vector<at::Tensor> params;
  for (const auto& t : model.trainable()) params.push_back(t.tensor);
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(0.5));
  model.train();
  for (int step = 0; step < 15; ++step) {
    optimizer.zero_grad();
    at::Tensor loss = at::cross_entropy_loss(model.forward(tiny_batch()), at::tensor({1, 2}, at::kLong));
    loss = loss + model.method->regularization(model.backbone);
    loss.backward();
    optimizer.step();
  }
  int64_t closed = 0, total = 0;
  for (auto& layer : model.backbone->encoder->layers) {
    const auto shift = AdapterBiasL0::shift_of(layer);
    for (const at::Tensor& la : {shift->v_log_alpha, shift->alpha_weight_log_alpha}) {
      const at::Tensor z = l0::gate(la.detach(), false);
      closed += (z == 0).sum().item<int64_t>();
      total += z.numel();
    }
    EXPECT_EQ(at::count_nonzero(shift->eval_v()).item<int64_t>(),
              at::count_nonzero(l0::gate(shift->v_log_alpha.detach(), false) * shift->v.detach()).item<int64_t>());
  }
  std::printf("  closed %ld of %ld gates\n", static_cast<long>(closed), static_cast<long>(total));
  EXPECT_GT(closed, 0);
}

// (5) The gates train at gate_lr_scale times the run's learning rate, without weight decay; the rest as
// AdapterBias.
TEST(AdapterBiasL0, GatesTrainAtTheirOwnLearningRate) {
  torch::manual_seed(5);
  TaskModel model(tiny_backbone(), make_peft_method("adapterbias-l0", {{"gate_lr_scale", 25.0}}), kLabels, 0.0);
  const auto optimizer = make_adamw(model, 1e-3, 0.01);
  std::map<const void*, std::pair<double, double>> lr_and_decay;
  for (auto& group : optimizer->param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    for (const auto& p : group.params()) lr_and_decay[p.unsafeGetTensorImpl()] = {options.lr(), options.weight_decay()};
  }
  int64_t gates = 0;
  for (const auto& t : model.trainable()) {
    const auto [lr, decay] = lr_and_decay.at(t.tensor.unsafeGetTensorImpl());
    const bool gate = t.name.ends_with("log_alpha");
    gates += gate;
    EXPECT_DOUBLE_EQ(lr, gate ? 25e-3 : 1e-3) << t.name;
    EXPECT_DOUBLE_EQ(decay, t.weight_decay ? 0.01 : 0.0) << t.name;
  }
  EXPECT_EQ(gates, 2 * kL);
}

}  // namespace
}  // namespace adapterbias
