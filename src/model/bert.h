// BERT and RoBERTa encoders, module for module as Hugging Face's modeling_bert.py / modeling_roberta.py, so
// that named_parameters() equal the checkpoint keys (without the "bert." / "roberta." prefix).
//
// Dimension legend: B batch, T sequence length, N real tokens of a packed batch, H hidden size, I intermediate size, NH attention heads,
// D = H / NH head size, L layers.
//
// Injection points for PEFT methods (docs/adding-a-method.md): every BertSelfOutput
// ("encoder.layer.N.attention.output") and BertOutput ("encoder.layer.N.output") holds a list of
// OutputAdapters applied to the sublayer's output before the residual and the LayerNorm; every
// BertSelfAttention projection ("encoder.layer.N.attention.self.{query,key,value}") holds a list of
// LinearAdapters applied to the projection's output (LoRA).
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "model/compute.h"
#include "model/config.h"
#include "model/task_routing.h"

namespace adapterbias {

// The packed form of a batch: every row's tokens one after another, no padding, and the layout attention needs
// to keep sequences apart. Built on the host from the rows' lengths (collate_packed), so nothing is read back.
struct PackedSequences {
  at::Tensor cu_seqlens;    // (B + 1) int32: sequence b holds rows cu_seqlens[b] .. cu_seqlens[b + 1] - 1
  at::Tensor position_ids;  // (N) int64: each token's position in its own sequence, from 0
  at::Tensor first_token;   // (B) int64: the row of each sequence's first token ([CLS] / <s>), for the pooler
  at::Tensor grid_index;    // (N) int64: each token's cell b * max_length + t in the (B, max_length) grid
  at::Tensor grid_mask;     // (B, 1, 1, max_length) bool, true on real tokens: attention on that grid (CPU)
  int64_t max_length = 0;   // the grid's length: the longest sequence (widen_packed: or more)

  bool defined() const { return cu_seqlens.defined(); }
};

// The encoder's input, in one of two forms. Padded: (B, T) tensors with attention_mask 1 for real tokens and
// 0 for padding. Packed: (N) tensors of the batch's real tokens and `packed` (linear layers, shifts and
// LayerNorms then touch real tokens only). Rows of several tasks mix when task_index and task_stacks are set.
struct EncoderInput {
  at::Tensor input_ids;       // (B, T) | packed (N), int64
  at::Tensor token_type_ids;  // same shape; undefined means all zeros
  at::Tensor attention_mask;  // padded only: (B, T) int64; undefined means no padding
  bool has_padding = true;    // padded only: false when every row is full, so attention needs no mask
  PackedSequences packed;     // defined: the packed form
  at::Tensor task_index;      // (B) int64: each row's task, a row of task_stacks; (1): every row's; undefined: one task
  std::shared_ptr<const TaskStacks> task_stacks;  // the tasks' tensors (model/task_routing.h)

  bool is_packed() const { return packed.defined(); }
  EncoderInput to(const c10::Device& device) const;  // every tensor on `device`
};

// Which of the last layer's states a forward computes. A head on the pooler or on [CLS] reads each sequence's
// first token alone, and nothing else depends on the last layer's other tokens: under first_tokens the last
// layer computes keys and values for every token but queries, attention output, FFN and LayerNorms for the first
// tokens only. Exact, and 10 of the last layer's 12 H^2 multiply-adds per token skipped (MiniLM-L6: 14% of the
// encoder's products, forward and backward).
enum class LastLayer { every_token, first_tokens };
// What serves readers of a and of b: every token if either reads it.
inline LastLayer both(LastLayer a, LastLayer b) { return a == LastLayer::every_token ? a : b; }

struct EncoderOutput {
  at::Tensor last_hidden_state;  // (B, T, H) | packed (N, H); undefined under LastLayer::first_tokens
  at::Tensor first_tokens;       // (B, H): each sequence's first token's ([CLS] / <s>) last hidden state
  at::Tensor pooler_output;      // (B, H); undefined when the model has no pooler
};

// Each sequence's first token ([CLS] / <s>) of hidden states (B, T, H) | packed (rows, H) -> (B, H).
at::Tensor first_token_states(const at::Tensor& hidden, const PackedSequences* packed);

// How attention moves the packed rows (N real ones, then any filler rows) into its (B, NH, T, D) grid and back:
// one gather_rows each way, whose backward is the gather the other way (model/row_gather.h). Built once per
// forward from the packed layout, on its device, wherever attention runs on the grid (every path but varlen
// flash attention). The grid's padding cells read the first filler row, and filler rows read one padding cell;
// both have zero gradients (a padding key has probability 0, a padding query's output is never read, a filler
// row reaches nothing), which is what lets each backward be a gather. So a layout with padding cells has a
// filler row and one with filler rows has a padding cell (BertModelImpl::forward sees to it).
struct AttentionGathers {
  at::Tensor grid_from_fused;  // (3 B NH T): each q | k | v cell's row of a (rows 3 NH, D) view of fused q|k|v
  at::Tensor fused_from_grid;  // (rows 3 NH): the inverse
  at::Tensor rows_from_grid;   // (rows NH): each (row, head)'s cell of the (B NH T, D) context grid
  at::Tensor grid_from_rows;   // (B NH T): the inverse

