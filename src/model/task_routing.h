// Batches whose rows belong to different tasks, on one backbone (DESIGN.md "One backbone, many tasks").
//
// A model tensor that differs between tasks (an AdapterBias v or L_alpha, a LayerNorm's gamma and beta, a BitFit
// bias, a LoRA factor, a Houlsby projection) gets a stack (K, its own shape...) holding every task's value, and
// each token takes the row of its own task. Every forward that reads such a tensor reads it through
// TaskRouting, so a single task (no stacks) runs exactly as before and K tasks run in the same pass:
//
//     v_token = stack_v[task of the token]                 // a gather, (tokens..., H)
//     alpha   = sum_i h_i * w_token,i + b_token             // a dot of size I per token
//     out     = Dropout(W2 h + b2) + alpha * v_token        // an axpy of size H per token
#pragma once
#include <memory>
#include <unordered_map>

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace adapterbias {

// Per-task values of model tensors, keyed by the tensor they replace (its TensorImpl: the same object stays in
// the module through to(device) and set_data).
struct TaskStacks {
  int64_t num_tasks = 0;
  std::unordered_map<const c10::TensorImpl*, at::Tensor> by_tensor;  // model tensor -> (K, shape...) stack

  const at::Tensor* find(const at::Tensor& tensor) const;
};

// Which task each token of a batch belongs to, handed down the forward pass.
class TaskRouting {
 public:
  TaskRouting() = default;  // one task: every tensor is its own
  // `task_of` (token dims...) int64, shaped to broadcast over the hidden states: padded (B, 1), packed (N), the
  // pooled output (B); a scalar: one task for every token.
  TaskRouting(const TaskStacks* stacks, at::Tensor task_of);

  bool mixed() const { return stacks_ != nullptr; }
  // Whether `own` has a stack, i.e. tokens may see other values than `own` itself.
  bool routes(const at::Tensor& own) const { return stacks_ && stacks_->find(own); }
  // `own` as each token sees it: `own` itself when it has no stack, else its task's row per token, shaped
  // (token dims..., own's shape) so that it broadcasts against the hidden states.
  at::Tensor select(const at::Tensor& own) const;
  // x W^T + b, W and b as each token sees them.
  at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) const;
  at::Tensor linear(const at::Tensor& x, torch::nn::Linear& module) const;
  // LayerNorm with each token's gamma and beta: normalised without affine, then scaled and shifted per token.
  at::Tensor layer_norm(const at::Tensor& x, torch::nn::LayerNorm& module) const;

 private:
  const TaskStacks* stacks_ = nullptr;
  at::Tensor task_of_;
};

// x W^T + b where W (token dims..., out, in) and b (token dims..., out) may hold a row per token, or be plain
// (out, in) and (out); b may be undefined.
at::Tensor per_token_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

}  // namespace adapterbias
