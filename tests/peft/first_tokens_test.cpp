// LastLayer::first_tokens against every_token on task models: the logits and every trained tensor's gradient are
// the same (fp32, 1e-5; bf16 within its tolerance), for every registered method, with heads on the pooler and
// on [CLS], in both batch layouts. (Model level, RoBERTa positions and a widened grid: tests/model/packed_test.cpp;
// rows of several tasks: tests/peft/multi_task_model_test.cpp.)
#include <ostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "tiny_model.h"
#include "model/collate.h"
#include "model/pooling.h"
#include "peft/method.h"

namespace adapterbias::testing {
namespace {

// Rows of lengths 1 to 7, the longest in the middle, two of them pairs.
std::vector<Encoding> rows() {
  std::vector<Encoding> out(4);
  out[0].ids = {2, 5, 7, 3, 9};
  out[0].type_ids = {0, 0, 0, 1, 1};
  out[1].ids = {2, 8};
  out[2].ids = {2, 9, 11, 12, 4, 14, 6};
  out[2].type_ids = {0, 0, 0, 0, 0, 1, 1};
  out[3].ids = {2};
  for (auto& row : out) row.type_ids.resize(row.ids.size(), 0);
  return out;
}

EncoderInput batch(BatchLayout layout) {
  static const std::vector<Encoding> held = rows();
  std::vector<const Encoding*> pointers;
  for (const auto& row : held) pointers.push_back(&row);
  return collate(pointers, 0, layout);
}

struct Case {
  std::string method;
  Pooling pooling;
  BatchLayout layout;
};

std::string describe(const Case& c) {
  return c.method + "_" + pooling_name(c.pooling) + (c.layout == BatchLayout::packed ? "_packed" : "_padded");
}

// What GoogleTest prints for a failing case's parameter (else the struct's bytes).
void PrintTo(const Case& c, std::ostream* os) { *os << describe(c); }

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = describe(info.param);
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const auto& method : peft_method_names())
    for (const Pooling pooling : {Pooling::pooler, Pooling::cls})
      for (const BatchLayout layout : {BatchLayout::padded, BatchLayout::packed}) out.push_back({method, pooling, layout});
  return out;
}

// A task model of the case's method whose trained tensors all moved away from their initialisation.
TaskModel task_model(const Case& c) {
  torch::manual_seed(5);
  TaskModel model(tiny_backbone(), make_peft_method(c.method), kLabels, 0.0, c.pooling);
  torch::NoGradGuard no_grad;
  for (const auto& t : model.trainable()) t.tensor.add_(at::randn_like(t.tensor) * 0.3);
  return model;
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

class FirstTokens : public ::testing::TestWithParam<Case> {};

TEST_P(FirstTokens, SameLogits) {
  TaskModel model = task_model(GetParam());
  model.eval();
  torch::NoGradGuard no_grad;
  const EncoderInput input = batch(GetParam().layout);
  const at::Tensor every = model.forward(input, LastLayer::every_token);
  const at::Tensor first = model.forward(input, LastLayer::first_tokens);
  ASSERT_EQ(first.sizes(), (std::vector<int64_t>{4, kLabels}));
  EXPECT_LT(max_diff(every, first), 1e-5);
  // The backbone computes no other token of the last layer.
  const EncoderOutput out = model.backbone->forward(input, LastLayer::first_tokens);
  EXPECT_FALSE(out.last_hidden_state.defined());
  EXPECT_EQ(out.first_tokens.sizes(), (std::vector<int64_t>{4, kH}));
  EXPECT_THROW(pool(Pooling::mean, input, out), c10::Error);
}

TEST_P(FirstTokens, SameGradients) {
  TaskModel model = task_model(GetParam());
  model.train();  // dropout is 0: what differs between the runs is only what the last layer computes
  const EncoderInput input = batch(GetParam().layout);
  const at::Tensor labels = at::tensor({1, 2, 0, 2}, at::kLong);
  auto gradients = [&](LastLayer last_layer) {
    for (const auto& t : model.trainable()) t.tensor.mutable_grad() = at::Tensor();
    torch::manual_seed(9);  // adapterbias-l0 samples its gates
    at::cross_entropy_loss(model.forward(input, last_layer), labels).backward();
    std::vector<at::Tensor> out;
    for (const auto& t : model.trainable()) out.push_back(t.tensor.grad().defined() ? t.tensor.grad().clone() : at::Tensor());
    return out;
  };
  const auto every = gradients(LastLayer::every_token), first = gradients(LastLayer::first_tokens);
  const auto trainable = model.trainable();
  for (size_t i = 0; i < trainable.size(); ++i) {
    ASSERT_EQ(every[i].defined(), first[i].defined()) << trainable[i].name;
    if (every[i].defined()) {
      EXPECT_LT(max_diff(every[i], first[i]), 1e-5) << trainable[i].name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, FirstTokens, ::testing::ValuesIn(cases()), case_name);

TEST(FirstTokensBf16, WithinBf16OfEveryToken) {
  TaskModel model = task_model({"adapterbias", Pooling::pooler, BatchLayout::packed});
  model.set_compute(Compute{c10::Device(c10::kCPU), Precision::bf16});
  model.eval();
  torch::NoGradGuard no_grad;
  for (const BatchLayout layout : {BatchLayout::padded, BatchLayout::packed}) {
    const EncoderInput input = batch(layout);
    EXPECT_LT(max_diff(model.forward(input, LastLayer::every_token), model.forward(input, LastLayer::first_tokens)), 0.05);
  }
}

TEST(FirstTokensMean, MeanPoolingComputesEveryToken) {
  TaskModel model = task_model({"adapterbias", Pooling::mean, BatchLayout::packed});
  model.eval();
  torch::NoGradGuard no_grad;
  const EncoderInput input = batch(BatchLayout::packed);
  EXPECT_TRUE(at::equal(model.forward(input, LastLayer::every_token), model.forward(input, LastLayer::first_tokens)));
}

}  // namespace
}  // namespace adapterbias::testing
