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
      if (std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) throw std::invalid_argument("size");
    } catch (const std::invalid_argument&) {
      throw FormatError(fmt::format("{}: sparse tensor '{}' has a negative size in {}", source, name, shape_json.dump()));
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

template <typename T>
T field(const nlohmann::json& json, const char* key, const std::string& source) {
  if (!json.contains(key)) throw FormatError(fmt::format("{}: adapter metadata has no field '{}'", source, key));
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw FormatError(fmt::format("{}: adapter metadata field '{}' has the wrong type", source, key));
  }
}

}  // namespace

nlohmann::json AdapterInfo::to_json() const {
  return {{"format_version", kAdapterFormatVersion},
          {"method", method},
          {"method_options", method_options},
          {"task", task},
          {"labels", labels},
          {"regression", regression},
          {"max_length", max_length},
          {"backbone", backbone},
          {"trainable_parameters", trainable_parameters},
          {"backbone_parameters", backbone_parameters},
          {"trainable_share", backbone_parameters > 0 ? double(trainable_parameters) / backbone_parameters : 0.0},
          {"metrics", metrics},
          {"training", training}};
}

AdapterInfo AdapterInfo::from_json(const nlohmann::json& json, const std::string& source) {
  const int version = field<int>(json, "format_version", source);
  if (version != kAdapterFormatVersion)
    throw FormatError(fmt::format("{}: adapter format version {} is not supported (this build reads {})", source,
                                  version, kAdapterFormatVersion));
  AdapterInfo info;
  info.method = field<std::string>(json, "method", source);
  info.method_options = json.value("method_options", nlohmann::json::object());
  info.task = field<std::string>(json, "task", source);
  info.labels = field<std::vector<std::string>>(json, "labels", source);
  info.regression = field<bool>(json, "regression", source);
  info.max_length = field<int64_t>(json, "max_length", source);
  info.backbone = field<nlohmann::json>(json, "backbone", source);
  info.trainable_parameters = json.value("trainable_parameters", int64_t{0});
  info.backbone_parameters = json.value("backbone_parameters", int64_t{0});
  info.metrics = json.value("metrics", nlohmann::json::object());
  info.training = json.value("training", nlohmann::json::object());
  if (!info.regression && info.labels.size() < 2)
    throw FormatError(fmt::format("{}: a classification adapter needs at least 2 labels", source));
  return info;
}

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
  for (const auto& name : file.names()) adapter.tensors.emplace_back(name, file.get(name).clone());
  if (json.contains("sparse_tensors"))
    adapter.tensors = densify(std::move(adapter.tensors), json.at("sparse_tensors"), path.string());
  return adapter;
}

void load_trainable(const TaskModel& model, const NamedTensors& tensors, const std::string& source) {
  torch::NoGradGuard no_grad;
  std::map<std::string, at::Tensor> by_name(tensors.begin(), tensors.end());
  std::set<std::string> expected;
  for (const auto& t : model.trainable()) {
    expected.insert(t.name);
    const auto it = by_name.find(t.name);
    if (it == by_name.end())
      throw MismatchError(fmt::format("{}: adapter has no tensor '{}' that method '{}' trains", source, t.name,
                                      model.method->name()));
    if (it->second.sizes() != t.tensor.sizes())
      throw MismatchError(fmt::format("{}: tensor '{}' has shape {} but the model needs {}", source, t.name,
                                      c10::str(it->second.sizes()), c10::str(t.tensor.sizes())));
    t.tensor.copy_(it->second);
  }
  for (const auto& [name, tensor] : tensors)
    if (!expected.count(name))
      throw MismatchError(fmt::format("{}: unexpected tensor '{}' for method '{}'", source, name, model.method->name()));
}

TaskModel load_task_model(Pretrained& pretrained, const AdapterFile& adapter, const std::filesystem::path& source) {
  const AdapterInfo& info = adapter.info;
  const nlohmann::json ours = backbone_identity(pretrained);
  for (const char* key : {"model_type", "hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size", "fingerprint"}) {
    if (info.backbone.value(key, nlohmann::json()) != ours.at(key))
      throw MismatchError(fmt::format(
          "{}: adapter was made for another backbone: {} {} (from {}), but --model {} has {}; HINT: pass the --model "
          "it was trained with",
          source.string(), key, info.backbone.value(key, nlohmann::json()).dump(),
          info.backbone.value("source", std::string("?")), pretrained.dir.string(), ours.at(key).dump()));
  }
  TaskModel model(pretrained.model, make_peft_method(info.method, info.method_options), info.num_labels());
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
  const auto outputs = [](bool regression, const std::vector<std::string>& labels) {
    return regression ? std::string("regression") : fmt::format("labels [{}]", fmt::join(labels, ", "));
  };
  if (task.regression != info.regression || (!task.regression && task.labels != info.labels))
    throw MismatchError(fmt::format("{}: adapter was trained for task '{}' ({}), but task {} needs {}",
                                    adapter_path.string(), info.task, outputs(info.regression, info.labels), task.name,
                                    outputs(task.regression, task.labels)));
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
