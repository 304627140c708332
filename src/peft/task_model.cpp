#include "peft/task_model.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "model/dropout.h"

namespace adapterbias {

TaskModel::TaskModel(BertModel backbone_, std::unique_ptr<PeftMethod> method_, int64_t num_labels,
                     double head_dropout_p, Pooling pooling_)
    : backbone(std::move(backbone_)), method(std::move(method_)), pooling(pooling_) {
  TORCH_CHECK(backbone->pooler, "a task head needs the backbone's pooler");
  for (const auto& p : backbone->parameters()) backbone_parameters_ += p.numel();
  method->inject(backbone);
  head_dropout = torch::nn::Dropout(head_dropout_p);
  classifier = torch::nn::Linear(backbone->config().hidden_size, num_labels);
  {
    // As transformers initialises a sequence-classification head: normal(0, initializer_range 0.02), zero bias.
    torch::NoGradGuard no_grad;
    classifier->weight.normal_(0.0, 0.02);
    classifier->bias.zero_();
  }
  for (auto& p : backbone->parameters()) p.set_requires_grad(false);
  for (auto& t : trainable()) t.tensor.set_requires_grad(true);
}

at::Tensor TaskModel::forward(const EncoderInput& input, LastLayer last_layer) {
  const EncoderOutput out = backbone->forward(input, both(last_layer_for(pooling), last_layer));
  // The head computes in its own (trained, fp32) dtype whatever the backbone's precision.
  const at::Tensor pooled = pool(pooling, input, out).to(classifier->weight.scalar_type());
  return classifier(hashed_dropout(pooled, head_dropout->options.p(), head_dropout->is_training()));  // (B, num_labels)
}

void TaskModel::train(bool on) {
  backbone->train(on);
  head_dropout->train(on);
  classifier->train(on);
}

void TaskModel::set_compute(const Compute& compute) {
  backbone->set_compute(compute);
  classifier->to(compute.device);
}

std::vector<TrainableTensor> TaskModel::trainable() const {
  auto out = method->trainable(const_cast<BertModel&>(backbone));
  out.push_back({"classifier.weight", classifier->weight, true});
  out.push_back({"classifier.bias", classifier->bias, true});
  return out;
}

int64_t TaskModel::num_trainable() const {
  int64_t n = 0;
  for (const auto& t : trainable()) n += t.tensor.numel();
  return n;
}

}  // namespace adapterbias
