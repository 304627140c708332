#include "model/cpu_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "model/dropout.h"

namespace adapterbias {
namespace {

void check_stacked(const at::Tensor& qkv, const char* function) {
  TORCH_CHECK(qkv.dim() == 5 && qkv.size(0) == 3 && qkv.is_contiguous(), function,
              ": qkv is (3, B, NH, T, D), contiguous");
}

// The padding mask as the scores' additive term, (B NH, 1, T): 0 where a key is real, -inf where it is padding;
// undefined without a mask.
at::Tensor additive_mask(const at::Tensor& mask, const at::Tensor& qkv) {
  if (!mask.defined()) return at::Tensor();
  const int64_t B = qkv.size(1), NH = qkv.size(2), T = qkv.size(3);
  return at::zeros({B, 1, 1, T}, qkv.options())
      .masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity())
      .expand({B, NH, 1, T})
      .reshape({B * NH, 1, T});
}

// softmax(q k^T * scale + bias) for q, k (b, T, D) and bias (b, 1, T) or undefined: one baddbmm writes the scaled
// scores plus the mask in the compute dtype, the softmax keeps its max and sum in fp32 inside ATen's kernel.
at::Tensor attention_probs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& bias, double scale) {
  const at::Tensor scores = at::baddbmm(bias.defined() ? bias : at::empty({1, 1, 1}, q.options()),  // beta 0: ignored
                                        q, k.transpose(1, 2), /*beta=*/bias.defined() ? 1.0 : 0.0, /*alpha=*/scale);
  return at::_softmax(scores, -1, /*half_to_float=*/false);
}

struct TrainingAttention : torch::autograd::Function<TrainingAttention> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& qkv,
                            const std::optional<at::Tensor>& padding_mask, double dropout_p) {
    const int64_t B = qkv.size(1), NH = qkv.size(2), T = qkv.size(3), D = qkv.size(4);
    const auto parts = qkv.view({3, B * NH, T, D}).unbind(0);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    const at::Tensor probs =
        attention_probs(parts[0], parts[1], additive_mask(padding_mask.value_or(at::Tensor()), qkv), scale);
    const at::Tensor kept = hashed_dropout(probs, dropout_p, /*train=*/true);  // its mask is freed here
    ctx->save_for_backward({qkv, probs, kept});
    ctx->saved_data["scale"] = scale;
    return at::bmm(kept, parts[2]).view({B, NH, T, D});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &qkv = saved[0], &probs = saved[1], &kept = saved[2];
    const double scale = ctx->saved_data["scale"].toDouble();
    const int64_t B = qkv.size(1), NH = qkv.size(2), T = qkv.size(3), D = qkv.size(4);
    const auto parts = qkv.view({3, B * NH, T, D}).unbind(0);
    const at::Tensor d_out = grads[0].reshape({B * NH, T, D});
    // The softmax's and the dropout's backward in one: with kept = probs * mask and G the gradient of kept,
    // d scores = G kept - probs rowsum(G kept), so the mask itself is never stored.
    at::Tensor d_scores = at::bmm(d_out, parts[2].transpose(1, 2)).mul_(kept);  // (B NH, T, T)
    d_scores.addcmul_(probs, d_scores.sum(-1, /*keepdim=*/true), /*value=*/-1);
    at::Tensor d_qkv = at::empty_like(qkv);
    auto d_parts = d_qkv.view({3, B * NH, T, D}).unbind(0);
    // beta 0: the uninitialised buffer is not read.
    at::baddbmm_out(d_parts[0], d_parts[0], d_scores, parts[1], /*beta=*/0.0, /*alpha=*/scale);
    at::baddbmm_out(d_parts[1], d_parts[1], d_scores.transpose(1, 2), parts[0], /*beta=*/0.0, /*alpha=*/scale);
    at::bmm_out(d_parts[2], kept.transpose(1, 2), d_out);
    return {d_qkv, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor inference_attention(const at::Tensor& qkv, const at::Tensor& mask) {
  check_stacked(qkv, "inference_attention");
  const int64_t B = qkv.size(1), NH = qkv.size(2), T = qkv.size(3), D = qkv.size(4);
  const auto parts = qkv.view({3, B * NH, T, D}).unbind(0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  const at::Tensor bias = additive_mask(mask, qkv);
  // Slices of (sequence, head) pairs whose scores take at most 2 MiB: within a few percent of the fastest budget
  // measured for fp32 and bf16 from 16 to 512 tokens (bench/attention_bench.py --inference), and what bounds the
  // memory.
  constexpr int64_t kScoreBytes = 2 << 20;
  const int64_t slice = std::max<int64_t>(1, kScoreBytes / (T * T * static_cast<int64_t>(qkv.element_size())));
  at::Tensor out = at::empty({B * NH, T, D}, qkv.options());
  for (int64_t first = 0; first < B * NH; first += slice) {
    const int64_t n = std::min(slice, B * NH - first);
    auto rows = [&](const at::Tensor& x) { return x.narrow(0, first, n); };
    const at::Tensor probs = attention_probs(rows(parts[0]), rows(parts[1]), bias.defined() ? rows(bias) : bias, scale);
    at::Tensor out_rows = rows(out);
    at::bmm_out(out_rows, probs, rows(parts[2]));
  }
  return out.view({B, NH, T, D});
}

at::Tensor training_attention(const at::Tensor& qkv, const at::Tensor& mask, double dropout_p) {
  check_stacked(qkv, "training_attention");
  return TrainingAttention::apply(qkv, mask.defined() ? std::optional(mask) : std::nullopt, dropout_p);
}

}  // namespace adapterbias
