// L0-sparsified AdapterBias ("adapterbias-l0"; design: docs/l0.md): AdapterBias with a hard-concrete gate
// (Louizos, Welling, Kingma 2018) on each element of every layer's v and L_alpha weight:
//
//     alpha = (w * z_w) . h + b             // gated L_alpha, one scalar per token
//     out   = Dropout(W2 h + b2) + alpha * (v * z_v)
//
// z = min(1, max(0, s (zeta - gamma) + gamma)), s = sigmoid((log u - log(1 - u) + log_alpha) / beta), u ~ U(0, 1)
// in training; s = sigmoid(log_alpha) in eval; beta = 2/3, gamma = -0.1, zeta = 1.1. The training loss gets
// lambda / N * sum_i sigmoid(log_alpha_i - beta log(-gamma / zeta)) over the N gated elements (regularization()).
// Tensors: AdapterBias's plus "encoder.layer.N.output.adapter_bias.v_log_alpha" (H) and
// "...adapter_bias.alpha_weight_log_alpha" (1, I), without weight decay. The adapter file stores the method as
// plain "adapterbias" with the eval gates folded into v and alpha.weight (exact zeros where z = 0) and the
// log_alpha tensors dropped; its "method_notes" record lambda and the non-zero counts.
#pragma once
#include "peft/adapter_bias.h"

namespace adapterbias {

namespace l0 {
inline constexpr double kBeta = 2.0 / 3.0, kGamma = -0.1, kZeta = 1.1;
// The gate z (same shape as log_alpha): sampled (training) or deterministic (eval), in [0, 1], exactly 0 or 1
// where the stretched sigmoid leaves [0, 1].
at::Tensor gate(const at::Tensor& log_alpha, bool training);
// P(z != 0) per element: sigmoid(log_alpha - beta log(-gamma / zeta)).
at::Tensor probability_open(const at::Tensor& log_alpha);
}  // namespace l0

struct AdapterBiasL0Config {
  double l0 = 0.1;              // lambda: the penalty is lambda * (mean over gated elements of P(z != 0))
  double init_log_alpha = 3.0;  // eval gates start fully open (z = 1 for log_alpha > log 11 = 2.40)
  // The gates' learning rate as a multiple of the run's: under Adam a log_alpha moves about lr per step, so at
  // AdapterBias's lr (1e-3) closing a gate from 3 takes ~5,400 steps, longer than most runs.
  double gate_lr_scale = 1.0;

  nlohmann::json to_json() const;
  static AdapterBiasL0Config from_json(const nlohmann::json& json);  // InputError naming an unknown field
};

class AdapterBiasL0Shift : public AdapterBiasShift {
 public:
  AdapterBiasL0Shift(int64_t hidden_size, int64_t intermediate_size, double init_log_alpha);
  // AdapterBiasShift's equation with v and L_alpha's weight gated (gates sampled in training mode).
  // Trains one task (its file is saved as plain adapterbias, which mixes): `tasks` holds no stacks here.
  at::Tensor forward(const at::Tensor& h, const at::Tensor& ffn_out, const TaskRouting& tasks) override;
  // The eval-gated tensors (exact zeros where the deterministic gate is 0), detached.
  at::Tensor eval_v() const;
  at::Tensor eval_alpha_weight() const;

  at::Tensor v_log_alpha;             // (H)
  at::Tensor alpha_weight_log_alpha;  // (1, I), as alpha.weight
};

class AdapterBiasL0 : public PeftMethod {
 public:
  explicit AdapterBiasL0(AdapterBiasL0Config config) : config_(config) {}
  std::string name() const override { return "adapterbias-l0"; }
  nlohmann::json options() const override { return config_.to_json(); }
  void inject(BertModel& model) override;
  // AdapterBias's tensors (no alpha sharing), then each layer's v_log_alpha and alpha_weight_log_alpha.
  std::vector<TrainableTensor> trainable(BertModel& model) const override;
  bool mergeable() const override { return true; }
  // Folds the eval gates into v and alpha.weight, then merges as AdapterBias.
  void merge(BertModel& model) override;
  // lambda / N * sum_i P(z_i != 0) over the N gated elements; undefined when lambda is 0.
  at::Tensor regularization(BertModel& model) const override;
  // As "adapterbias" {share_alpha: false}: eval-gated v and alpha.weight, no log_alpha; notes: trained_as, l0,
  // init_log_alpha, gated_parameters, nonzero_gated_parameters, nonzero_parameters (over the saved method tensors).
  SavedMethod saved(BertModel& model) const override;

  static std::shared_ptr<AdapterBiasL0Shift> shift_of(BertLayer& layer);  // null when not injected

 private:
  AdapterBiasL0Config config_;
};

}  // namespace adapterbias
