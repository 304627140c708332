#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/dropout.h>

#include "model/bert.h"
#include "model/collate.h"
#include "model/compute.h"

namespace adapterbias {
namespace {

BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 20;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 16;
  return c;
}

TEST(Bert, ParameterNamesAreHuggingFaceCheckpointKeys) {
  BertModel model(tiny_config());
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  const std::vector<std::string> layer0 = {
      "encoder.layer.0.attention.self.query.weight",   "encoder.layer.0.attention.self.query.bias",
      "encoder.layer.0.attention.self.key.weight",     "encoder.layer.0.attention.self.key.bias",
      "encoder.layer.0.attention.self.value.weight",   "encoder.layer.0.attention.self.value.bias",
      "encoder.layer.0.attention.output.dense.weight", "encoder.layer.0.attention.output.dense.bias",
      "encoder.layer.0.attention.output.LayerNorm.weight", "encoder.layer.0.attention.output.LayerNorm.bias",
      "encoder.layer.0.intermediate.dense.weight",     "encoder.layer.0.intermediate.dense.bias",
      "encoder.layer.0.output.dense.weight",           "encoder.layer.0.output.dense.bias",
      "encoder.layer.0.output.LayerNorm.weight",       "encoder.layer.0.output.LayerNorm.bias"};
  const std::vector<std::string> embeddings = {
      "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
      "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"};
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 5), embeddings);
  EXPECT_EQ(std::vector<std::string>(names.begin() + 5, names.begin() + 21), layer0);
  EXPECT_EQ(names.back(), "pooler.dense.bias");
  EXPECT_EQ(names.size(), 5u + 2 * 16u + 2u);
}

// Adds a constant to the sublayer output, to see that the injection point is applied before the LayerNorm.
class ShiftAdapter : public OutputAdapter {
 public:
  ShiftAdapter() { shift = register_parameter("shift", at::full({8}, 0.5)); }
  at::Tensor forward(const at::Tensor& sublayer_input, const at::Tensor& out, const TaskRouting&) override {
    seen_input_size = sublayer_input.size(-1);
    return out + shift;
  }
  at::Tensor shift;
  int64_t seen_input_size = 0;
};

TEST(Bert, OutputAdapterIsAppliedAndNamedByModulePath) {
  torch::manual_seed(0);
  BertModel model(tiny_config());
  model->eval();
  EncoderInput input{at::randint(0, 20, {2, 5}), {}, {}};
  const at::Tensor before = model->forward(input).last_hidden_state;
  auto adapter = std::make_shared<ShiftAdapter>();
  model->encoder->layers[1]->output->add_adapter("shift", adapter);
  EXPECT_TRUE(model->named_parameters().contains("encoder.layer.1.output.shift.shift"));
  const at::Tensor after = model->forward(input).last_hidden_state;
  EXPECT_EQ(adapter->seen_input_size, 16);  // the FFN's intermediate activations h
  EXPECT_FALSE(at::allclose(before, after));
  // The expected result: LayerNorm of layer 1's (dense output + shift + residual), computed by hand.
  model->encoder->layers[1]->output->clear_adapters();
  EXPECT_FALSE(model->named_parameters().contains("encoder.layer.1.output.shift.shift"));
  EXPECT_TRUE(at::equal(model->forward(input).last_hidden_state, before));
}

TEST(Bert, PaddingDoesNotChangeRealTokens) {
  torch::manual_seed(1);
  BertModel model(tiny_config());
  model->eval();
  Encoding a, b;
  a.ids = {1, 5, 7, 2};
  a.type_ids = {0, 0, 1, 1};
  b.ids = {1, 9, 2};
  b.type_ids = {0, 0, 0};
  const EncoderInput batch = collate({&a, &b}, 0);
  EXPECT_EQ(batch.input_ids.sizes(), (std::vector<int64_t>{2, 4}));
  const at::Tensor padded = model->forward(batch).last_hidden_state;
  const at::Tensor alone = model->forward(collate({&b}, 0)).last_hidden_state;
  EXPECT_LT((padded[1].narrow(0, 0, 3) - alone[0]).abs().max().item<float>(), 1e-6);
}

