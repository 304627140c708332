// What a parameter-efficient fine-tuning method is here: a config, an injection into the backbone through its
// declared injection points (model/bert.h), and the list of tensors it trains. Everything not on that list is
// frozen by TaskModel (requires_grad false: no gradient buffers, no weight-gradient work).
// Adding a method: docs/adding-a-method.md.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/bert.h"

namespace adapterbias {

struct TrainableTensor {
  std::string name;  // Hugging Face module path, e.g. "encoder.layer.3.output.adapter_bias.v"
  at::Tensor tensor;
  bool weight_decay;  // AdamW group: decay on weights and vectors, none on biases and LayerNorms
  double lr_scale = 1.0;  // times the run's learning rate (adapterbias-l0's gates need to move faster than v)
};

// What save_adapter writes for a method: its name and options (the adapter's metadata), its tensors (the file's,
// before the task head's), and notes (written as the metadata's "method_notes" when not empty). By default the
// method as it trains; a method may save as another (adapterbias-l0 saves as "adapterbias", gates folded in).
struct SavedMethod {
  std::string name;
  nlohmann::json options;
  std::vector<TrainableTensor> tensors;
  nlohmann::json notes = nlohmann::json::object();
  std::set<std::string> sparse;  // names of tensors the file stores as their non-zeros only (docs/adapter-format.md)
};

class PeftMethod {
 public:
  virtual ~PeftMethod() = default;
  virtual std::string name() const = 0;
  virtual nlohmann::json options() const = 0;
  // Adds the method's modules to a freshly loaded backbone. The output is unchanged at initialisation.
  virtual void inject(BertModel& model) = 0;
  // The tensors the method trains (the task head is added by TaskModel), in a fixed order.
  virtual std::vector<TrainableTensor> trainable(BertModel& model) const = 0;
  // Whether merge() can fold the method into the backbone's own weights for export.
  virtual bool mergeable() const { return false; }
  // Folds the method into the backbone weights and removes its modules; the output is unchanged (eval mode).
  virtual void merge(BertModel& model);
  // A term the trainer adds to each step's training loss (Trainer::step), computed from the method's
  // tensors; undefined (the default): none. adapterbias-l0: the expected-L0 penalty of its gates.
  virtual at::Tensor regularization(BertModel&) const { return {}; }
  // What the adapter file stores (see SavedMethod); default: name(), options(), trainable(model), no notes.
  virtual SavedMethod saved(BertModel& model) const;
};

// The registry: a method by name ("adapterbias", "adapterbias-l0", "adapterbias-shared", "bitfit", "full", "head",
// "houlsby", "lora"), with its options as JSON (missing options take their defaults). Throws InputError listing the known names.
std::unique_ptr<PeftMethod> make_peft_method(std::string_view name, const nlohmann::json& options = {});
std::vector<std::string> peft_method_names();

// The trainable LayerNorms outside attention shared by AdapterBias and Houlsby adapters: the embeddings
// LayerNorm and each layer's output LayerNorm (no weight decay).
void append_output_layer_norms(BertModel& model, std::vector<TrainableTensor>& out);

}  // namespace adapterbias
