#include "model/task_routing.h"

#include <ATen/ATen.h>

namespace adapterbias {

const at::Tensor* TaskStacks::find(const at::Tensor& tensor) const {
  if (!tensor.defined()) return nullptr;
  const auto it = by_tensor.find(tensor.unsafeGetTensorImpl());
  return it == by_tensor.end() ? nullptr : &it->second;
}

TaskRouting::TaskRouting(const TaskStacks* stacks, at::Tensor task_of)
    : stacks_(stacks), task_of_(std::move(task_of)) {
  TORCH_CHECK(!stacks_ || task_of_.defined(), "mixed-task routing needs each token's task");
}

at::Tensor TaskRouting::select(const at::Tensor& own) const {
  if (!stacks_) return own;
  const at::Tensor* stack = stacks_->find(own);
  if (!stack) return own;
  std::vector<int64_t> shape = task_of_.sizes().vec();
  shape.insert(shape.end(), own.sizes().begin(), own.sizes().end());
  return stack->index_select(0, task_of_.reshape(-1)).view(shape);
}

at::Tensor per_token_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  // A plain weight is one matmul; a per-token weight is a dot per token and output (one output, as L_alpha:
  // elementwise, which beats a batch of 1 x I matmuls), over the tokens' own rows.
  at::Tensor out = weight.dim() == 2    ? at::linear(x, weight)
                   : weight.size(-2) == 1 ? (x * weight.squeeze(-2)).sum(-1, /*keepdim=*/true)
                                          : at::einsum("...i,...oi->...o", {x, weight});
  return bias.defined() ? out + bias : out;
}

at::Tensor TaskRouting::linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) const {
  return per_token_linear(x, select(weight), bias.defined() ? select(bias) : bias);
}

at::Tensor TaskRouting::linear(const at::Tensor& x, torch::nn::Linear& module) const {
  const at::Tensor& bias = module->options.bias() ? module->bias : at::Tensor();
  if (!routes(module->weight) && !routes(bias)) return module->forward(x);
  return linear(x, module->weight, bias);
}

at::Tensor TaskRouting::layer_norm(const at::Tensor& x, torch::nn::LayerNorm& module) const {
  if (!routes(module->weight) && !routes(module->bias)) return module->forward(x);
  const auto& options = module->options;
  const at::Tensor normalized = at::layer_norm(x, options.normalized_shape(), {}, {}, options.eps());
  return at::addcmul(select(module->bias), normalized, select(module->weight));
}

}  // namespace adapterbias
