#include "model/bert.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <torch/nn/functional/activation.h>
#include <torch/utils.h>

#include "model/collate.h"
#include "model/cpu_attention.h"
#include "model/dropout.h"
#include "model/row_gather.h"

namespace adapterbias {

EncoderInput EncoderInput::to(const c10::Device& device) const {
  auto move = [&](const at::Tensor& t) { return t.defined() ? t.to(device) : t; };
  EncoderInput out = *this;
  out.input_ids = move(input_ids);
  out.token_type_ids = move(token_type_ids);
  out.attention_mask = move(attention_mask);
  out.packed.cu_seqlens = move(packed.cu_seqlens);
  out.packed.position_ids = move(packed.position_ids);
  out.packed.first_token = move(packed.first_token);
  out.packed.grid_index = move(packed.grid_index);
  out.packed.grid_mask = move(packed.grid_mask);
  out.task_index = move(task_index);
  return out;
}

at::Tensor first_token_states(const at::Tensor& hidden, const PackedSequences* packed) {
  return packed ? hidden.index_select(0, packed->first_token) : hidden.select(1, 0);
}

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

at::Tensor BertEmbeddingsImpl::forward(const EncoderInput& input, const TaskRouting& tasks) {
  const at::Tensor& ids = input.input_ids;  // (B, T) | packed (N)
  at::Tensor positions;
  if (input.is_packed()) {
    // A packed sequence has no padding, so RoBERTa's count of real tokens is the position + 1.
    positions = roberta_positions_ ? input.packed.position_ids + (padding_idx_ + 1) : input.packed.position_ids;
  } else if (roberta_positions_) {
    // create_position_ids_from_input_ids: real tokens count from padding_idx + 1, padding keeps padding_idx.
    const at::Tensor real = ids.ne(padding_idx_).to(at::kLong);
    positions = at::cumsum(real, 1) * real + padding_idx_;
  } else {
    positions = at::arange(ids.size(1), ids.options()).unsqueeze(0);
  }
  const at::Tensor types = input.token_type_ids.defined() ? input.token_type_ids : at::zeros_like(ids);
  at::Tensor embeddings = word_embeddings(ids) + token_type_embeddings(types) + position_embeddings(positions);
  return hashed_dropout(tasks.layer_norm(embeddings, LayerNorm), dropout->options.p(), dropout->is_training());  // (B, T, H) | (N, H)
}

// ---- self-attention: mirrors BertSdpaSelfAttention ---------------------------------------------------------

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& config)
    : attention_dropout(config.attention_probs_dropout_prob), num_heads_(config.num_attention_heads) {
  const int64_t H = config.hidden_size;
  query = register_module("query", torch::nn::Linear(H, H));
  key = register_module("key", torch::nn::Linear(H, H));
  value = register_module("value", torch::nn::Linear(H, H));
}

at::Tensor BertSelfAttentionImpl::forward(const at::Tensor& hidden, const ForwardContext& context) {
  const Projections qkv = project_all(hidden, context.tasks);
  if (context.packed) return packed_attention(qkv, *context.packed, context.gathers);
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2);
  return attend(stacked_heads(qkv, B, T), context.mask).transpose(1, 2).reshape({B, T, H});
}

