#include "model/bert.h"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/nn/functional/activation.h>

namespace adapterbias {

// ---- embeddings: mirrors BertEmbeddings / RobertaEmbeddings.forward --------------------------------------

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& config)
    : roberta_positions_(config.is_roberta()), padding_idx_(config.pad_token_id) {
  const int64_t H = config.hidden_size;
  word_embeddings = register_module(
      "word_embeddings", torch::nn::Embedding(torch::nn::EmbeddingOptions(config.vocab_size, H).padding_idx(padding_idx_)));
  auto position_options = torch::nn::EmbeddingOptions(config.max_position_embeddings, H);
  if (roberta_positions_) position_options.padding_idx(padding_idx_);
  position_embeddings = register_module("position_embeddings", torch::nn::Embedding(position_options));
  token_type_embeddings =
      register_module("token_type_embeddings", torch::nn::Embedding(config.type_vocab_size, H));
  LayerNorm = register_module(
      "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({H}).eps(config.layer_norm_eps)));
  dropout = register_module("dropout", torch::nn::Dropout(config.hidden_dropout_prob));
}

at::Tensor BertEmbeddingsImpl::forward(const EncoderInput& input) {
  const at::Tensor& ids = input.input_ids;  // (B, T)
  const int64_t T = ids.size(1);
  at::Tensor positions;
  if (roberta_positions_) {
    // create_position_ids_from_input_ids: real tokens count from padding_idx + 1, padding keeps padding_idx.
    const at::Tensor real = ids.ne(padding_idx_).to(at::kLong);
    positions = at::cumsum(real, 1) * real + padding_idx_;
  } else {
    positions = at::arange(T, ids.options()).unsqueeze(0);
  }
  const at::Tensor types = input.token_type_ids.defined() ? input.token_type_ids : at::zeros_like(ids);
  at::Tensor embeddings = word_embeddings(ids) + token_type_embeddings(types) + position_embeddings(positions);
  return dropout(LayerNorm(embeddings));  // (B, T, H)
}

// ---- self-attention: mirrors BertSdpaSelfAttention ---------------------------------------------------------

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& config)
    : attention_dropout(config.attention_probs_dropout_prob), num_heads_(config.num_attention_heads) {
  const int64_t H = config.hidden_size;
  query = register_module("query", torch::nn::Linear(H, H));
  key = register_module("key", torch::nn::Linear(H, H));
  value = register_module("value", torch::nn::Linear(H, H));
}

at::Tensor BertSelfAttentionImpl::forward(const at::Tensor& hidden, const at::Tensor& mask) {
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2), D = H / num_heads_;
  auto heads = [&](const at::Tensor& x) { return x.view({B, T, num_heads_, D}).transpose(1, 2); };  // (B, NH, T, D)
  const at::Tensor q = heads(project(query, query_adapters_, hidden));
  const at::Tensor k = heads(project(key, key_adapters_, hidden));
  const at::Tensor v = heads(project(value, value_adapters_, hidden));
  // softmax(q k^T / sqrt(D) + mask) v, fused (flash / memory-efficient kernels where the device has them).
  const std::optional<at::Tensor> attn_mask = mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt;
  const at::Tensor context =
      at::scaled_dot_product_attention(q, k, v, attn_mask, is_training() ? attention_dropout : 0.0);  // (B, NH, T, D)
  return context.transpose(1, 2).reshape({B, T, H});
}

at::Tensor BertSelfAttentionImpl::project(torch::nn::Linear& linear,
                                          const std::vector<std::shared_ptr<LinearAdapter>>& adapters,
                                          const at::Tensor& x) {
  at::Tensor out = linear->forward(x);  // (B, T, H)
  for (const auto& adapter : adapters) out = adapter->forward(x, out);
  return out;
}

std::vector<std::shared_ptr<LinearAdapter>>& BertSelfAttentionImpl::adapter_list(const std::string& projection) {
  if (projection == "query") return query_adapters_;
  if (projection == "key") return key_adapters_;
  TORCH_CHECK(projection == "value", "no attention projection '", projection, "' (query, key, value)");
  return value_adapters_;
}

torch::nn::Linear& BertSelfAttentionImpl::projection_module(const std::string& projection) {
  if (projection == "query") return query;
  if (projection == "key") return key;
  TORCH_CHECK(projection == "value", "no attention projection '", projection, "' (query, key, value)");
  return value;
}

const std::vector<std::shared_ptr<LinearAdapter>>& BertSelfAttentionImpl::adapters(const std::string& projection) const {
  return const_cast<BertSelfAttentionImpl*>(this)->adapter_list(projection);
}

void BertSelfAttentionImpl::add_adapter(const std::string& projection, std::shared_ptr<LinearAdapter> adapter) {
  TORCH_CHECK(adapter->named_parameters(/*recurse=*/false).is_empty(),
              "a LinearAdapter keeps its parameters in submodules");
  auto& linear = projection_module(projection);
  for (const auto& child : adapter->named_children()) linear->register_module(child.key(), child.value());
  adapter_list(projection).push_back(std::move(adapter));
}

