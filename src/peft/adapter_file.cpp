#include "peft/adapter_file.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <set>
#include <string_view>

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <torch/utils.h>

#include "core/error.h"
#include "core/safetensors.h"

namespace adapterbias {
namespace {

constexpr const char* kMetadataKey = "adapterbias";
// A sparse tensor NAME is stored as NAME + kIndices (I32 flat row-major positions, ascending) and NAME + kValues
// (F32), its shape under the metadata's "sparse_tensors".
constexpr const char* kIndices = ".nonzero_indices";
constexpr const char* kValues = ".nonzero_values";
// A bound on a sparse tensor's dense size, checked before allocating it (a layer's weights are far smaller).
constexpr int64_t kMaxSparseElements = int64_t{1} << 31;

// Adapter tensors are F32, and the indices of sparse-stored ones I32; values must be finite.
void check_adapter_tensor(const std::string& name, const at::Tensor& tensor, const std::string& source) {
  const bool indices = name.ends_with(kIndices);
  const at::ScalarType expected = indices ? at::kInt : at::kFloat;
  if (tensor.scalar_type() != expected)
    throw FormatError(fmt::format("{}: tensor '{}' is {}, but adapter files hold {}", source, name,
                                  c10::toString(tensor.scalar_type()), indices ? "I32 indices" : "F32 values"));
  if (!indices && tensor.numel() > 0 && !at::isfinite(tensor).all().item<bool>())
    throw FormatError(fmt::format("{}: tensor '{}' holds NaN or infinite values", source, name));
}

// The dense tensors of a file whose metadata lists `sparse` ({name: shape}); FormatError naming the file and
// tensor when a sparse pair is missing or inconsistent.
NamedTensors densify(NamedTensors stored, const nlohmann::json& sparse, const std::string& source) {
  if (!sparse.is_object()) throw FormatError(fmt::format("{}: adapter metadata 'sparse_tensors' is not an object", source));
  std::map<std::string, at::Tensor> by_name(stored.begin(), stored.end());
  std::map<std::string, at::Tensor> dense;
  for (const auto& [name, shape_json] : sparse.items()) {
    const auto indices = by_name.find(name + kIndices), values = by_name.find(name + kValues);
    if (indices == by_name.end() || values == by_name.end())
      throw FormatError(fmt::format("{}: sparse tensor '{}' needs '{}{}' and '{}{}'", source, name, name, kIndices,
                                    name, kValues));
    std::vector<int64_t> shape;
    try {
      shape = shape_json.get<std::vector<int64_t>>();
      int64_t numel = 1;
      for (const int64_t d : shape) {
        if (d < 0 || (d > 0 && numel > kMaxSparseElements / d)) throw std::invalid_argument("size");
        numel *= d;
      }
    } catch (const std::invalid_argument&) {
      throw FormatError(fmt::format("{}: sparse tensor '{}' has shape {}: a negative size or more than {} elements",
                                    source, name, shape_json.dump(), kMaxSparseElements));
    } catch (const nlohmann::json::exception&) {
      throw FormatError(fmt::format("{}: sparse tensor '{}' has shape {}, not a list of sizes", source, name,
                                    shape_json.dump()));
    }
    const at::Tensor& idx = indices->second;
    const at::Tensor& val = values->second;
    at::Tensor flat = at::zeros({c10::multiply_integers(shape)}, at::kFloat);
    if (idx.dim() != 1 || val.dim() != 1 || idx.numel() != val.numel() || idx.scalar_type() != at::kInt ||
        (idx.numel() > 0 && (idx.min().item<int64_t>() < 0 || idx.max().item<int64_t>() >= flat.numel())))
      throw FormatError(fmt::format("{}: sparse tensor '{}': {} indices (I32, in [0, {})) and {} values do not match",
                                    source, name, idx.numel(), flat.numel(), val.numel()));
    flat.index_put_({idx.to(at::kLong)}, val.to(at::kFloat));
    dense[name] = flat.view(shape);
    by_name.erase(indices);
    by_name.erase(values);
  }
  NamedTensors out;
  for (auto& [name, tensor] : stored) {
    if (by_name.count(name)) {
      out.emplace_back(name, tensor);
    } else if (name.ends_with(kIndices)) {  // the dense tensor takes its indices' place
      const std::string base = name.substr(0, name.size() - std::string_view(kIndices).size());
      out.emplace_back(base, dense.at(base));
    }
  }
  return out;
}

}  // namespace

nlohmann::json backbone_identity(const Pretrained& pretrained) {
  const BertConfig& c = pretrained.config;
  return {{"model_type", c.model_type},
          {"hidden_size", c.hidden_size},
          {"num_hidden_layers", c.num_hidden_layers},
          {"intermediate_size", c.intermediate_size},
          {"vocab_size", c.vocab_size},
          {"fingerprint", pretrained.fingerprint},
          {"source", pretrained.dir.string()}};
}

nlohmann::json save_adapter(const std::filesystem::path& path, const TaskModel& model, const AdapterInfo& info) {
  // The method's tensors as it saves them (PeftMethod::saved), then the head's, as TaskModel::trainable lists them.
  SavedMethod saved = model.method->saved(const_cast<BertModel&>(model.backbone));
  saved.tensors.push_back({"classifier.weight", model.classifier->weight, true});
  saved.tensors.push_back({"classifier.bias", model.classifier->bias, true});
  NamedTensors tensors;
  nlohmann::json sparse = nlohmann::json::object();
  for (const auto& t : saved.tensors) {
    const at::Tensor dense = t.tensor.detach().to(at::kCPU, at::kFloat).contiguous();
    if (!saved.sparse.count(t.name)) {
      tensors.emplace_back(t.name, dense);
      continue;
    }
    const at::Tensor flat = dense.flatten();
    const at::Tensor indices = at::nonzero(flat).flatten();
    tensors.emplace_back(t.name + kIndices, indices.to(at::kInt));
    tensors.emplace_back(t.name + kValues, flat.index_select(0, indices));
    sparse[t.name] = dense.sizes().vec();
  }
  AdapterInfo out = info;
  out.method = saved.name;
  out.method_options = saved.options;
  nlohmann::json doc = out.to_json();
  if (!saved.notes.empty()) doc["method_notes"] = saved.notes;
  if (!sparse.empty()) doc["sparse_tensors"] = sparse;
  save_safetensors(path, tensors, {{"format", "pt"}, {kMetadataKey, doc.dump()}});
  return doc;
}

AdapterFile read_adapter(const std::filesystem::path& path) {
  const auto file = SafetensorsFile::open(path);
  const auto it = file.metadata().find(kMetadataKey);
  if (it == file.metadata().end())
    throw FormatError(fmt::format("{}: not an adapter file (no '{}' metadata); HINT: adapters are written by "
                                  "`adapterbias train`", path.string(), kMetadataKey));
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: adapter metadata is not valid JSON: {}", path.string(), e.what()));
  }
  AdapterFile adapter{AdapterInfo::from_json(json, path.string()), {}};
  for (const auto& name : file.names()) {
    adapter.tensors.emplace_back(name, file.get(name).clone());
    check_adapter_tensor(name, adapter.tensors.back().second, path.string());
  }
  if (json.contains("sparse_tensors"))
    adapter.tensors = densify(std::move(adapter.tensors), json.at("sparse_tensors"), path.string());
  return adapter;
}

