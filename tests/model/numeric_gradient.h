// Central differences in float64, for checking hand-written backwards against autograd's gradient.
#pragma once
#include <functional>

#include <ATen/ATen.h>

namespace adapterbias::testing {

// d loss / d x at every element of x (float64), by central differences of step eps; loss returns a scalar tensor.
inline at::Tensor numeric_gradient(const std::function<at::Tensor(const at::Tensor&)>& loss, const at::Tensor& x,
                                   double eps = 1e-6) {
  at::NoGradGuard no_grad;
  at::Tensor numeric = at::zeros_like(x);
  for (int64_t i = 0; i < x.numel(); ++i) {
    at::Tensor plus = x.detach().clone(), minus = x.detach().clone();
    plus.view({-1})[i] += eps;
    minus.view({-1})[i] -= eps;
    numeric.view({-1})[i] = (loss(plus) - loss(minus)).item<double>() / (2 * eps);
  }
  return numeric;
}

}  // namespace adapterbias::testing