TEST(Bert, RobertaPositionsSkipPadding) {
  BertConfig c = tiny_config();
  c.model_type = "roberta";
  c.pad_token_id = 1;
  c.type_vocab_size = 1;
  torch::manual_seed(2);
  BertModel model(c);
  model->eval();
  // Same real tokens, once left-aligned and once with a pad in front: RoBERTa positions ignore the pad.
  EncoderInput plain{at::tensor({0, 5, 6, 2}, at::kLong).view({1, 4}), {}, {}};
  const at::Tensor expected = model->embeddings->forward(plain, TaskRouting());
  EncoderInput shifted{at::tensor({1, 0, 5, 6, 2}, at::kLong).view({1, 5}), {}, {}};
  const at::Tensor got = model->embeddings->forward(shifted, TaskRouting()).narrow(1, 1, 4);
  EXPECT_TRUE(at::allclose(expected, got));
}

TEST(Bert, SetDropoutReachesEveryDropout) {
  BertModel model(tiny_config());
  model->set_dropout(0.3);
  int count = 0;
  for (const auto& m : model->modules()) {
    if (auto* d = m->as<torch::nn::Dropout>()) {
      EXPECT_DOUBLE_EQ(d->options.p(), 0.3);
      ++count;
    }
  }
  EXPECT_EQ(count, 1 + 2 * 2);
  EXPECT_DOUBLE_EQ(model->encoder->layers[0]->attention->self_attention->attention_dropout, 0.3);
}

// set_compute lays query, key and value out as one weight; a frozen forward then runs one product for the three.
// It must equal three separate products (padded and packed, hidden states and gradients), and a projection made
// trainable afterwards must take the separate path again with its own gradient.
TEST(Bert, FusedProjectionsEqualSeparateOnes) {
  torch::manual_seed(5);
  BertModel separate(tiny_config()), fused(tiny_config());
  {
    torch::NoGradGuard no_grad;
    const auto from = separate->named_parameters();
    for (auto& p : fused->named_parameters()) p.value().copy_(from[p.key()]);
  }
  for (auto* model : {&separate, &fused}) {
    (*model)->train();
    (*model)->set_dropout(0.0);
    for (auto& p : (*model)->named_parameters()) p.value().set_requires_grad(p.key().find("LayerNorm") != std::string::npos);
  }
  fused->set_compute(Compute{c10::Device(c10::kCPU), Precision::fp32});
  const auto& attention = fused->encoder->layers[0]->attention->self_attention;
  ASSERT_TRUE(attention->key->weight.is_alias_of(attention->query->weight)) << "set_compute did not fuse";

  std::vector<Encoding> rows(3);
  rows[0].ids = {0, 5, 7, 3, 2};
  rows[1].ids = {0, 2};
  rows[2].ids = {0, 9, 11, 2};
  for (auto& r : rows) r.type_ids.assign(r.ids.size(), 0);
  const std::vector<const Encoding*> batch = {&rows[0], &rows[1], &rows[2]};
  auto run = [&](BertModel& model, BatchLayout layout) {
    for (auto& p : model->parameters()) p.mutable_grad() = at::Tensor();
    const at::Tensor hidden = model->forward(collate(batch, 0, layout)).last_hidden_state;
    hidden.pow(2).sum().backward();
    std::vector<at::Tensor> out = {hidden.detach()};
    for (auto& p : model->parameters())
      if (p.requires_grad()) out.push_back(p.grad().clone());
    return out;
  };
  auto expect_equal = [&](const char* what) {
    for (const BatchLayout layout : {BatchLayout::padded, BatchLayout::packed}) {
      const auto want = run(separate, layout), got = run(fused, layout);
      ASSERT_EQ(want.size(), got.size()) << what;
      for (size_t i = 0; i < want.size(); ++i)  // fp32 rounding of sums in another order, relative to the size
        EXPECT_LT((want[i] - got[i]).abs().max().item<double>(), 1e-5 * (1 + want[i].abs().max().item<double>()))
            << what << ": tensor " << i;
    }
  };
  expect_equal("frozen projections");
  for (auto* model : {&separate, &fused}) (*model)->encoder->layers[1]->attention->self_attention->value->bias.set_requires_grad(true);
  expect_equal("a trained value bias");
}

}  // namespace
}  // namespace adapterbias