std::vector<at::Tensor> match_trainable(const std::vector<TrainableTensor>& trainable, const NamedTensors& tensors,
                                        const std::string& method, const std::string& source) {
  std::map<std::string, at::Tensor> by_name(tensors.begin(), tensors.end());
  std::set<std::string> expected;
  std::vector<at::Tensor> out;
  for (const auto& t : trainable) {
    expected.insert(t.name);
    const auto it = by_name.find(t.name);
    if (it == by_name.end())
      throw MismatchError(fmt::format("{}: adapter has no tensor '{}' that method '{}' trains", source, t.name, method));
    if (it->second.sizes() != t.tensor.sizes())
      throw MismatchError(fmt::format("{}: tensor '{}' has shape {} but the model needs {}", source, t.name,
                                      c10::str(it->second.sizes()), c10::str(t.tensor.sizes())));
    out.push_back(it->second);
  }
  for (const auto& [name, tensor] : tensors)
    if (!expected.count(name))
      throw MismatchError(fmt::format("{}: unexpected tensor '{}' for method '{}'", source, name, method));
  return out;
}

void load_trainable(const TaskModel& model, const NamedTensors& tensors, const std::string& source) {
  torch::NoGradGuard no_grad;
  const auto trainable = model.trainable();
  const auto values = match_trainable(trainable, tensors, model.method->name(), source);
  for (size_t i = 0; i < trainable.size(); ++i) trainable[i].tensor.copy_(values[i]);
}

