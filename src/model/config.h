// BertConfig / RobertaConfig as read from a Hugging Face config.json. Field names are Hugging Face's.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace adapterbias {

struct BertConfig {
  std::string model_type = "bert";  // "bert" or "roberta" (also xlm-roberta, camembert: RoBERTa embeddings)
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;              // H
  int64_t num_hidden_layers = 12;         // L
  int64_t num_attention_heads = 12;       // NH
  int64_t intermediate_size = 3072;       // I
  std::string hidden_act = "gelu";        // gelu (exact, erf) | gelu_new (tanh) | relu
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;

  bool is_roberta() const { return model_type == "roberta"; }
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // The most tokens one sequence can have: the position embeddings (RoBERTa's start after padding_idx).
  int64_t max_tokens() const { return is_roberta() ? max_position_embeddings - pad_token_id - 1 : max_position_embeddings; }
  // `max_length` when one sequence may have that many tokens; else an InputError naming `what` (e.g.
  // "--max-length") and the model's limit.
  int64_t checked_max_length(int64_t max_length, const std::string& what) const;

  // Throws FormatError naming the file and the missing or invalid field.
  static BertConfig from_json(const nlohmann::json& json, const std::string& source);
  static BertConfig from_file(const std::filesystem::path& path);
  nlohmann::json to_json() const;
};

}  // namespace adapterbias
