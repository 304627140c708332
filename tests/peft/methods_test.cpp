// The test matrix over every registered PEFT method (PEFT's TEST_CASES): the backbone's output at
// initialisation, what a training step changes, the trainable count against the optimiser's, save -> load, and
// merge where the method is mergeable. One row per method; adding a method adds a row (docs/adding-a-method.md).
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "tiny_model.h"
#include "core/error.h"
#include "model/bert.h"
#include "model/checkpoint.h"
#include "model/collate.h"
#include "model/compute.h"
#include "peft/adapter_file.h"
#include "peft/task_model.h"
#include "train/trainer.h"

namespace adapterbias {
namespace {

using namespace adapterbias::testing;

constexpr int64_t kBottleneck = 4, kRank = 2;
// Merging reorders fp32 sums (W x + s B (A x) becomes (W + s B A) x): a few ulps of O(1) activations.
constexpr double kMergeTolerance = 1e-5;

std::string layer(int64_t l) { return "encoder.layer." + std::to_string(l) + "."; }

// Each method's trainable set (without the head), written out from its definition, not read from its code.
std::set<std::string> all_backbone_names(bool biases_only) {
  std::set<std::string> names;
  for (const auto& p : BertModel(tiny_config())->named_parameters())
    if (!biases_only || p.key().ends_with(".bias")) names.insert(p.key());
  return names;
}

std::set<std::string> output_layer_norms() {
  std::set<std::string> names = {"embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"};
  for (int64_t l = 0; l < kL; ++l) names.insert({layer(l) + "output.LayerNorm.weight", layer(l) + "output.LayerNorm.bias"});
  return names;
}

struct MethodCase {
  std::string id;
  std::string method;
  nlohmann::json options;
  std::function<std::set<std::string>()> expected;  // the method's own tensors
  bool mergeable;
};

std::vector<MethodCase> method_cases() {
  return {
      {"adapterbias", "adapterbias", nlohmann::json::object(),
       [] {
         auto names = output_layer_norms();
         for (int64_t l = 0; l < kL; ++l)
           for (const char* t : {"v", "alpha.weight", "alpha.bias"}) names.insert(layer(l) + "output.adapter_bias." + t);
         return names;
       },
       true},
      // init_log_alpha 0: gates half open (eval z = 0.5), so the sampled gates give every log_alpha a gradient.
      {"adapterbias_l0", "adapterbias-l0", {{"l0", 0.5}, {"init_log_alpha", 0.0}},
       [] {
         auto names = output_layer_norms();
         for (int64_t l = 0; l < kL; ++l)
           for (const char* t : {"v", "alpha.weight", "alpha.bias", "v_log_alpha", "alpha_weight_log_alpha"})
             names.insert(layer(l) + "output.adapter_bias." + t);
         return names;
       },
       true},
      {"adapterbias_shared", "adapterbias-shared", nlohmann::json::object(),
       [] {
         auto names = output_layer_norms();
         for (int64_t l = 0; l < kL; ++l) names.insert(layer(l) + "output.adapter_bias.v");
         names.insert({"encoder.adapter_bias.alpha.weight", "encoder.adapter_bias.alpha.bias"});
         return names;
       },
       true},
      {"bitfit", "bitfit", nlohmann::json::object(), [] { return all_backbone_names(true); }, false},
      {"houlsby", "houlsby", {{"bottleneck", kBottleneck}},
       [] {
         auto names = output_layer_norms();
         for (int64_t l = 0; l < kL; ++l) {
           names.insert({layer(l) + "attention.output.LayerNorm.weight", layer(l) + "attention.output.LayerNorm.bias"});
           for (const char* where : {"attention.output.", "output."})
             for (const char* t : {"down.weight", "down.bias", "up.weight", "up.bias"})
               names.insert(layer(l) + where + "houlsby." + t);
         }
         return names;
       },
       false},
      {"lora", "lora", {{"r", kRank}, {"alpha", 4}},
       [] {
         std::set<std::string> names;
         for (int64_t l = 0; l < kL; ++l)
           for (const char* target : {"query", "value"})
             for (const char* t : {"lora_A.weight", "lora_B.weight"})
               names.insert(layer(l) + "attention.self." + target + "." + t);
         return names;
       },
       true},
      {"full", "full", nlohmann::json::object(), [] { return all_backbone_names(false); }, false},
      {"head", "head", nlohmann::json::object(), [] { return std::set<std::string>{}; }, false},
  };
}

TaskModel make_task_model(const MethodCase& c) {
  BertModel backbone = tiny_backbone();
  torch::manual_seed(5);
  return TaskModel(backbone, make_peft_method(c.method, c.options), kLabels, 0.0);
}

void randomise_trainable(TaskModel& model) {
  torch::NoGradGuard no_grad;
  for (auto& t : model.trainable()) t.tensor.add_(at::randn_like(t.tensor) * 0.3);
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

class Methods : public ::testing::TestWithParam<MethodCase> {};

TEST_P(Methods, RegisteredWithItsOptions) {
  const auto method = make_peft_method(GetParam().method, GetParam().options);
  // The registry name is the method's name, except the shared AdapterBias variant (an option of adapterbias).
  EXPECT_EQ(method->name(), GetParam().method == "adapterbias-shared" ? "adapterbias" : GetParam().method);
  // Options round-trip through the adapter file's JSON.
  EXPECT_EQ(make_peft_method(method->name(), method->options())->options(), method->options());
  EXPECT_EQ(method->mergeable(), GetParam().mergeable);
  EXPECT_THROW(make_peft_method(GetParam().method, {{"no_such_option", 1}}), InputError);
}

TEST_P(Methods, BackboneOutputAtInitialisation) {
  const EncoderInput input = tiny_batch();
  torch::NoGradGuard no_grad;
  const EncoderOutput plain = tiny_backbone()->forward(input);
  TaskModel model = make_task_model(GetParam());
  model.eval();
  const EncoderOutput injected = model.backbone->forward(input);
  EXPECT_TRUE(at::equal(plain.last_hidden_state, injected.last_hidden_state));
  EXPECT_TRUE(at::equal(plain.pooler_output, injected.pooler_output));
}

TEST_P(Methods, TrainableTensorsAreTheDeclaredModulePaths) {
  TaskModel model = make_task_model(GetParam());
  std::set<std::string> expected = GetParam().expected();
  expected.insert({"classifier.weight", "classifier.bias"});
  std::set<std::string> names;
  for (const auto& t : model.trainable()) EXPECT_TRUE(names.insert(t.name).second) << t.name << " listed twice";
  EXPECT_EQ(names, expected);
  // Each name is the tensor's module path: saved adapters and the Python references name tensors the same way.
  const auto params = model.backbone->named_parameters();
  for (const auto& t : model.trainable()) {
    if (t.name.starts_with("classifier.")) continue;
    const at::Tensor* p = params.find(t.name);
    ASSERT_TRUE(p) << t.name << " is not a parameter path of the backbone";
    EXPECT_TRUE(p->is_same(t.tensor)) << t.name;
  }
}

TEST_P(Methods, TrainingStepChangesOnlyTrainableTensors) {
  TaskModel model = make_task_model(GetParam());
  std::set<std::string> trainable_names;
  for (const auto& t : model.trainable()) trainable_names.insert(t.name);
  const auto before = snapshot(model);

  // The trainer's optimiser; its parameter count is the model's trainable count.
  auto optimizer = make_adamw(model, 1e-2, 0.01);
  int64_t in_optimizer = 0;
  for (const auto& group : optimizer->param_groups())
    for (const auto& p : group.params()) in_optimizer += p.numel();
  EXPECT_EQ(in_optimizer, model.num_trainable());
  std::printf("  %-20s trainable %ld of backbone %ld\n", GetParam().id.c_str(), static_cast<long>(model.num_trainable()),
              static_cast<long>(model.num_backbone_parameters()));

  model.train();
  for (int step = 0; step < 2; ++step) {  // two: B = 0 / up = 0 give A / down no gradient on the first step
    optimizer->zero_grad();
    at::cross_entropy_loss(model.forward(tiny_batch()), at::tensor({1, 2}, at::kLong)).backward();
    optimizer->step();
  }
  const size_t changed = expect_only_trainable_changed(model, before, trainable_names);
  EXPECT_EQ(changed, trainable_names.size());
}

TEST_P(Methods, SaveLoadGivesIdenticalLogits) {
  TaskModel model = make_task_model(GetParam());
  randomise_trainable(model);
  model.eval();
  const EncoderInput input = tiny_batch();
  at::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model.forward(input);
  }
  // A fresh copy of the same backbone, as `load_pretrained` would give it.
  Pretrained pretrained = tiny_pretrained();
  const AdapterInfo info = test_adapter_info(model, pretrained);
  const auto path = std::filesystem::temp_directory_path() / ("ab_methods_" + GetParam().id + ".safetensors");
  save_adapter(path, model, info);
  const AdapterFile adapter = read_adapter(path);
  std::filesystem::remove(path);
  // The method's saved tensors (adapterbias-l0 drops its gates' log_alpha) and the head's.
  EXPECT_EQ(adapter.tensors.size(), model.method->saved(model.backbone).tensors.size() + 2);
  if (model.method->saved(model.backbone).name == model.method->name()) {
    EXPECT_EQ(adapter.tensors.size(), model.trainable().size());
  }
  TaskModel loaded = load_task_model(pretrained, adapter, path);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(loaded.forward(input), logits));
}

TEST_P(Methods, MergeKeepsTheLogits) {
  TaskModel model = make_task_model(GetParam());
  if (!GetParam().mergeable) {
    EXPECT_THROW(model.method->merge(model.backbone), InputError);
    return;
  }
  randomise_trainable(model);
  model.eval();
  const EncoderInput input = tiny_batch();
  torch::NoGradGuard no_grad;
  const at::Tensor unmerged = model.forward(input);
  const at::Tensor plain = tiny_backbone()->forward(input).pooler_output;
  model.method->merge(model.backbone);
  for (const auto& p : model.backbone->named_parameters())
    EXPECT_TRUE(all_backbone_names(false).contains(p.key())) << p.key() << " left after merge";
  const at::Tensor merged = model.forward(input);
  const double diff = max_diff(merged, unmerged);
  std::printf("  %-20s merge: max logits diff %.2e\n", GetParam().id.c_str(), diff);
  EXPECT_LE(diff, kMergeTolerance);
  // The method did change the output, so merging it away would have been caught.
  EXPECT_GT(max_diff(model.backbone->forward(input).pooler_output, plain), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(All, Methods, ::testing::ValuesIn(method_cases()),
                         [](const auto& info) { return info.param.id; });

// tiny_batch()'s two rows (6 and 3 real tokens) as encodings, for the packed layout.
std::vector<Encoding> tiny_rows() {
  const EncoderInput in = tiny_batch();
  std::vector<Encoding> rows(2);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < in.attention_mask[b].sum().item<int64_t>(); ++t) {
      rows[b].ids.push_back(in.input_ids[b][t].item<int64_t>());
      rows[b].type_ids.push_back(in.token_type_ids[b][t].item<int64_t>());
    }
  return rows;
}

TEST_P(Methods, PackedBatchGivesThePaddedLogitsAndGradients) {
  TaskModel model = make_task_model(GetParam());
  randomise_trainable(model);
  model.train();  // dropout is 0: training mode, so the L0 gates are sampled as in a training step
  const auto rows = tiny_rows();
  auto run = [&](const EncoderInput& input) {
    for (auto& t : model.trainable()) t.tensor.mutable_grad() = at::Tensor();
    torch::manual_seed(9);  // the same gate samples for both layouts
    const at::Tensor logits = model.forward(input);
    at::cross_entropy_loss(logits, at::tensor({1, 2}, at::kLong)).backward();
    std::vector<at::Tensor> grads{logits.detach()};
    for (auto& t : model.trainable()) grads.push_back(t.tensor.grad().defined() ? t.tensor.grad().clone() : at::zeros_like(t.tensor));
    return grads;
  };
  const auto padded = run(tiny_batch());
  const auto packed = run(collate_packed({&rows[0], &rows[1]}));
  ASSERT_EQ(padded.size(), packed.size());
  EXPECT_LT(max_diff(padded[0], packed[0]), 1e-5) << "logits";
  const auto trainable = model.trainable();
  for (size_t i = 1; i < padded.size(); ++i) EXPECT_LT(max_diff(padded[i], packed[i]), 1e-5) << trainable[i - 1].name;
}

TEST_P(Methods, Bf16KeepsTrainedTensorsAndOptimiserStateFp32) {
  TaskModel reference = make_task_model(GetParam());
  TaskModel model = make_task_model(GetParam());
  randomise_trainable(reference);
  {
    torch::NoGradGuard no_grad;
    const auto from = reference.trainable();
    const auto to = model.trainable();
    for (size_t i = 0; i < from.size(); ++i) to[i].tensor.copy_(from[i].tensor);
  }
  model.set_compute(Compute{c10::Device(c10::kCPU), Precision::bf16});
  std::set<const void*> trained;
  for (const auto& t : model.trainable()) {
    EXPECT_EQ(t.tensor.scalar_type(), at::kFloat) << t.name;
    trained.insert(t.tensor.unsafeGetTensorImpl());
  }
  for (const auto& p : model.backbone->named_parameters())
    if (!trained.contains(p.value().unsafeGetTensorImpl()) && p.key().ends_with("dense.weight"))
      EXPECT_EQ(p.value().scalar_type(), at::kBFloat16) << p.key() << " is frozen: stored in bf16";

  model.eval();
  reference.eval();
  const auto rows = tiny_rows();
  const EncoderInput input = collate_packed({&rows[0], &rows[1]});
  torch::NoGradGuard no_grad;
  const at::Tensor want = reference.forward(input);
  const at::Tensor got = model.forward(input);
  EXPECT_EQ(got.scalar_type(), at::kFloat);
  EXPECT_LT(max_diff(want, got), 0.1);  // bf16 matmuls on O(1) activations: a few 1e-2 at most here

  // One optimiser step: AdamW's moments are fp32 like the tensors they follow.
  torch::AutoGradMode grad_mode(true);
  model.train();
  auto optimizer = make_adamw(model, 1e-3, 0.01);
  at::cross_entropy_loss(model.forward(input), at::tensor({1, 2}, at::kLong)).backward();
  optimizer->step();
  for (const auto& [key, state] : optimizer->state()) {
    const auto& adam = static_cast<const torch::optim::AdamWParamState&>(*state);
    EXPECT_EQ(adam.exp_avg().scalar_type(), at::kFloat);
    EXPECT_EQ(adam.exp_avg_sq().scalar_type(), at::kFloat);
  }
}

TEST(MethodsRegistry, EveryRegisteredMethodIsInTheMatrix) {
  std::set<std::string> in_matrix;
  for (const auto& c : method_cases()) in_matrix.insert(c.method);
  for (const auto& name : peft_method_names()) EXPECT_TRUE(in_matrix.contains(name)) << name << " has no test row";
}

TEST(MethodsOptions, ShapesFollowTheOptions) {
  TaskModel houlsby(tiny_backbone(), make_peft_method("houlsby", {{"bottleneck", 3}}), kLabels);
  for (const auto& t : houlsby.trainable())
    if (t.name.ends_with("houlsby.down.weight")) {
      EXPECT_EQ(t.tensor.sizes(), (at::IntArrayRef{3, kH})) << t.name;
    }
  TaskModel lora(tiny_backbone(), make_peft_method("lora", {{"r", 5}}), kLabels);
  for (const auto& t : lora.trainable())
    if (t.name.ends_with("lora_A.weight")) {
      EXPECT_EQ(t.tensor.sizes(), (at::IntArrayRef{5, kH})) << t.name;
    }
  EXPECT_THROW(make_peft_method("lora", {{"r", 0}}), InputError);
  EXPECT_THROW(make_peft_method("houlsby", {{"bottleneck", "64"}}), InputError);
  EXPECT_THROW(make_peft_method("bitfit", {{"r", 8}}), InputError);
}

}  // namespace
}  // namespace adapterbias