  bool defined() const { return rows_from_grid.defined(); }
};

// What every layer needs to know of the batch, built once per forward: how attention keeps sequences apart (a
// padding mask, or the packed layout) and which task each token belongs to.
struct ForwardContext {
  at::Tensor mask;                          // padded: (B, 1, 1, T) bool; undefined when nothing is padding
  const PackedSequences* packed = nullptr;  // packed form
  AttentionGathers gathers;                 // packed, off varlen flash attention
  TaskRouting tasks;                        // per token: padded (B, 1), packed (N)
};

// A change a PEFT method makes at an injection point: given the sublayer's input (the FFN's intermediate
// activations h, or the attention context) and its output after dense + dropout, returns the new output. Its
// tensors are read through `tasks` (TaskRouting::select / linear), so that rows of several tasks can mix.
class OutputAdapter : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& sublayer_input, const at::Tensor& sublayer_output,
                             const TaskRouting& tasks) = 0;
};

// A change a PEFT method makes to one of the attention projections: given the projection's input x (B, T, H)
// and its output W x + b, returns the new output (LoRA: W x + b + (alpha / r) B A x). The adapter's own
// submodules are registered on the projection under their own names, so that their parameters are named as
// PEFT names them: "encoder.layer.N.attention.self.query.lora_A.weight". It holds no parameters of its own.
class LinearAdapter : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& base_out, const TaskRouting& tasks) = 0;
};

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& config);
  at::Tensor forward(const EncoderInput& input, const TaskRouting& tasks);  // -> (B, T, H)

  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr}, token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  torch::nn::Dropout dropout{nullptr};

 private:
  bool roberta_positions_;  // RoBERTa counts positions from padding_idx + 1 and skips padding
  int64_t padding_idx_;
};
TORCH_MODULE(BertEmbeddings);

class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& config);
  // hidden (B, T, H) | packed (N, H) -> context of the same shape
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context);
  // The context of the first tokens only (LastLayer::first_tokens): their queries, `first` (B, H) routed by
  // `first_tasks`, against the keys and values of every token of `hidden` -> (B, H).
  at::Tensor forward_first_tokens(const at::Tensor& hidden, const at::Tensor& first, const ForwardContext& context,
                                  const TaskRouting& first_tasks);
  // Adds `adapter` to `projection` ("query", "key" or "value"); its submodules become "<projection>.<name>".
  void add_adapter(const std::string& projection, std::shared_ptr<LinearAdapter> adapter);
  void clear_adapters();
  const std::vector<std::shared_ptr<LinearAdapter>>& adapters(const std::string& projection) const;
  // Lays the query, key and value weights out as one (3H, H) tensor and their biases as one (3H), each
  // projection's own tensors becoming views of it, so that a forward where all three are frozen and plain (no
  // adapters, no per-task values) runs one matrix product instead of three. BertModelImpl::set_compute calls it.
  void fuse_projections();

  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
  double attention_dropout;  // on the attention probabilities, in training only

 private:
  struct Projections {
    at::Tensor q, k, v;  // (..., H) each
    at::Tensor fused;    // (..., 3H) when one product made all three (q, k and v are then its views)
  };
  // q, k and v of `hidden`: one product with the fused weight where that applies, else each projection and its
  // adapters.
  Projections project_all(const at::Tensor& hidden, const TaskRouting& tasks);
  bool fused_applies(const TaskRouting& tasks) const;
  // A projection followed by its adapters: adapters(x, linear(x)).
  at::Tensor project(torch::nn::Linear& linear, const std::vector<std::shared_ptr<LinearAdapter>>& adapters,
                     const at::Tensor& x, const TaskRouting& tasks);
  // q, k and v as one (3, B, NH, T, D) view of the projections (a copy only when they are separate tensors).
  at::Tensor stacked_heads(const Projections& qkv, int64_t B, int64_t T) const;
  // softmax(q k^T / sqrt(D) + mask) v with dropout in training: qkv (3, B, NH, T, D), mask (B, 1, 1, T) or
  // undefined; returns (B, NH, T, D).
  at::Tensor attend(const at::Tensor& qkv, const at::Tensor& mask);
  // softmax(q k^T / sqrt(D)) v per packed sequence: q, k, v (N, H) -> (N, H). Varlen flash attention when
  // `gathers` is undefined, else attend() on the grid.
  at::Tensor packed_attention(const Projections& qkv, const PackedSequences& packed, const AttentionGathers& gathers);
  std::vector<std::shared_ptr<LinearAdapter>>& adapter_list(const std::string& projection);
  torch::nn::Linear& projection_module(const std::string& projection);

  int64_t num_heads_;
  std::vector<std::shared_ptr<LinearAdapter>> query_adapters_, key_adapters_, value_adapters_;
  at::Tensor fused_weight_, fused_bias_;  // (3H, H), (3H): query, key, value; see fuse_projections
};
TORCH_MODULE(BertSelfAttention);

