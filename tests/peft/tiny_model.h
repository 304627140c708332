// The tiny BERT and batch the PEFT tests share: 2 layers, H 8, I 16, two sequences (one padded), two token types.
#pragma once
#include <map>
#include <set>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/bert.h"
#include "model/checkpoint.h"
#include "peft/adapter_file.h"
#include "peft/task_model.h"

namespace adapterbias::testing {

constexpr int64_t kH = 8, kI = 16, kL = 2, kLabels = 3;

inline BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 30;
  c.hidden_size = kH;
  c.num_hidden_layers = kL;
  c.num_attention_heads = 2;
  c.intermediate_size = kI;
  c.max_position_embeddings = 16;
  return c;
}

inline EncoderInput tiny_batch() {
  EncoderInput in;
  in.input_ids = at::tensor({2, 7, 9, 4, 11, 3, 2, 5, 8, 0, 0, 0}, at::kLong).view({2, 6});
  in.token_type_ids = at::tensor({0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0}, at::kLong).view({2, 6});
  in.attention_mask = at::tensor({1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, at::kLong).view({2, 6});
  return in;
}

// The tiny backbone with fixed weights (seed 11), dropout off, in eval mode.
inline BertModel tiny_backbone() {
  torch::manual_seed(11);
  BertModel backbone(tiny_config());
  backbone->set_dropout(0.0);
  backbone->eval();
  return backbone;
}

// A copy of every backbone and head tensor, by name ("classifier.*" for the head).
inline std::map<std::string, at::Tensor> snapshot(const TaskModel& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : model.backbone->named_parameters()) out[p.key()] = p.value().detach().clone();
  for (const auto& p : model.classifier->named_parameters()) out["classifier." + p.key()] = p.value().detach().clone();
  return out;
}

// Checks every tensor of `model` against `before`: the trainable ones changed; the others are bit-identical,
// frozen and without a gradient. Returns how many changed.
inline size_t expect_only_trainable_changed(const TaskModel& model, const std::map<std::string, at::Tensor>& before,
                                            const std::set<std::string>& trainable_names) {
  size_t changed = 0;
  auto check = [&](const std::string& name, const at::Tensor& value) {
    const bool is_trainable = trainable_names.contains(name);
    EXPECT_EQ(value.requires_grad(), is_trainable) << name;
    if (is_trainable) {
      EXPECT_FALSE(at::equal(value, before.at(name))) << name << " did not change";
      ++changed;
    } else {
      EXPECT_FALSE(value.grad().defined()) << name << " has a gradient";
      EXPECT_TRUE(at::equal(value, before.at(name))) << name << " changed";
    }
  };
  for (const auto& p : model.backbone->named_parameters()) check(p.key(), p.value());
  for (const auto& p : model.classifier->named_parameters()) check("classifier." + p.key(), p.value());
  return changed;
}

// A fresh copy of the tiny backbone as `load_pretrained` would give it, and the metadata of a test adapter of
// `model` (task "test", labels a, b, c) on it.
inline Pretrained tiny_pretrained() {
  Pretrained pretrained{"tiny", tiny_config(), tiny_backbone(), "", 0};
  pretrained.fingerprint = weights_fingerprint(*pretrained.model);
  return pretrained;
}

inline AdapterInfo test_adapter_info(const TaskModel& model, const Pretrained& pretrained) {
  AdapterInfo info;
  info.method = model.method->name();
  info.method_options = model.method->options();
  info.task = "test";
  info.labels = {"a", "b", "c"};
  info.backbone = backbone_identity(pretrained);
  return info;
}

}  // namespace adapterbias::testing