at::Tensor BertSelfAttentionImpl::forward_first_tokens(const at::Tensor& hidden, const at::Tensor& first,
                                                       const ForwardContext& context, const TaskRouting& first_tasks) {
  const int64_t B = first.size(0), H = first.size(1), D = H / num_heads_;
  const at::Tensor q = project(query, query_adapters_, first, first_tasks);  // (B, H)
  at::Tensor kv;  // (..., 2H): key | value of every token
  if (fused_applies(context.tasks))
    kv = at::linear(hidden, fused_weight_.narrow(0, H, 2 * H), fused_bias_.narrow(0, H, 2 * H));
  else
    kv = at::cat({project(key, key_adapters_, hidden, context.tasks), project(value, value_adapters_, hidden, context.tasks)}, -1);
  at::Tensor mask = context.mask;  // (B, 1, 1, T) true where a key is real; undefined: all are
  if (context.packed) {
    // The real rows onto the (B, T) grid; the padding cells stay zero and are masked.
    const PackedSequences& packed = *context.packed;
    const int64_t N = packed.grid_index.size(0);
    kv = at::zeros({B * packed.max_length, 2 * H}, kv.options()).index_copy(0, packed.grid_index, kv.narrow(0, 0, N))
             .view({B, packed.max_length, 2 * H});
    mask = packed.grid_mask;
  }
  const int64_t T = kv.size(1);
  const at::Tensor heads = kv.view({B, T, 2, num_heads_, D}).permute({2, 0, 3, 1, 4});  // (2, B, NH, T, D)
  // One query per sequence: the products are B NH T D multiply-adds, so the plain ops under autograd serve; the
  // softmax in at least fp32, as in the fused kernels.
  at::Tensor scores = at::matmul(q.reshape({B, num_heads_, 1, D}), heads[0].transpose(-2, -1)) / std::sqrt(double(D));
  if (mask.defined()) scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
  const at::Tensor probs = hashed_dropout(at::softmax(scores, -1, at::promote_types(scores.scalar_type(), at::kFloat)),
                                          attention_dropout, is_training());
  return at::matmul(probs.to(heads.scalar_type()), heads[1]).view({B, H});  // (B, NH, 1, D) -> (B, H)
}

at::Tensor BertSelfAttentionImpl::stacked_heads(const Projections& qkv, int64_t B, int64_t T) const {
  const int64_t H = qkv.q.size(-1), D = H / num_heads_;
  const at::Tensor rows = qkv.fused.defined() ? qkv.fused : at::stack({qkv.q, qkv.k, qkv.v}, -2);  // (..., 3H)
  return rows.reshape({B, T, 3, num_heads_, D}).permute({2, 0, 3, 1, 4});  // (3, B, NH, T, D), a view
}

at::Tensor BertSelfAttentionImpl::attend(const at::Tensor& qkv, const at::Tensor& mask) {
  const double dropout_p = is_training() ? attention_dropout : 0.0;
  const bool backward = at::GradMode::is_enabled() && qkv.requires_grad();
  if (qkv.is_cpu() && (dropout_p > 0 || (backward && qkv.scalar_type() == at::kBFloat16))) {
    // CPU training: the backward of ATen's fused CPU attention is several times slower in bf16 than the unfused
    // products (bench/attention_bench.py); with dropout it falls back to an unfused form anyway, drawing its mask
    // with the slow Bernoulli sampler.
    return training_attention(qkv.contiguous(), mask, dropout_p);
  }
  // CPU inference: the unfused products in bounded slices beat the fused kernel in bf16 at every length and in
  // fp32 up to 256 tokens (bench/attention_bench.py --inference).
  if (qkv.is_cpu() && !backward && (qkv.scalar_type() == at::kBFloat16 || qkv.size(3) <= 256))
    return inference_attention(qkv.contiguous(), mask);
  // softmax(q k^T / sqrt(D) + mask) v, fused (flash / memory-efficient kernels where the device has them).
  const auto parts = qkv.unbind(0);
  const std::optional<at::Tensor> attn_mask = mask.defined() ? std::optional(mask) : std::nullopt;
  return at::scaled_dot_product_attention(parts[0], parts[1], parts[2], attn_mask, dropout_p);  // (B, NH, T, D)
}

