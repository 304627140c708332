// The packed batch layout against the padded one: the same hidden states on every real token and the same pooled
// output, for BERT and RoBERTa positions, and a layout built on the host that matches the rows.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "core/error.h"
#include "model/bert.h"
#include "model/collate.h"
#include "model/pooling.h"

namespace adapterbias {
namespace {

BertConfig tiny_config(bool roberta) {
  BertConfig c;
  c.vocab_size = 20;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 16;
  if (roberta) {
    c.model_type = "roberta";
    c.pad_token_id = 1;
    c.max_position_embeddings = 20;
  }
  return c;
}

// Four rows of lengths 5, 2, 7 and 1, two of them text pairs.
std::vector<Encoding> mixed_rows() {
  std::vector<Encoding> rows(4);
  rows[0].ids = {0, 5, 7, 3, 2};
  rows[0].type_ids = {0, 0, 0, 1, 1};
  rows[1].ids = {0, 2};
  rows[1].type_ids = {0, 0};
  rows[2].ids = {0, 9, 11, 12, 2, 14, 2};
  rows[2].type_ids = {0, 0, 0, 0, 0, 1, 1};
  rows[3].ids = {0};
  rows[3].type_ids = {0};
  return rows;
}

std::vector<const Encoding*> pointers(const std::vector<Encoding>& rows) {
  std::vector<const Encoding*> out;
  for (const auto& r : rows) out.push_back(&r);
  return out;
}

void clear_gradients(BertModel& model) {
  for (auto& p : model->parameters()) p.mutable_grad() = at::Tensor();
}

// Every parameter's gradient, zeros where it has none.
std::vector<at::Tensor> gradients(BertModel& model) {
  std::vector<at::Tensor> out;
  for (auto& p : model->parameters()) out.push_back(p.grad().defined() ? p.grad().clone() : at::zeros_like(p));
  return out;
}

TEST(Packed, LayoutIsBuiltFromLengths) {
  const auto rows = mixed_rows();
  const EncoderInput in = collate_packed(pointers(rows));
  ASSERT_TRUE(in.is_packed());
  EXPECT_EQ(in.input_ids.sizes(), (std::vector<int64_t>{15}));
  EXPECT_TRUE(at::equal(in.packed.cu_seqlens, at::tensor({0, 5, 7, 14, 15}, at::kInt)));
  EXPECT_TRUE(at::equal(in.packed.first_token, at::tensor({0, 5, 7, 14}, at::kLong)));
  EXPECT_EQ(in.packed.max_length, 7);
  EXPECT_TRUE(at::equal(in.packed.position_ids.narrow(0, 5, 3), at::tensor({0, 1, 0}, at::kLong)));
  EXPECT_EQ(in.packed.grid_index[6].item<int64_t>(), 1 * 7 + 1);  // row 1, token 1
  EXPECT_EQ(in.packed.grid_mask.sum().item<int64_t>(), 15);
  EXPECT_TRUE(at::equal(in.token_type_ids.narrow(0, 0, 5), at::tensor({0, 0, 0, 1, 1}, at::kLong)));
}

TEST(Packed, CollateKnowsWhetherThereIsPadding) {
  const auto rows = mixed_rows();
  EXPECT_TRUE(collate(pointers(rows), 0).has_padding);
  EXPECT_FALSE(collate({&rows[0], &rows[0]}, 0).has_padding);
}

class PackedModel : public ::testing::TestWithParam<bool> {  // param: RoBERTa positions
 protected:
  // A tiny model in training mode without dropout, so that two forms of one batch give comparable gradients.
  BertModel training_model(uint64_t seed) const {
    torch::manual_seed(seed);
    BertModel model(tiny_config(GetParam()));
    model->train();
    model->set_dropout(0.0);
    return model;
  }
};

TEST_P(PackedModel, EqualsPaddedOnRealTokens) {
  torch::manual_seed(3);
  BertModel model(tiny_config(GetParam()));
  model->eval();
  const auto rows = mixed_rows();
  const EncoderOutput padded = model->forward(collate(pointers(rows), model->config().pad_token_id));
  const EncoderOutput packed = model->forward(collate_packed(pointers(rows)));
  ASSERT_EQ(packed.last_hidden_state.sizes(), (std::vector<int64_t>{15, 8}));
  int64_t row = 0;
  for (size_t b = 0; b < rows.size(); ++b) {
    const auto T = static_cast<int64_t>(rows[b].ids.size());
    const at::Tensor want = padded.last_hidden_state[b].narrow(0, 0, T);
    const at::Tensor got = packed.last_hidden_state.narrow(0, row, T);
    EXPECT_LT((want - got).abs().max().item<double>(), 1e-5) << "row " << b;
    row += T;
  }
  EXPECT_LT((padded.pooler_output - packed.pooler_output).abs().max().item<double>(), 1e-5);
}

TEST_P(PackedModel, PoolingsEqualPaddedAndTheirDefinitions) {
  BertModel model = training_model(5);
  const auto rows = mixed_rows();
  const EncoderInput padded_in = collate(pointers(rows), model->config().pad_token_id);
  const EncoderInput packed_in = collate_packed(pointers(rows));
  const EncoderOutput padded = model->forward(padded_in);
  const EncoderOutput packed = model->forward(packed_in);
  for (const Pooling how : {Pooling::cls, Pooling::mean, Pooling::pooler}) {
    const at::Tensor a = pool(how, padded_in, padded), b = pool(how, packed_in, packed);
    ASSERT_EQ(a.sizes(), (std::vector<int64_t>{4, 8})) << pooling_name(how);
    EXPECT_LT((a - b).abs().max().item<double>(), 1e-5) << pooling_name(how);
    // Gradients reach the encoder through either form alike.
    auto grads_of = [&](const EncoderInput& input) {
      clear_gradients(model);
      pool(how, input, model->forward(input)).pow(2).sum().backward();
      return model->embeddings->word_embeddings->weight.grad().clone();
    };
    EXPECT_LT((grads_of(padded_in) - grads_of(packed_in)).abs().max().item<double>(), 1e-5) << pooling_name(how);
  }
  int64_t row = 0;
  for (size_t b = 0; b < rows.size(); ++b) {
    const auto T = static_cast<int64_t>(rows[b].ids.size());
    const at::Tensor tokens = packed.last_hidden_state.narrow(0, row, T);
    EXPECT_LT((pool(Pooling::mean, packed_in, packed)[b] - tokens.mean(0)).abs().max().item<double>(), 1e-6);
    EXPECT_LT((pool(Pooling::cls, packed_in, packed)[b] - tokens[0]).abs().max().item<double>(), 0.0 + 1e-12);
    row += T;
  }
  EXPECT_EQ(parse_pooling("mean"), Pooling::mean);
  EXPECT_THROW(parse_pooling("max"), InputError);
}

TEST_P(PackedModel, EqualLengthsNeedNoGrid) {
  torch::manual_seed(3);
  BertModel model(tiny_config(GetParam()));
  model->eval();
  const auto rows = mixed_rows();
  const std::vector<const Encoding*> same = {&rows[2], &rows[2], &rows[2]};
  const EncoderOutput padded = model->forward(collate(same, model->config().pad_token_id));
  const EncoderOutput packed = model->forward(collate_packed(same));
  EXPECT_LT((padded.last_hidden_state.reshape({21, 8}) - packed.last_hidden_state).abs().max().item<double>(), 1e-5);
}

TEST_P(PackedModel, GradientsEqualPadded) {
  BertModel model = training_model(4);
  const auto rows = mixed_rows();
  auto grads_of = [&](const EncoderInput& input) {
    clear_gradients(model);
    model->forward(input).pooler_output.pow(2).sum().backward();
    return gradients(model);
  };
  const auto padded = grads_of(collate(pointers(rows), model->config().pad_token_id));
  const auto packed = grads_of(collate_packed(pointers(rows)));
  ASSERT_EQ(padded.size(), packed.size());
  for (size_t i = 0; i < padded.size(); ++i)
    EXPECT_LT((padded[i] - packed[i]).abs().max().item<double>(), 1e-5) << "parameter " << i;
}

// Filler rows and a wider attention grid (what the CPU bf16 forward runs, for oneDNN's and the softmax's sake)
// change nothing on the real rows, forward or backward, in fp32 to 1e-5.
TEST_P(PackedModel, FillerRowsAndAWiderGridChangeNothing) {
  BertModel model = training_model(5);
  const auto rows = mixed_rows();
  const EncoderInput plain = collate_packed(pointers(rows));
  const EncoderInput widened = widen_packed(plain, /*filler_rows=*/5, /*grid_length=*/12);
  ASSERT_EQ(widened.input_ids.size(0), 20);
  ASSERT_EQ(widened.packed.grid_mask.sizes(), (std::vector<int64_t>{4, 1, 1, 12}));
  EXPECT_EQ(widened.packed.grid_mask.sum().item<int64_t>(), 15);
  EXPECT_EQ(widened.packed.grid_index[6].item<int64_t>(), 1 * 12 + 1);  // row 1, token 1
  struct Result {
    at::Tensor hidden, pooled;
    std::vector<at::Tensor> grads;
  };
  auto run = [&](const EncoderInput& input) {
    clear_gradients(model);
    const EncoderOutput out = model->forward(input);
    const at::Tensor real = out.last_hidden_state.narrow(0, 0, 15);
    (out.pooler_output.pow(2).sum() + real.sin().sum()).backward();
    return Result{real.detach(), out.pooler_output.detach(), gradients(model)};
  };
  const Result want = run(plain), got = run(widened);
  EXPECT_LT((want.hidden - got.hidden).abs().max().item<double>(), 1e-5);
  EXPECT_LT((want.pooled - got.pooled).abs().max().item<double>(), 1e-5);
  ASSERT_EQ(want.grads.size(), got.grads.size());
  for (size_t i = 0; i < want.grads.size(); ++i)
    EXPECT_LT((want.grads[i] - got.grads[i]).abs().max().item<double>(), 1e-5) << "parameter " << i;
}

// LastLayer::first_tokens: the first tokens' states, the pooler and every gradient as from every token, padded,
// packed and on a widened grid with filler rows (fp32, 1e-5).
TEST_P(PackedModel, FirstTokensEqualEveryToken) {
  BertModel model = training_model(6);
  const auto rows = mixed_rows();
  const EncoderInput packed = collate_packed(pointers(rows));
  for (const EncoderInput& input : {collate(pointers(rows), model->config().pad_token_id), packed,
                                    widen_packed(packed, /*filler_rows=*/3, /*grid_length=*/9)}) {
    auto run = [&](LastLayer last_layer) {
      clear_gradients(model);
      const EncoderOutput out = model->forward(input, last_layer);
      (out.pooler_output.pow(2).sum() + out.first_tokens.sin().sum()).backward();
      std::vector<at::Tensor> r = {out.first_tokens.detach(), out.pooler_output.detach()};
      for (const at::Tensor& g : gradients(model)) r.push_back(g);
      return r;
    };
    const auto every = run(LastLayer::every_token), first = run(LastLayer::first_tokens);
    ASSERT_EQ(every.size(), first.size());
    for (size_t i = 0; i < every.size(); ++i)
      EXPECT_LT((every[i] - first[i]).abs().max().item<double>(), 1e-5) << (i < 2 ? "output " : "parameter ") << i;
  }
}

INSTANTIATE_TEST_SUITE_P(BertAndRoberta, PackedModel, ::testing::Bool());

// On a CUDA machine (bench/gpu.sh): packed fp32 on the grid path equals the CPU; packed bf16 through varlen flash
// attention stays within bf16 tolerance of padded bf16 (SDPA) and of fp32.
TEST(PackedCuda, MatchesCpuAndPadded) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(6);
  BertConfig c = tiny_config(false);
  c.hidden_size = 64;  // flash attention wants head sizes that are multiples of 8
  c.num_attention_heads = 2;
  c.intermediate_size = 128;
  BertModel cpu(c), gpu(c), gpu_bf16(c);
  {
    torch::NoGradGuard no_grad;
    for (auto* m : {&gpu, &gpu_bf16})
      for (auto& [name, p] : (*m)->named_parameters().pairs()) p.copy_(cpu->named_parameters()[name]);
  }
  for (auto* m : {&cpu, &gpu, &gpu_bf16}) {
    (*m)->eval();
    for (auto& p : (*m)->parameters()) p.set_requires_grad(false);
  }
  gpu->set_compute(Compute{c10::Device("cuda:0"), Precision::fp32});
  gpu_bf16->set_compute(Compute{c10::Device("cuda:0"), Precision::bf16});
  const auto rows = mixed_rows();
  const EncoderInput packed = collate_packed(pointers(rows));
  const EncoderInput padded = collate(pointers(rows), c.pad_token_id);
  torch::NoGradGuard no_grad;
  const at::Tensor want = cpu->forward(packed).last_hidden_state;
  const at::Tensor fp32 = gpu->forward(packed.to(c10::Device("cuda:0"))).last_hidden_state.cpu();
  EXPECT_LT((want - fp32).abs().max().item<double>(), 1e-4);
  const at::Tensor bf16 = gpu_bf16->forward(packed.to(c10::Device("cuda:0"))).last_hidden_state.cpu();
  EXPECT_LT((want - bf16).abs().max().item<double>(), 0.1);
  const at::Tensor bf16_padded = gpu_bf16->forward(padded.to(c10::Device("cuda:0"))).last_hidden_state.cpu();
  int64_t row = 0;
  for (size_t b = 0; b < rows.size(); ++b) {
    const auto T = static_cast<int64_t>(rows[b].ids.size());
    EXPECT_LT((bf16_padded[b].narrow(0, 0, T) - bf16.narrow(0, row, T)).abs().max().item<double>(), 0.1) << "row " << b;
    row += T;
  }
}

}  // namespace
}  // namespace adapterbias
