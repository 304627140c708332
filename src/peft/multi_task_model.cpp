#include "peft/multi_task_model.h"

#include <algorithm>
#include <set>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/utils.h>

#include "core/error.h"

namespace adapterbias {
namespace {

void check_task_name(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
  if (!ok)
    throw InputError(fmt::format("task name '{}': use 1 to 64 letters, digits, '.', '_' or '-'", name));
}

// Writes `value` into row k of `rows` (capacity, shape...), doubling the capacity when k is past it.
void set_row(at::Tensor& rows, int64_t k, const at::Tensor& value) {
  if (k >= rows.size(0)) {
    std::vector<int64_t> shape = rows.sizes().vec();
    shape[0] = std::max<int64_t>(1, 2 * rows.size(0));
    at::Tensor grown = at::zeros(shape, rows.options());
    grown.narrow(0, 0, rows.size(0)).copy_(rows);
    rows = grown;
  }
  rows[k].copy_(value);
}

// A stack of `k` copies of `value`, with room for one more row.
at::Tensor repeated_rows(const at::Tensor& value, int64_t k) {
  std::vector<int64_t> shape = value.sizes().vec();
  shape.insert(shape.begin(), std::max<int64_t>(1, 2 * k));
  at::Tensor rows = at::zeros(shape, value.options());
  if (k > 0) rows.narrow(0, 0, k).copy_(value.unsqueeze(0).expand_as(rows.narrow(0, 0, k)));
  return rows;
}

// Rows k+1..K-1 move down one.
void remove_row(at::Tensor& rows, int64_t k, int64_t K) {
  if (k + 1 < K) rows.narrow(0, k, K - k - 1).copy_(rows.narrow(0, k + 1, K - k - 1).clone());
}

// A file of adapterbias with one shared L_alpha, as each layer's own copy: the one structure every adapterbias
// task mixes in.
NamedTensors unshare_alpha(const NamedTensors& tensors, int64_t num_layers) {
  NamedTensors out;
  for (const auto& [name, tensor] : tensors) {
    if (name == "encoder.adapter_bias.alpha.weight" || name == "encoder.adapter_bias.alpha.bias") {
      const std::string local = name.substr(std::string("encoder.adapter_bias.").size());
      for (int64_t l = 0; l < num_layers; ++l)
        out.emplace_back(fmt::format("encoder.layer.{}.output.adapter_bias.{}", l, local), tensor);
    } else {
      out.emplace_back(name, tensor);
    }
  }
  return out;
}

}  // namespace

MultiTaskModel::MultiTaskModel(Pretrained pretrained, const Compute& compute)
    : pretrained_(std::move(pretrained)), compute_(compute) {
  if (!pretrained_.model->pooler)
    throw InputError(fmt::format("{}: the backbone has no pooler, which task heads need", pretrained_.dir.string()));
  for (auto& p : pretrained_.model->parameters()) p.set_requires_grad(false);
  pretrained_.model->set_compute(compute_);
  pretrained_.model->eval();
  for (const auto& p : pretrained_.model->named_parameters()) parameters_[p.key()] = p.value();
  routing_ = std::make_shared<TaskStacks>();
}

void MultiTaskModel::inject(const std::string& method, const nlohmann::json& options) {
  if (const auto it = injected_.find(method); it != injected_.end()) {
    if (it->second != options)
      throw MismatchError(fmt::format("method '{}' with options {}, but the loaded tasks of that method have {}: tasks "
                                      "of one method share its options",
                                      method, options.dump(), it->second.dump()));
    return;
  }
  BertModel& model = pretrained_.model;
  make_peft_method(method, options)->inject(model);
  for (const auto& p : model->named_parameters()) {
    if (parameters_.count(p.key())) continue;
    method_tensors_[method].insert(p.key());
    parameters_[p.key()] = p.value();
    p.value().set_requires_grad(false);
  }
  model->set_compute(compute_);  // the new modules onto the device
  model->eval();
  injected_[method] = options;
}

void MultiTaskModel::add_task(const std::string& name, const AdapterFile& adapter, const std::filesystem::path& source) {
  check_task_name(name);
  for (const auto& task : tasks_)
    if (task.name == name)
      throw InputError(fmt::format("task name '{}' is taken (by {})", name, task.source.string()));
  const AdapterInfo& info = adapter.info;
  check_adapter_backbone(info, pretrained_, source);
  if (info.method == "full")
    throw InputError(fmt::format("{}: method 'full' fine-tuned the backbone itself, so it cannot share one; HINT: "
                                 "`adapterbias merge` it and run the merged checkpoint on its own",
                                 source.string()));
  const BertConfig& config = pretrained_.config;
  NamedTensors tensors = adapter.tensors;
  nlohmann::json options = make_peft_method(info.method, info.method_options)->options();  // defaults filled in
  if (info.method == "adapterbias" && options.value("share_alpha", false)) {
    tensors = unshare_alpha(tensors, config.num_hidden_layers);
    options["share_alpha"] = false;
  }
  inject(info.method, options);

  // The tensors this task's method trains, on the shared backbone: those of the other injected methods aside
  // (BitFit's "every bias" means the backbone's).
  std::vector<TrainableTensor> expected;
  for (auto& t : make_peft_method(info.method, options)->trainable(pretrained_.model)) {
    bool other = false;
    for (const auto& [method, names] : method_tensors_) other = other || (method != info.method && names.count(t.name));
    if (!other) expected.push_back(std::move(t));
  }
  const int64_t C = info.num_labels(), H = config.hidden_size;
  expected.push_back({"classifier.weight", at::empty({C, H}), true});
  expected.push_back({"classifier.bias", at::empty({C}), false});
  const auto values = match_trainable(expected, tensors, info.method, source.string());

  torch::NoGradGuard no_grad;
  const int64_t k = num_tasks();
  const auto on_device = [&](const at::Tensor& t) { return t.detach().to(compute_.device, at::kFloat); };
  std::map<std::string, at::Tensor> own_rows;
  int64_t bytes = 0;
  for (size_t i = 0; i + 2 < expected.size(); ++i) own_rows[expected[i].name] = on_device(values[i]);
  for (const auto& value : values) bytes += value.numel() * 4;
  for (const auto& [tensor_name, row] : own_rows)
    if (!stacks_.count(tensor_name)) stacks_[tensor_name] = repeated_rows(on_device(parameters_.at(tensor_name)), k);
  for (auto& [tensor_name, rows] : stacks_) {
    const auto it = own_rows.find(tensor_name);
    set_row(rows, k, it != own_rows.end() ? it->second : on_device(parameters_.at(tensor_name)));
  }

  // Heads: padded to the most labels of any task.
  const at::Tensor weight = on_device(values[values.size() - 2]), bias = on_device(values.back());
  if (!head_weight_.defined()) {
    head_weight_ = at::zeros({1, C, H}, weight.options());
    head_bias_ = at::zeros({1, C}, weight.options());
  } else if (C > head_weight_.size(1)) {
    head_weight_ = at::constant_pad_nd(head_weight_, {0, 0, 0, C - head_weight_.size(1)});
    head_bias_ = at::constant_pad_nd(head_bias_, {0, C - head_bias_.size(1)});
  }
  const int64_t max_c = head_weight_.size(1);
  set_row(head_weight_, k, at::constant_pad_nd(weight, {0, 0, 0, max_c - C}));
  set_row(head_bias_, k, at::constant_pad_nd(bias, {0, max_c - C}));

  tasks_.push_back(ServedTask{name, source, info, bytes});
  rebuild_routing();
}

void MultiTaskModel::remove_task(std::string_view name) {
  const int64_t k = task_index(name), K = num_tasks();
  torch::NoGradGuard no_grad;
  for (auto& [tensor_name, rows] : stacks_) remove_row(rows, k, K);
  remove_row(head_weight_, k, K);
  remove_row(head_bias_, k, K);
  tasks_.erase(tasks_.begin() + k);
  rebuild_routing();
}

int64_t MultiTaskModel::task_index(std::string_view name) const {
  for (size_t k = 0; k < tasks_.size(); ++k)
    if (tasks_[k].name == name) return static_cast<int64_t>(k);
  std::vector<std::string> names;
  for (const auto& task : tasks_) names.push_back(task.name);
  throw InputError(fmt::format("no task '{}' (loaded: {})", name, names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
}

void MultiTaskModel::rebuild_routing() {
  // A new object: a batch already holding the previous one keeps it whole.
  auto routing = std::make_shared<TaskStacks>();
  routing->num_tasks = num_tasks();
  for (const auto& [name, rows] : stacks_) routing->by_tensor[parameters_.at(name).unsafeGetTensorImpl()] = rows;
  routing_ = std::move(routing);
}

at::Tensor MultiTaskModel::forward(EncoderInput input) {
  if (tasks_.empty()) throw InputError("no task is loaded");
  TORCH_CHECK(input.task_index.defined(), "forward needs task_index (B) int64");
  const EncoderOutput out = encode(input, heads_read());
  return head_logits(head_input(input, out), input.task_index);
}

LastLayer MultiTaskModel::heads_read() const {
  LastLayer read = LastLayer::first_tokens;
  for (const auto& task : tasks_) read = both(read, last_layer_for(parse_pooling(task.info.pooling)));
  return read;
}

at::Tensor MultiTaskModel::head_input(const EncoderInput& input, const EncoderOutput& out) const {
  std::set<std::string> used;
  for (const auto& task : tasks_) used.insert(task.info.pooling);
  if (used.size() == 1 && *used.begin() == "pooler") return out.pooler_output.to(at::kFloat);
  TORCH_CHECK(input.task_index.defined(), "head_input needs task_index");
  const EncoderInput on_device = input.to(out.first_tokens.device());
  const int64_t B = on_device.is_packed() ? on_device.packed.first_token.size(0) : on_device.input_ids.size(0);
  const at::Tensor task = on_device.task_index.expand({B});
  at::Tensor pooled;
  for (const std::string& name : used) {
    std::vector<uint8_t> reads(tasks_.size());
    for (size_t k = 0; k < tasks_.size(); ++k) reads[k] = tasks_[k].info.pooling == name;
    const at::Tensor rows =
        at::tensor(reads, at::kByte).to(task.device(), at::kBool).index_select(0, task).unsqueeze(1);  // (B, 1)
    const at::Tensor by_this = pool(parse_pooling(name), on_device, out);
    pooled = pooled.defined() ? at::where(rows, by_this, pooled) : by_this;
  }
  return pooled;
}

at::Tensor MultiTaskModel::head_logits(const at::Tensor& pooled, const at::Tensor& task_index) const {
  const at::Tensor task = task_index.to(compute_.device);
  // The heads compute in their own (trained, fp32) dtype whatever the backbone's precision.
  return per_token_linear(pooled.to(at::kFloat), head_weight_.index_select(0, task), head_bias_.index_select(0, task))
      .to(at::kCPU);
}

EncoderOutput MultiTaskModel::encode(EncoderInput input, LastLayer last_layer) {
  torch::NoGradGuard no_grad;
  if (!input.task_index.defined()) return pretrained_.model->forward(input.to(compute_.device), last_layer);
  const at::Tensor rows = input.task_index;
  TORCH_CHECK(rows.dim() == 1 && rows.scalar_type() == at::kLong, "task_index must be (B) int64");
  if (rows.is_cpu() && rows.numel() > 0) {
    const int64_t lowest = rows.min().item<int64_t>(), highest = rows.max().item<int64_t>();
    TORCH_CHECK(lowest >= 0 && highest < num_tasks(), "task_index out of range");
    // A batch of one task routes as one: its rows of the stacks, no per-token gather.
    if (lowest == highest) input.task_index = rows.narrow(0, 0, 1);
  }
  input = input.to(compute_.device);
  input.task_stacks = routing_;
  return pretrained_.model->forward(input, last_layer);
}

int64_t MultiTaskModel::task_bytes() const {
  int64_t bytes = 0;
  const int64_t K = num_tasks();
  for (const auto& [name, rows] : stacks_) bytes += K * rows[0].numel() * 4;
  if (head_weight_.defined()) bytes += K * (head_weight_[0].numel() + head_bias_[0].numel()) * 4;
  return bytes;
}

}  // namespace adapterbias
