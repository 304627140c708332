// Device and precision: parsing --device/--precision, the autocast scope, and a bf16 encoder against fp32.
#include <string>
#include <string_view>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "core/error.h"
#include "core/log.h"
#include "model/bert.h"
#include "model/collate.h"
#include "model/compute.h"

namespace adapterbias {
namespace {

TEST(Compute, ParsesDeviceAndPrecision) {
  EXPECT_EQ(resolve_compute("cpu", "fp32").precision, Precision::fp32);
  const Compute bf16 = resolve_compute("cpu", "bf16");
  EXPECT_TRUE(bf16.bf16());
  EXPECT_TRUE(bf16.device.is_cpu());
  EXPECT_EQ(bf16.to_string(), "cpu bf16");
  EXPECT_EQ(resolve_compute("cpu", "auto").bf16(), cpu_has_fast_bf16());
  EXPECT_THROW(resolve_compute("cpu", "fp16"), InputError);
  EXPECT_THROW(resolve_compute("tpu", "fp32"), InputError);
  if (!torch::cuda::is_available()) {
    try {
      resolve_compute("cuda", "auto");
      FAIL() << "cuda accepted without CUDA";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("no CUDA"), std::string::npos) << e.what();
    }
  } else {
    EXPECT_TRUE(resolve_compute("cuda", "auto").bf16());
    EXPECT_THROW(resolve_compute("cuda:99", "auto"), InputError);
  }
}

TEST(Compute, ExplicitBf16WarnsOnlyWhereTheCpuEmulatesIt) {
  std::vector<std::string> warnings;
  const LogHandler previous = set_log_handler([&](LogKind kind, std::string_view line) {
    if (kind == LogKind::warning) warnings.emplace_back(line);
  });
  resolve_compute("cpu", "fp32");
  resolve_compute("cpu", "auto");
  EXPECT_TRUE(warnings.empty());
  EXPECT_TRUE(resolve_compute("cpu", "bf16").bf16());  // the user's choice stands, with a warning where it is slow
  set_log_handler(previous);
  ASSERT_EQ(warnings.size(), cpu_has_fast_bf16() ? 0u : 1u);
  if (!warnings.empty()) {
    EXPECT_NE(warnings[0].find("neither AMX nor AVX512-BF16"), std::string::npos) << warnings[0];
  }
}

TEST(Compute, AutocastScopeRestoresTheThreadState) {
  ASSERT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  {
    const AutocastScope scope(Compute{c10::Device(c10::kCPU), Precision::bf16});
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    EXPECT_EQ(at::matmul(at::randn({4, 4}), at::randn({4, 4})).scalar_type(), at::kBFloat16);
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  {
    const AutocastScope scope(Compute{});  // fp32: nothing changes
    EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  }
}

BertConfig small_config() {
  BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 32;
  return c;
}

TEST(Compute, Bf16EncoderStoresFrozenMatmulWeightsInBf16AndStaysCloseToFp32) {
  torch::manual_seed(5);
  BertModel fp32(small_config());
  BertModel bf16(small_config());
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : bf16->named_parameters().pairs()) p.copy_(fp32->named_parameters()[name]);
  }
  for (auto* model : {&fp32, &bf16}) {
    (*model)->eval();
    for (auto& p : (*model)->parameters()) p.set_requires_grad(false);
  }
  bf16->encoder->layers[0]->output->LayerNorm->weight.set_requires_grad(true);  // a trained tensor stays fp32
  bf16->set_compute(Compute{c10::Device(c10::kCPU), Precision::bf16});
  EXPECT_EQ(bf16->encoder->layers[0]->intermediate->dense->weight.scalar_type(), at::kBFloat16);
  EXPECT_EQ(bf16->pooler->dense->bias.scalar_type(), at::kBFloat16);
  EXPECT_EQ(bf16->embeddings->word_embeddings->weight.scalar_type(), at::kFloat);
  EXPECT_EQ(bf16->encoder->layers[0]->output->LayerNorm->weight.scalar_type(), at::kFloat);

  std::vector<Encoding> rows(3);
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t t = 0; t < 6 + 5 * b; ++t) {
      rows[b].ids.push_back((7 * t + 3 * b) % 50);
      rows[b].type_ids.push_back(t > 4 ? 1 : 0);
    }
  const EncoderInput input = collate_packed({&rows[0], &rows[1], &rows[2]});
  const EncoderOutput want = fp32->forward(input);
  const EncoderOutput got = bf16->forward(input);
  EXPECT_EQ(got.last_hidden_state.scalar_type(), at::kFloat);  // after the last LayerNorm, in fp32
  // Measured on this model: about 0.02 on LayerNorm-scaled hidden states; bf16 keeps 8 mantissa bits.
  const double hidden_diff = (want.last_hidden_state - got.last_hidden_state).abs().max().item<double>();
  EXPECT_LT(hidden_diff, 0.1);
  EXPECT_GT(hidden_diff, 0.0);  // it did compute in bf16
  EXPECT_LT((want.pooler_output - got.pooler_output.to(at::kFloat)).abs().max().item<double>(), 0.1);
}

}  // namespace
}  // namespace adapterbias
