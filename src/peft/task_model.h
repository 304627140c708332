// A task model: the frozen backbone, one PEFT method injected into it, and the task head
// Dropout(p) -> Linear(H, num_labels) on the pooled output (the pooler's by default; model/pooling.h). Only the
// method's tensors and the head train.
#pragma once
#include <memory>

#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include "model/pooling.h"
#include "peft/method.h"

namespace adapterbias {

class TaskModel {
 public:
  // Injects `method` into `backbone` and freezes every backbone tensor the method does not train.
  TaskModel(BertModel backbone, std::unique_ptr<PeftMethod> method, int64_t num_labels, double head_dropout = 0.5,
            Pooling pooling = Pooling::pooler);

  // Logits (B, num_labels), fp32; regression: (B, 1). The last layer computes what the head reads (model/bert.h
  // LastLayer); every_token makes it compute every token, for what observes the last layer's tokens (recorders).
  at::Tensor forward(const EncoderInput& input, LastLayer last_layer = LastLayer::first_tokens);
  void train(bool on = true);
  void eval() { train(false); }
  // Device and precision of the backbone (BertModelImpl::set_compute); the head stays fp32 on that device.
  void set_compute(const Compute& compute);
  const Compute& compute() const { return backbone->compute(); }

  // The method's tensors, then the head's ("classifier.weight", "classifier.bias", with weight decay).
  std::vector<TrainableTensor> trainable() const;
  int64_t num_trainable() const;
  int64_t num_backbone_parameters() const { return backbone_parameters_; }

  BertModel backbone;
  std::unique_ptr<PeftMethod> method;
  torch::nn::Dropout head_dropout{nullptr};
  torch::nn::Linear classifier{nullptr};
  Pooling pooling = Pooling::pooler;

 private:
  int64_t backbone_parameters_ = 0;
};

}  // namespace adapterbias
