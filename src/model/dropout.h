// Inverted dropout whose CPU masks come from a counter-based hash instead of ATen's Bernoulli sampler, which
// spends a third of a CPU training step drawing masks (38% of a MiniLM bf16 step at B 32, T 128; docs/precision.md).
#pragma once
#include <ATen/core/Tensor.h>

namespace adapterbias {

// x * mask / (1 - p), mask ~ Bernoulli(1 - p) per element; identity when !train or p == 0. On CPU the mask is a
// splitmix64 hash of (seed, element index) with p resolved to 1/65536, the seed drawn from ATen's default
// generator: the same seed gives the same masks, whatever the thread count. Elsewhere at::dropout.
at::Tensor hashed_dropout(const at::Tensor& x, double p, bool train);

}  // namespace adapterbias