at::Tensor BertSelfAttentionImpl::packed_attention(const Projections& qkv, const PackedSequences& packed,
                                                   const AttentionGathers& gathers) {
  const int64_t N = qkv.q.size(0), H = qkv.q.size(1), D = H / num_heads_;
  if (!gathers.defined()) {
    // Varlen flash attention straight on the packed rows (CUDA, half precision). A private ATen op: the torch
    // version is pinned.
    const double dropout_p = is_training() ? attention_dropout : 0.0;
    auto rows = [&](const at::Tensor& x) { return x.view({N, num_heads_, D}); };
    const auto out = at::_flash_attention_forward(rows(qkv.q), rows(qkv.k), rows(qkv.v), packed.cu_seqlens,
                                                  packed.cu_seqlens, packed.max_length, packed.max_length, dropout_p,
                                                  /*is_causal=*/false, /*return_debug_mask=*/false);
    return std::get<0>(out).reshape({N, H});
  }
  // Otherwise attention alone runs on the (B, max_length) grid with a padding mask; every other op of the layer
  // stays on the packed rows.
  const int64_t B = packed.first_token.size(0), T = packed.max_length;
  if (N == B * T && packed.grid_index.size(0) == N)  // every row real, every sequence T long: the rows are the grid
    return attend(stacked_heads(qkv, B, T), at::Tensor()).transpose(1, 2).reshape({N, H});
  const at::Tensor fused = qkv.fused.defined() ? qkv.fused : at::cat({qkv.q, qkv.k, qkv.v}, -1);  // (N, 3H)
  const at::Tensor grid = gather_rows(fused.view({-1, D}), gathers.grid_from_fused, gathers.fused_from_grid);
  const at::Tensor out = attend(grid.view({3, B, num_heads_, T, D}), packed.grid_mask);  // (B, NH, T, D)
  return gather_rows(out.contiguous().view({-1, D}), gathers.rows_from_grid, gathers.grid_from_rows).view({N, H});
}

bool BertSelfAttentionImpl::fused_applies(const TaskRouting& tasks) const {
  if (!fused_weight_.defined() || !query_adapters_.empty() || !key_adapters_.empty() || !value_adapters_.empty())
    return false;
  const int64_t H = fused_weight_.size(1);
  int64_t k = 0;
  for (const auto* linear : {&query, &key, &value}) {
    const at::Tensor& w = (*linear)->weight;
    const at::Tensor& b = (*linear)->bias;
    // Still views of the fused tensors (a later to(), set_data or load would have replaced them), frozen, plain.
    const bool views = w.is_alias_of(fused_weight_) && w.storage_offset() == fused_weight_.storage_offset() + k * H * H &&
                       b.is_alias_of(fused_bias_) && b.storage_offset() == fused_bias_.storage_offset() + k * H;
    if (!views || w.requires_grad() || b.requires_grad() || tasks.routes(w) || tasks.routes(b)) return false;
    ++k;
  }
  return true;
}

BertSelfAttentionImpl::Projections BertSelfAttentionImpl::project_all(const at::Tensor& hidden,
                                                                     const TaskRouting& tasks) {
  if (!fused_applies(tasks))
    return {project(query, query_adapters_, hidden, tasks), project(key, key_adapters_, hidden, tasks),
            project(value, value_adapters_, hidden, tasks), at::Tensor()};
  const int64_t H = fused_weight_.size(1);
  const at::Tensor qkv = at::linear(hidden, fused_weight_, fused_bias_);  // (..., 3H)
  return {qkv.narrow(-1, 0, H), qkv.narrow(-1, H, H), qkv.narrow(-1, 2 * H, H), qkv};
}

void BertSelfAttentionImpl::fuse_projections() {
  torch::NoGradGuard no_grad;
  fused_weight_ = fused_bias_ = at::Tensor();
  for (const auto* linear : {&query, &key, &value}) {  // trained or mixed-precision tensors stay their own
    const at::Tensor& w = (*linear)->weight;
    const at::Tensor& b = (*linear)->bias;
    if (!b.defined() || w.requires_grad() || b.requires_grad() || w.scalar_type() != query->weight.scalar_type() ||
        b.scalar_type() != query->bias.scalar_type())
      return;
  }
  const int64_t H = query->weight.size(1);
  fused_weight_ = at::cat({query->weight, key->weight, value->weight});
  fused_bias_ = at::cat({query->bias, key->bias, value->bias});
  int64_t k = 0;
  for (auto* linear : {&query, &key, &value}) {
    (*linear)->weight.set_data(fused_weight_.narrow(0, k * H, H));
    (*linear)->bias.set_data(fused_bias_.narrow(0, k * H, H));
    ++k;
  }
}

