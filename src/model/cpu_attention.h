// Attention on CPU as batched products: a training step's autograd node, and inference's forward.
#pragma once
#include <ATen/core/Tensor.h>

namespace adapterbias {

// Dropout(softmax(q k^T / sqrt(D) + mask)) v for q, k, v stacked in qkv (3, B, NH, T, D), contiguous; mask
// (B, 1, 1, T) bool, true where a key may be attended, or undefined. Returns (B, NH, T, D).
//
// The same products as the composite of ATen ops (one baddbmm that writes the scaled scores plus the mask, the
// softmax in the compute dtype with its statistics in fp32 inside ATen's kernel, hashed dropout, a bmm), with a
// backward written out: the query, key and value gradients go straight into one (3, ...) buffer, where
// autograd's unbind backward stacked three separate ones (a copy of all three per layer); the scale rides in the
// products' alpha instead of two extra passes over the gradients; the dropout mask is not kept for the backward,
// which needs only the probabilities before and after it.
at::Tensor training_attention(const at::Tensor& qkv, const at::Tensor& mask, double dropout_p);

// The same forward without gradients or dropout, over slices of the (sequence, head) pairs so that the scores
// stay within a few MiB however long the batch: faster than ATen's fused CPU kernel in bf16 at every length
// measured (16-512 tokens) and in fp32 up to 256 (docs/precision.md).
at::Tensor inference_attention(const at::Tensor& qkv, const at::Tensor& mask);

}  // namespace adapterbias
