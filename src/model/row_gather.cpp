#include "model/row_gather.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace adapterbias {
namespace {

struct GatherRows : torch::autograd::Function<GatherRows> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& src, const at::Tensor& index,
                            const at::Tensor& inverse) {
    ctx->saved_data["inverse"] = inverse;
    return src.index_select(0, index);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor inverse = ctx->saved_data["inverse"].toTensor();
    return {grads[0].index_select(0, inverse), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor gather_rows(const at::Tensor& src, const at::Tensor& index, const at::Tensor& inverse) {
  TORCH_CHECK(index.dim() == 1 && inverse.dim() == 1 && inverse.size(0) == src.size(0),
              "gather_rows: index (K) and inverse (rows of src)");
  return GatherRows::apply(src, index, inverse);
}

}  // namespace adapterbias
