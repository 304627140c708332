// Task adapter files: one safetensors file holding exactly the trainable tensors (named by module path) and,
// in its __metadata__ under the key "adapterbias", a JSON document: method and options, task and labels,
// max length, the backbone's identity and fingerprint, parameter counts, metrics. Format: docs/adapter-format.md.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/data_source.h"
#include "peft/adapter_info.h"
#include "model/checkpoint.h"
#include "model/compute.h"
#include "tokenizer/tokenizer.h"
#include "peft/task_model.h"

namespace adapterbias {

// What an adapter records about its backbone: model_type, sizes, and the weights' fingerprint.
nlohmann::json backbone_identity(const Pretrained& pretrained);

// Writes the adapter file; returns the metadata document it stored (AdapterInfo plus method_notes, sparse_tensors).
nlohmann::json save_adapter(const std::filesystem::path& path, const TaskModel& model, const AdapterInfo& info);

struct AdapterFile {
  AdapterInfo info;
  NamedTensors tensors;  // dense (sparse-stored tensors expanded)
};
// Throws FormatError naming the file when it is not an adapter file.
AdapterFile read_adapter(const std::filesystem::path& path);

// MismatchError when the adapter was made for another backbone (fingerprint or sizes differ).
void check_adapter_backbone(const AdapterInfo& info, const Pretrained& pretrained, const std::filesystem::path& source);

// MismatchError when the adapter's outputs (labels in order, or regression) are not the task's.
void check_adapter_outputs(const AdapterInfo& info, const TaskSpec& task, const std::filesystem::path& source);

// Builds the adapter's method and head on `pretrained` and loads its tensors. Throws MismatchError when the
// adapter was made for another backbone (fingerprint or sizes differ) or its tensors do not match the method.
TaskModel load_task_model(Pretrained& pretrained, const AdapterFile& adapter, const std::filesystem::path& source);

// Copies `tensors` into the model's trainable tensors; the names must be exactly the trainable set.
void load_trainable(const TaskModel& model, const NamedTensors& tensors, const std::string& source);

// The adapter's tensor for each of `trainable`, in its order. MismatchError for a tensor missing, unexpected or of
// another shape, naming `source`.
std::vector<at::Tensor> match_trainable(const std::vector<TrainableTensor>& trainable, const NamedTensors& tensors,
                                        const std::string& method, const std::string& source);

// The task an adapter runs on: source.task (the adapter's own task when empty) from GLUE, or own data with the
// adapter's labels and kind; `source` is completed with both. MismatchError when the task's outputs are not the
// adapter's.
TaskSpec adapter_task(DataSource& source, const AdapterInfo& info, const std::filesystem::path& adapter_path);

// The length inputs of an adapter are truncated to: `override_length` (--max-length) when > 0, else the length
// it was trained with. InputError when the backbone's positions cannot hold that many tokens.
inline int64_t adapter_max_length(const BertConfig& config, const AdapterInfo& info, const std::filesystem::path& source,
                                  int64_t override_length = 0) {
  return override_length > 0 ? config.checked_max_length(override_length, "--max-length")
                             : config.checked_max_length(info.max_length, source.string() + ": the adapter's max_length");
}

// An adapter ready to run: its file, the backbone it is injected into, that backbone's tokenizer, the model
// (eval mode, on its compute).
struct LoadedAdapter {
  std::filesystem::path path;
  AdapterFile file;
  Pretrained pretrained;
  std::unique_ptr<Tokenizer> tokenizer;
  TaskModel model;

  const AdapterInfo& info() const { return file.info; }
  // `max_length` when > 0, else the length the adapter was trained with; InputError when the backbone's
  // positions cannot hold that many tokens.
  int64_t max_length(int64_t override_length = 0) const {
    return adapter_max_length(pretrained.config, file.info, path, override_length);
  }
};

// Loads the backbone `pretrained` (a fresh load_pretrained, or a copy_pretrained to keep an original), injects
// the adapter (load_task_model's checks) and puts it on `compute`.
LoadedAdapter load_adapter_model(Pretrained pretrained, AdapterFile file, const std::filesystem::path& path,
                                 const Compute& compute);

}  // namespace adapterbias