// Shared shape of BertSelfOutput and BertOutput: LayerNorm(adapters(dropout(dense(x))) + residual).
class SublayerOutputImpl : public torch::nn::Module {
 public:
  SublayerOutputImpl(int64_t in_features, const BertConfig& config);
  at::Tensor forward(const at::Tensor& sublayer_input, const at::Tensor& residual, const TaskRouting& tasks);
  // Registers `adapter` under `name` (its parameters become "<this path>.<name>.*").
  void add_adapter(const std::string& name, std::shared_ptr<OutputAdapter> adapter);
  void clear_adapters();
  const std::vector<std::shared_ptr<OutputAdapter>>& adapters() const { return adapters_; }

  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  torch::nn::Dropout dropout{nullptr};

 private:
  std::vector<std::string> adapter_names_;
  std::vector<std::shared_ptr<OutputAdapter>> adapters_;
};
TORCH_MODULE(SublayerOutput);

class BertAttentionImpl : public torch::nn::Module {
 public:
  explicit BertAttentionImpl(const BertConfig& config);
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context);
  // Only the first tokens' outputs: (B, H), see BertSelfAttentionImpl::forward_first_tokens.
  at::Tensor forward_first_tokens(const at::Tensor& hidden, const at::Tensor& first, const ForwardContext& context,
                                  const TaskRouting& first_tasks);

  BertSelfAttention self_attention{nullptr};  // "self"
  SublayerOutput output{nullptr};             // "output": BertSelfOutput
};
TORCH_MODULE(BertAttention);

class BertIntermediateImpl : public torch::nn::Module {
 public:
  explicit BertIntermediateImpl(const BertConfig& config);
  at::Tensor forward(const at::Tensor& hidden, const TaskRouting& tasks);  // (B, T, H) -> h (B, T, I)

  torch::nn::Linear dense{nullptr};

 private:
  std::string activation_;
};
TORCH_MODULE(BertIntermediate);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& config);
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context);
  // The layer's output at each sequence's first token only: (B, H), rows routed by `first_tasks`.
  at::Tensor forward_first_tokens(const at::Tensor& hidden, const ForwardContext& context,
                                  const TaskRouting& first_tasks);

  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  SublayerOutput output{nullptr};  // BertOutput: the FFN's output projection W2, b2
};
TORCH_MODULE(BertLayer);

class BertEncoderImpl : public torch::nn::Module {
 public:
  explicit BertEncoderImpl(const BertConfig& config);
  at::Tensor forward(at::Tensor hidden, const ForwardContext& context);
  // Every layer but the last on every token, the last on the first tokens: (B, H).
  at::Tensor forward_first_tokens(at::Tensor hidden, const ForwardContext& context, const TaskRouting& first_tasks);

  std::vector<BertLayer> layers;  // registered as "layer.N"

 private:
  torch::nn::ModuleList layer_list_{nullptr};
};
TORCH_MODULE(BertEncoder);

class BertPoolerImpl : public torch::nn::Module {
 public:
  explicit BertPoolerImpl(const BertConfig& config);
  // tanh(dense(first token of each row)): (B, H) -> (B, H); `tasks` routes the rows
  at::Tensor forward(const at::Tensor& first_tokens, const TaskRouting& tasks);

  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertPooler);

class BertModelImpl : public torch::nn::Module {
 public:
  explicit BertModelImpl(const BertConfig& config, bool add_pooling_layer = true);
  EncoderOutput forward(const EncoderInput& input, LastLayer last_layer = LastLayer::every_token);

  // Sets the dropout probability of every dropout in the encoder (embeddings, attention, outputs).
  void set_dropout(double p);

  // Moves the model to compute.device and computes in its precision from then on. bf16 stores every frozen
  // Linear weight and bias (requires_grad false) in bf16 once, and frozen query/key/value are fused
  // (BertSelfAttentionImpl::fuse_projections), so call it after the trainable tensors are marked.
  void set_compute(const Compute& compute);
  const Compute& compute() const { return compute_; }

  const BertConfig& config() const { return config_; }
  BertEmbeddings embeddings{nullptr};
  BertEncoder encoder{nullptr};
  BertPooler pooler{nullptr};

 private:
  BertConfig config_;
  Compute compute_;
};
TORCH_MODULE(BertModel);

}  // namespace adapterbias