void check_adapter_backbone(const AdapterInfo& info, const Pretrained& pretrained, const std::filesystem::path& source) {
  const nlohmann::json ours = backbone_identity(pretrained);
  for (const char* key : {"model_type", "hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size", "fingerprint"}) {
    if (info.backbone.value(key, nlohmann::json()) != ours.at(key))
      throw MismatchError(fmt::format(
          "{}: adapter was made for another backbone: {} {} (from {}), but --model {} has {}; HINT: pass the --model "
          "it was trained with",
          source.string(), key, info.backbone.value(key, nlohmann::json()).dump(),
          info.backbone.value("source", std::string("?")), pretrained.dir.string(), ours.at(key).dump()));
  }
}

void check_adapter_outputs(const AdapterInfo& info, const TaskSpec& task, const std::filesystem::path& source) {
  const auto outputs = [](bool regression, const std::vector<std::string>& labels) {
    return regression ? std::string("regression") : fmt::format("labels [{}]", fmt::join(labels, ", "));
  };
  if (task.regression != info.regression || (!task.regression && task.labels != info.labels))
    throw MismatchError(fmt::format("{}: adapter was trained for task '{}' ({}), but task {} needs {}", source.string(),
                                    info.task, outputs(info.regression, info.labels), task.name,
                                    outputs(task.regression, task.labels)));
}

TaskModel load_task_model(Pretrained& pretrained, const AdapterFile& adapter, const std::filesystem::path& source) {
  const AdapterInfo& info = adapter.info;
  check_adapter_backbone(info, pretrained, source);
  TaskModel model(pretrained.model, make_peft_method(info.method, info.method_options), info.num_labels(), 0.5,
                  parse_pooling(info.pooling));
  load_trainable(model, adapter.tensors, source.string());
  model.eval();
  return model;
}

TaskSpec adapter_task(DataSource& source, const AdapterInfo& info, const std::filesystem::path& adapter_path) {
  if (source.task.empty()) source.task = info.task;
  TaskSpec task;
  if (source.is_glue()) {
    try {
      task = resolve_task(source);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}; HINT: the adapter's task is '{}': for your own data pass --dev FILE (and "
                                   "--text-column ...)",
                                   e.what(), info.task));
    }
  } else {
    source.regression = info.regression;
    task = resolve_task(source, &info.labels);
  }
  check_adapter_outputs(info, task, adapter_path);
  return task;
}

LoadedAdapter load_adapter_model(Pretrained pretrained, AdapterFile file, const std::filesystem::path& path,
                                 const Compute& compute) {
  auto tokenizer = Tokenizer::from_pretrained(pretrained.dir);
  TaskModel model = load_task_model(pretrained, file, path);
  model.set_compute(compute);
  return LoadedAdapter{path, std::move(file), std::move(pretrained), std::move(tokenizer), std::move(model)};
}

}  // namespace adapterbias