void BertSelfAttentionImpl::clear_adapters() {
  for (const char* projection : {"query", "key", "value"}) {
    auto& list = adapter_list(projection);
    for (const auto& adapter : list)
      for (const auto& child : adapter->named_children()) projection_module(projection)->unregister_module(child.key());
    list.clear();
  }
}

// ---- sublayer output: mirrors BertSelfOutput and BertOutput -------------------------------------------------

SublayerOutputImpl::SublayerOutputImpl(int64_t in_features, const BertConfig& config) {
  dense = register_module("dense", torch::nn::Linear(in_features, config.hidden_size));
  LayerNorm = register_module(
      "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps)));
  dropout = register_module("dropout", torch::nn::Dropout(config.hidden_dropout_prob));
}

at::Tensor SublayerOutputImpl::forward(const at::Tensor& sublayer_input, const at::Tensor& residual) {
  at::Tensor out = dropout(dense(sublayer_input));  // (B, T, H)
  for (const auto& adapter : adapters_) out = adapter->forward(sublayer_input, out);
  return LayerNorm(out + residual);
}

void SublayerOutputImpl::add_adapter(const std::string& name, std::shared_ptr<OutputAdapter> adapter) {
  adapters_.push_back(register_module(name, std::move(adapter)));
  adapter_names_.push_back(name);
}

void SublayerOutputImpl::clear_adapters() {
  for (const auto& name : adapter_names_) unregister_module(name);
  adapter_names_.clear();
  adapters_.clear();
}

// ---- attention block, FFN, layer, encoder, pooler, model ----------------------------------------------------

BertAttentionImpl::BertAttentionImpl(const BertConfig& config) {
  self_attention = register_module("self", BertSelfAttention(config));
  output = register_module("output", SublayerOutput(config.hidden_size, config));
}

at::Tensor BertAttentionImpl::forward(const at::Tensor& hidden, const at::Tensor& mask) {
  return output(self_attention(hidden, mask), hidden);
}

BertIntermediateImpl::BertIntermediateImpl(const BertConfig& config) : activation_(config.hidden_act) {
  dense = register_module("dense", torch::nn::Linear(config.hidden_size, config.intermediate_size));
}

at::Tensor BertIntermediateImpl::forward(const at::Tensor& hidden) {
  const at::Tensor x = dense(hidden);
  if (activation_ == "gelu") return at::gelu(x);
  if (activation_ == "gelu_new") return at::gelu(x, "tanh");
  return at::relu(x);
}

BertLayerImpl::BertLayerImpl(const BertConfig& config) {
  attention = register_module("attention", BertAttention(config));
  intermediate = register_module("intermediate", BertIntermediate(config));
  output = register_module("output", SublayerOutput(config.intermediate_size, config));
}

at::Tensor BertLayerImpl::forward(const at::Tensor& hidden, const at::Tensor& mask) {
  const at::Tensor attended = attention(hidden, mask);  // (B, T, H)
  const at::Tensor h = intermediate(attended);          // (B, T, I)
  return output(h, attended);                           // (B, T, H)
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& config) {
  layer_list_ = register_module("layer", torch::nn::ModuleList());
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    layers.emplace_back(config);
    layer_list_->push_back(layers.back());
  }
}

at::Tensor BertEncoderImpl::forward(at::Tensor hidden, const at::Tensor& mask) {
  for (auto& layer : layers) hidden = layer(hidden, mask);
  return hidden;
}

BertPoolerImpl::BertPoolerImpl(const BertConfig& config) {
  dense = register_module("dense", torch::nn::Linear(config.hidden_size, config.hidden_size));
}

at::Tensor BertPoolerImpl::forward(const at::Tensor& hidden) { return at::tanh(dense(hidden.select(1, 0))); }

BertModelImpl::BertModelImpl(const BertConfig& config, bool add_pooling_layer) : config_(config) {
  embeddings = register_module("embeddings", BertEmbeddings(config));
  encoder = register_module("encoder", BertEncoder(config));
  if (add_pooling_layer) pooler = register_module("pooler", BertPooler(config));
}

EncoderOutput BertModelImpl::forward(const EncoderInput& input) {
  const int64_t B = input.input_ids.size(0), T = input.input_ids.size(1);
  at::Tensor mask;  // (B, 1, 1, T) true where a query may attend; undefined lets the fused kernels skip masking
  if (input.attention_mask.defined() && !input.attention_mask.all().item<bool>())
    mask = input.attention_mask.to(at::kBool).view({B, 1, 1, T});
  EncoderOutput out;
  out.last_hidden_state = encoder(embeddings(input), mask);
  if (pooler) out.pooler_output = pooler(out.last_hidden_state);
  return out;
}

void BertModelImpl::set_dropout(double p) {
  for (auto& module : modules()) {
    if (auto* dropout = module->as<torch::nn::Dropout>()) dropout->options.p(p);
    if (auto* attention = module->as<BertSelfAttention>()) attention->attention_dropout = p;
  }
}

}  // namespace adapterbias