at::Tensor BertSelfAttentionImpl::project(torch::nn::Linear& linear,
                                          const std::vector<std::shared_ptr<LinearAdapter>>& adapters,
                                          const at::Tensor& x, const TaskRouting& tasks) {
  at::Tensor out = tasks.linear(x, linear);  // (B, T, H)
  for (const auto& adapter : adapters) out = adapter->forward(x, out, tasks);
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

at::Tensor SublayerOutputImpl::forward(const at::Tensor& sublayer_input, const at::Tensor& residual,
                                       const TaskRouting& tasks) {
  at::Tensor out = hashed_dropout(tasks.linear(sublayer_input, dense), dropout->options.p(), dropout->is_training());
  for (const auto& adapter : adapters_) out = adapter->forward(sublayer_input, out, tasks);
  // The residual stream keeps the model's own dtype: under bf16 the sum (promoted) and the LayerNorm are fp32.
  return tasks.layer_norm(residual + out, LayerNorm);
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

at::Tensor BertAttentionImpl::forward(const at::Tensor& hidden, const ForwardContext& context) {
  return output(self_attention(hidden, context), hidden, context.tasks);
}

at::Tensor BertAttentionImpl::forward_first_tokens(const at::Tensor& hidden, const at::Tensor& first,
                                                   const ForwardContext& context, const TaskRouting& first_tasks) {
  return output(self_attention->forward_first_tokens(hidden, first, context, first_tasks), first, first_tasks);
}

BertIntermediateImpl::BertIntermediateImpl(const BertConfig& config) : activation_(config.hidden_act) {
  dense = register_module("dense", torch::nn::Linear(config.hidden_size, config.intermediate_size));
}

at::Tensor BertIntermediateImpl::forward(const at::Tensor& hidden, const TaskRouting& tasks) {
  const at::Tensor x = tasks.linear(hidden, dense);
  if (activation_ == "gelu") return at::gelu(x);
  if (activation_ == "gelu_new") return at::gelu(x, "tanh");
  return at::relu(x);
}

BertLayerImpl::BertLayerImpl(const BertConfig& config) {
  attention = register_module("attention", BertAttention(config));
  intermediate = register_module("intermediate", BertIntermediate(config));
  output = register_module("output", SublayerOutput(config.intermediate_size, config));
}

at::Tensor BertLayerImpl::forward(const at::Tensor& hidden, const ForwardContext& context) {
  const at::Tensor attended = attention(hidden, context);  // (B, T, H)
  const at::Tensor h = intermediate(attended, context.tasks);  // (B, T, I)
  return output(h, attended, context.tasks);                  // (B, T, H)
}

at::Tensor BertLayerImpl::forward_first_tokens(const at::Tensor& hidden, const ForwardContext& context,
                                               const TaskRouting& first_tasks) {
  const at::Tensor first = first_token_states(hidden, context.packed);                          // (B, H)
  const at::Tensor attended = attention->forward_first_tokens(hidden, first, context, first_tasks);  // (B, H)
  return output(intermediate(attended, first_tasks), attended, first_tasks);                    // (B, H)
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& config) {
  layer_list_ = register_module("layer", torch::nn::ModuleList());
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    layers.emplace_back(config);
    layer_list_->push_back(layers.back());
  }
}

at::Tensor BertEncoderImpl::forward(at::Tensor hidden, const ForwardContext& context) {
  for (auto& layer : layers) hidden = layer(hidden, context);
  return hidden;
}

at::Tensor BertEncoderImpl::forward_first_tokens(at::Tensor hidden, const ForwardContext& context,
                                                 const TaskRouting& first_tasks) {
  if (layers.empty()) return first_token_states(hidden, context.packed);
  for (size_t l = 0; l + 1 < layers.size(); ++l) hidden = layers[l](hidden, context);
  return layers.back()->forward_first_tokens(hidden, context, first_tasks);
}

BertPoolerImpl::BertPoolerImpl(const BertConfig& config) {
  dense = register_module("dense", torch::nn::Linear(config.hidden_size, config.hidden_size));
}

at::Tensor BertPoolerImpl::forward(const at::Tensor& first_tokens, const TaskRouting& tasks) {
  return at::tanh(tasks.linear(first_tokens, dense));
}

BertModelImpl::BertModelImpl(const BertConfig& config, bool add_pooling_layer) : config_(config) {
  embeddings = register_module("embeddings", BertEmbeddings(config));
  encoder = register_module("encoder", BertEncoder(config));
  if (add_pooling_layer) pooler = register_module("pooler", BertPooler(config));
}

namespace {

// CPU bf16 matrix products run through oneDNN, which builds a kernel for every new shape and caches it: 1-2 ms
// each, about a dozen per training step, 15% of a one-epoch run on SST-2's short sentences. Packed batches
// therefore run with their row count rounded up to a step of 1/8 of its power of two (at most 12.5% more rows, 6%
// on average), so that batches of similar sizes reuse the kernels. (Measured on SST-2 and RTE training: steps of
// 1/16 create twice the kernels and are slower; 1/4 wastes more rows than the kernels cost on longer runs.)
int64_t bucketed_rows(int64_t rows) {
  const int64_t step = std::max<int64_t>(16, static_cast<int64_t>(std::bit_floor(static_cast<uint64_t>(rows))) / 8);
  return (rows + step - 1) / step * step;
}

// The attention grid's length for CPU bf16: a multiple of 32, the bf16 vector width, where ATen's softmax and its
// backward run several times faster per element than at other lengths (each row's tail otherwise takes a slower
// loop; bench/softmax_bench.py), which more than pays for the masked columns. It also keeps the attention
// products to a few shapes. Grids of at most 16 (most of SST-2's batches) stay 16: there the products and scores
// are a quarter of a 32-wide grid's, which outweighs the slower softmax (training_attention_bench --lengths).
int64_t bucketed_grid_length(int64_t length) { return length <= 16 ? 16 : (length + 31) / 32 * 32; }

// A packed batch laid out for attention on the grid: a filler row when the grid has padding and a padding cell
// when there are filler rows (what AttentionGathers needs), bucketed for CPU bf16.
EncoderInput grid_layout(const EncoderInput& batch, bool bucketed) {
  const int64_t N = batch.input_ids.size(0), B = batch.packed.first_token.size(0), T = batch.packed.max_length;
  int64_t grid_length = bucketed ? bucketed_grid_length(T) : T;
  int64_t rows = N + (B * grid_length > N ? 1 : 0);
  if (bucketed) rows = bucketed_rows(rows);
  if (rows > N && B * grid_length == N) grid_length = bucketed ? bucketed_grid_length(T + 1) : T + 1;
  return widen_packed(batch, rows - N, grid_length);
}

AttentionGathers attention_gathers(const PackedSequences& packed, int64_t num_heads) {
  const int64_t B = packed.first_token.size(0), T = packed.max_length, N = packed.grid_index.size(0);
  const int64_t rows = packed.position_ids.size(0), NH = num_heads;
  TORCH_CHECK((rows > N) == (B * T > N), "attention_gathers: filler rows without a padding cell, or the reverse");
  const auto options = packed.grid_index.options();
  // The spare row (the first filler) and the spare cell (the shortest sequence's last column, padding).
  const int64_t spare_row = N;
  const at::Tensor spare_cell = packed.cu_seqlens.diff().argmin() * T + (T - 1);
  const at::Tensor cell_rows = at::full({B * T}, spare_row, options).index_copy(0, packed.grid_index, at::arange(N, options));
  const at::Tensor row_cells = at::cat({packed.grid_index, spare_cell.expand({rows - N})});  // b * T + t
  const at::Tensor b = row_cells.div(T, "floor").view({rows, 1, 1}), t = row_cells.remainder(T).view({rows, 1, 1});
  const at::Tensor heads = at::arange(NH, options), parts = at::arange(3, options);
  AttentionGathers out;
  out.grid_from_fused = ((cell_rows.view({1, B, 1, T}) * 3 + parts.view({3, 1, 1, 1})) * NH + heads.view({1, 1, NH, 1}))
                            .reshape({-1});
  out.fused_from_grid = (((parts.view({1, 3, 1}) * B + b) * NH + heads.view({1, 1, NH})) * T + t).reshape({-1});
  out.rows_from_grid = ((b.view({rows, 1}) * NH + heads.view({1, NH})) * T + t.view({rows, 1})).reshape({-1});
  out.grid_from_rows = (cell_rows.view({B, 1, T}) * NH + heads.view({1, NH, 1})).reshape({-1});
  return out;
}

}  // namespace

EncoderOutput BertModelImpl::forward(const EncoderInput& batch, LastLayer last_layer) {
  const AutocastScope autocast(compute_);
  const int64_t real_rows = batch.is_packed() ? batch.input_ids.size(0) : 0;
  const bool grid_attention = batch.is_packed() && !(compute_.device.is_cuda() && compute_.bf16());
  const EncoderInput input = grid_attention ? grid_layout(batch, compute_.device.is_cpu() && compute_.bf16()) : batch;
  const int64_t fillers = input.is_packed() ? input.input_ids.size(0) - real_rows : 0;
  ForwardContext context;
  if (input.is_packed()) {
    context.packed = &input.packed;
    if (grid_attention) context.gathers = attention_gathers(input.packed, config_.num_attention_heads);
  } else if (input.attention_mask.defined() && input.has_padding) {
    // (B, 1, 1, T) true where a query may attend; left undefined without padding so the fused kernels skip it.
    context.mask = input.attention_mask.to(at::kBool).view({input.input_ids.size(0), 1, 1, input.input_ids.size(1)});
  }
  TaskRouting row_tasks;  // the pooled rows'
  if (input.task_stacks) {
    const at::Tensor& rows = input.task_index;
    TORCH_CHECK(rows.defined() && rows.dim() == 1, "a mixed-task batch needs task_index (B) or (1)");
    // Each token takes its row's task: (B, 1) over the padded grid; packed, every row's index repeated over
    // its tokens (the token count given, so that nothing is read back from the device). One task for every
    // row is a scalar: each tensor is then that task's row, with no per-token gather.
    const bool one_task = rows.numel() == 1;
    const at::Tensor per_token =
        one_task            ? rows.squeeze(0)
        : input.is_packed() ? at::cat({at::repeat_interleave(rows, input.packed.cu_seqlens.diff().to(at::kLong), 0,
                                                              real_rows),
                                       at::zeros({fillers}, rows.options())})
                            : rows.view({-1, 1});
    context.tasks = TaskRouting(input.task_stacks.get(), per_token);
    row_tasks = TaskRouting(input.task_stacks.get(), one_task ? rows.squeeze(0) : rows);
  }
  EncoderOutput out;
  const at::Tensor embedded = embeddings(input, context.tasks);
  if (last_layer == LastLayer::first_tokens) {
    out.first_tokens = encoder->forward_first_tokens(embedded, context, row_tasks);
  } else {
    out.last_hidden_state = encoder(embedded, context);
    if (fillers > 0) out.last_hidden_state = out.last_hidden_state.narrow(0, 0, real_rows);
    out.first_tokens = first_token_states(out.last_hidden_state, context.packed);
  }
  if (pooler) out.pooler_output = pooler(out.first_tokens, row_tasks);
  return out;
}

void BertModelImpl::set_compute(const Compute& compute) {
  compute_ = compute;
  to(compute.device);
  torch::NoGradGuard no_grad;
  if (compute.bf16())
    for (const auto& module : modules(/*include_self=*/false))
      if (auto* linear = module->as<torch::nn::Linear>())
        for (at::Tensor* p : {&linear->weight, &linear->bias})
          if (p->defined() && !p->requires_grad()) p->set_data(p->to(at::kBFloat16));
  for (auto& layer : encoder->layers) layer->attention->self_attention->fuse_projections();
}

void BertModelImpl::set_dropout(double p) {
  for (auto& module : modules()) {
    if (auto* dropout = module->as<torch::nn::Dropout>()) dropout->options.p(p);
    if (auto* attention = module->as<BertSelfAttention>()) attention->attention_dropout = p;
  }
}

}  // namespace adapterbias
