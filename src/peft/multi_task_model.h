// Many tasks on one backbone (DESIGN.md "One backbone, many tasks"): one frozen backbone, K task adapters from
// their files, and one forward pass for a batch whose rows belong to any of them.
//
// Each method a task uses is injected once. Every tensor a task trains gets a stack over the K tasks
// (model/task_routing.h): v (K, H) and L_alpha (K, 1, I) + (K, 1) per layer, LayerNorm gamma and beta (K, H),
// BitFit biases, LoRA and Houlsby factors. A task that does not train a tensor has the tensor's own value in
// its row, which is the backbone's output for that part (an adapter's identity at initialisation: v = 0, LoRA's
// B = 0, Houlsby's up = 0). Heads are per task, stacked (K, max labels, H) and gathered per row.
// Adding a task costs its adapter's tensors, not a backbone.
//
// Mixable: adapterbias (shared L_alpha included: each layer gets its copy), adapterbias-l0 (saved as
// adapterbias), bitfit, head, lora, houlsby. Not full: it changes the frozen weights themselves.
// It holds tensors only (the caller tokenises with the backbone's tokenizer). One thread at a time.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "model/checkpoint.h"
#include "model/compute.h"
#include "model/pooling.h"
#include "peft/adapter_file.h"

namespace adapterbias {

struct ServedTask {
  std::string name;              // how requests name it
  std::filesystem::path source;  // the adapter file
  AdapterInfo info;
  int64_t tensor_bytes = 0;      // of its tensors in fp32, the head's included
};

class MultiTaskModel {
 public:
  // The backbone every task was trained on, put on `compute`.
  MultiTaskModel(Pretrained pretrained, const Compute& compute);

  // Adds a task under `name` (letters, digits, '.', '_', '-'; at most 64). InputError for a taken or bad name
  // and for full fine-tuning; MismatchError for an adapter of another backbone, tensors that are not its
  // method's, or options that differ from a loaded task's of the same method (lora's r and alpha, houlsby's
  // bottleneck).
  void add_task(const std::string& name, const AdapterFile& adapter, const std::filesystem::path& source);
  void remove_task(std::string_view name);  // InputError when no task has that name

  // A task's row: InputError naming the loaded tasks when unknown.
  int64_t task_index(std::string_view name) const;
  const std::vector<ServedTask>& tasks() const { return tasks_; }
  int64_t max_outputs() const { return head_weight_.defined() ? head_weight_.size(1) : 0; }
  int64_t num_tasks() const { return static_cast<int64_t>(tasks_.size()); }

  // Logits (B, max_outputs()) fp32 on the CPU for a batch whose input.task_index (B) names each row's task;
  // row b's first tasks()[task_index[b]].info.num_labels() columns are its task's, the rest are zero. Eval mode,
  // no gradients.
  at::Tensor forward(EncoderInput input);
  // The encoder's outputs on the model's device: under each row's task when input.task_index is set, else the
  // backbone alone (every injected method at its identity).
  EncoderOutput encode(EncoderInput input, LastLayer last_layer = LastLayer::every_token);
  // What the heads need of the last layer: the first tokens, unless a loaded task pools the mean of every token.
  LastLayer heads_read() const;
  // What each row's head reads (B, H) fp32, by its task's pooling (AdapterInfo::pooling): the pooler output
  // when every loaded task reads it. `input` as given to encode, `out` what it returned (encoded with at least
  // heads_read()).
  at::Tensor head_input(const EncoderInput& input, const EncoderOutput& out) const;
  // The heads of `task_index` (B) on `pooled` (B, H): logits as forward() gives them.
  at::Tensor head_logits(const at::Tensor& pooled, const at::Tensor& task_index) const;

  const Pretrained& pretrained() const { return pretrained_; }
  const Compute& compute() const { return compute_; }
  // Bytes of all task stacks and heads (what the loaded tasks cost beyond the backbone).
  int64_t task_bytes() const;

 private:
  void inject(const std::string& method, const nlohmann::json& options);
  void rebuild_routing();

  Pretrained pretrained_;
  Compute compute_;
  std::vector<ServedTask> tasks_;
  std::map<std::string, nlohmann::json> injected_;               // method -> its options, as injected
  std::map<std::string, std::set<std::string>> method_tensors_;  // method -> the tensors its injection added
  std::map<std::string, at::Tensor> parameters_;                 // the backbone's tensors by name, methods' included
  // Rows 0..K-1 are the tasks'; the first dimension is a capacity that doubles, so that adding the k-th task
  // copies one row, not k.
  std::map<std::string, at::Tensor> stacks_;  // name -> (capacity, shape...) fp32 on the device
  at::Tensor head_weight_, head_bias_;         // (capacity, max C, H), (capacity, max C), zero beyond a task's C
  std::shared_ptr<TaskStacks> routing_;
};

}  // namespace adapterbias
