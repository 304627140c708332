#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include "core/error.h"
#include "core/io.h"
#include "core/progress.h"
#include "data/batching.h"
#include "model/collate.h"
#include "train/inference.h"

namespace adapterbias {
namespace {

// transformers' get_linear_schedule_with_warmup as a factor of each group's base learning rate at `step`
// (0-based: the first step's factor is 0), with the warmup step count as TrainingArguments computes it:
// ceil(fraction * total) for a fraction, else int(warmup).
double schedule_factor(const TrainOptions& options, int64_t step, int64_t total_steps) {
  if (options.warmup <= 0.0) return 1.0;
  const double warmup_steps = options.warmup < 1.0 ? std::ceil(options.warmup * total_steps) : std::floor(options.warmup);
  if (step < warmup_steps) return step / std::max(1.0, warmup_steps);
  return std::max(0.0, (total_steps - step) / std::max(1.0, total_steps - warmup_steps));
}

at::Tensor loss_of(const at::Tensor& logits, const std::vector<const Example*>& examples, bool regression) {
  std::vector<int64_t> labels;
  std::vector<float> targets;
  for (const Example* e : examples) {
    labels.push_back(e->label);
    targets.push_back(static_cast<float>(e->target));
  }
  if (regression) return at::mse_loss(logits.squeeze(-1), at::tensor(targets).to(logits.device()));
  return at::cross_entropy_loss(logits, at::tensor(labels, at::kLong).to(logits.device()));
}

bool better(double candidate, double best) { return !std::isnan(candidate) && (std::isnan(best) || candidate > best); }

// Scales the gradients of `params` so that their global L2 norm is at most max_norm, without reading the norm
// back to the host (LibTorch's clip_grad_norm_ returns it as a double, which syncs a GPU every step).
void clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  std::vector<at::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  const at::Tensor total = at::linalg_vector_norm(at::stack(at::_foreach_norm(grads)), 2.0);
  at::_foreach_mul_(grads, at::clamp_max(max_norm / (total + 1e-6), 1.0));
}

}  // namespace

std::unique_ptr<torch::optim::AdamW> make_adamw(const TaskModel& model, double lr, double weight_decay) {
  // One group per (weight decay, lr scale), in order of first appearance.
  std::vector<std::pair<std::pair<bool, double>, std::vector<at::Tensor>>> grouped;
  for (const auto& t : model.trainable()) {
    const std::pair<bool, double> key{t.weight_decay, t.lr_scale};
    auto it = std::find_if(grouped.begin(), grouped.end(), [&](const auto& g) { return g.first == key; });
    if (it == grouped.end()) it = grouped.insert(grouped.end(), {key, {}});
    it->second.push_back(t.tensor);
  }
  auto defaults = torch::optim::AdamWOptions(lr).betas({0.9, 0.999}).eps(1e-8).weight_decay(weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (auto& [key, tensors] : grouped) {
    auto options = std::make_unique<torch::optim::AdamWOptions>(defaults);
    options->weight_decay(key.first ? weight_decay : 0.0).lr(lr * key.second);
    groups.emplace_back(std::move(tensors), std::move(options));
  }
  return std::make_unique<torch::optim::AdamW>(std::move(groups), defaults);
}

nlohmann::json TrainOptions::to_json() const {
  return {{"epochs", epochs},         {"batch_size", batch_size}, {"lr", lr},
          {"max_length", max_length}, {"seed", seed},             {"warmup", warmup},
          {"weight_decay", weight_decay}, {"max_grad_norm", max_grad_norm}, {"eval_every", eval_every},
          {"max_steps", max_steps},   {"shuffle", shuffle},
          {"layout", layout == BatchLayout::packed ? "packed" : "padded"}};
}

TrainResult train_task_model(TaskModel& model, const Tokenizer& tokenizer, const TaskSpec& task, const Dataset& train,
                             const Dataset& dev, const TrainOptions& options, AdapterInfo info,
                             const std::filesystem::path& out_dir) {
  if (train.examples.empty()) throw InputError(fmt::format("{}: no training examples", train.path.string()));
  const int64_t pad_id = tokenizer.pad_token_id();
  const std::vector<Encoding> train_enc = encode_examples(tokenizer, train.examples, options.max_length);
  const std::vector<Encoding> dev_enc = encode_examples(tokenizer, dev.examples, options.max_length);
  std::vector<int64_t> lengths;
  for (const auto& e : train_enc) lengths.push_back(static_cast<int64_t>(e.ids.size()));

  const int64_t steps_per_epoch = (static_cast<int64_t>(train_enc.size()) + options.batch_size - 1) / options.batch_size;
  int64_t total_steps = steps_per_epoch * options.epochs;
  if (options.max_steps > 0) total_steps = std::min(total_steps, options.max_steps);

  auto optimizer = make_adamw(model, options.lr, options.weight_decay);
  std::vector<double> base_lr;
  for (auto& group : optimizer->param_groups())
    base_lr.push_back(static_cast<torch::optim::AdamWOptions&>(group.options()).lr());
  std::vector<at::Tensor> params;
  for (const auto& t : model.trainable()) params.push_back(t.tensor);

  info.training = options.to_json();
  info.training["device"] = model.compute().device.str();
  info.training["precision"] = model.compute().bf16() ? "bf16" : "fp32";
  info.trainable_parameters = model.num_trainable();
  info.backbone_parameters = model.num_backbone_parameters();
  TrainResult result;
  result.adapter_path = out_dir / "adapter.safetensors";
  result.best.primary = std::nan("");
  std::filesystem::create_directories(out_dir);
  std::ofstream metrics_log(out_dir / "metrics.jsonl");

  const c10::Device device = model.compute().device;
  // The running loss stays on the device and is read back every log_every steps and at each evaluation.
  at::Tensor loss_total = at::zeros({}, at::TensorOptions(at::kDouble).device(device));
  int64_t loss_count = 0, step = 0, tokens = 0;
  double shown_loss = std::nan("");
  double step_seconds = 0.0;
  const auto start = std::chrono::steady_clock::now();
  auto evaluate = [&](int64_t epoch) {
    EvalRecord record{epoch, step, loss_count ? loss_total.item<double>() / loss_count : std::nan(""), {}};
    loss_total.zero_();
    loss_count = 0;
    const at::Tensor logits = predict_logits(model, dev_enc, options.eval_batch_size, pad_id, false, options.layout);
    record.dev = score(task, logits, dev.examples);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json line = {{"epoch", epoch}, {"step", step}, {"train_loss", record.train_loss},
                           {"elapsed_s", seconds}, {"train_tokens_per_s", tokens / std::max(step_seconds, 1e-9)}};
    for (const auto& [name, value] : record.dev.values) line["dev_" + name] = value;
    metrics_log << line.dump() << "\n" << std::flush;
    std::fprintf(stderr, "epoch %ld step %ld: train loss %.4f, dev %s\n", static_cast<long>(epoch), static_cast<long>(step),
                 record.train_loss, record.dev.to_string().c_str());
    if (result.history.empty() || better(record.dev.primary, result.best.primary)) {
      result.best = record.dev;
      result.best_step = step;
      info.metrics = {{"split", "dev"}, {"step", step}, {"epoch", epoch}};
      for (const auto& [name, value] : record.dev.values) info.metrics[name] = value;
      result.adapter_metadata = save_adapter(result.adapter_path, model, info);
    }
    result.history.push_back(record);
    model.train();
  };

  model.train();
  for (int64_t epoch = 1; epoch <= options.epochs && step < total_steps; ++epoch) {
    const auto batches = plan_batches(
        lengths, BatchPlanOptions{.batch_size = options.batch_size, .shuffle = options.shuffle,
                                  .seed = options.seed + static_cast<uint64_t>(epoch), .sort_by_length = options.shuffle});
    Progress progress(std::min<int64_t>(static_cast<int64_t>(batches.size()), total_steps - step),
                      fmt::format("epoch {}", epoch));
    for (const auto& batch : batches) {
      if (step >= total_steps) break;
      std::vector<const Encoding*> rows;
      std::vector<const Example*> examples;
      int64_t batch_tokens = 0;
      for (const int64_t i : batch) {
        rows.push_back(&train_enc[i]);
        examples.push_back(&train.examples[i]);
        batch_tokens += lengths[i];
      }
      const double factor = schedule_factor(options, step, total_steps);
      for (size_t g = 0; g < base_lr.size(); ++g)
        static_cast<torch::optim::AdamWOptions&>(optimizer->param_groups()[g].options()).lr(base_lr[g] * factor);
      const auto step_start = std::chrono::steady_clock::now();
      const at::Tensor logits = model.forward(collate(rows, pad_id, options.layout).to(device));
      at::Tensor loss = loss_of(logits, examples, task.regression);
      // The method's own loss term (adapterbias-l0: the gates' expected-L0 penalty); train_loss includes it.
      if (const at::Tensor reg = model.method->regularization(model.backbone); reg.defined()) loss = loss + reg;
      optimizer->zero_grad();
      loss.backward();
      if (options.max_grad_norm > 0) clip_grad_norm(params, options.max_grad_norm);
      optimizer->step();
      loss_total.add_(loss.detach());
      step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
      ++step;
      tokens += batch_tokens;
      ++loss_count;
      if (step % options.log_every == 0 || loss_count == 1) shown_loss = loss_total.item<double>() / loss_count;
      progress.advance(1, batch_tokens, fmt::format("loss {:.4f}", shown_loss));
      if (options.eval_every > 0 && step % options.eval_every == 0 && step < total_steps) {
        progress.finish();
        evaluate(epoch);
      }
    }
    progress.finish();
    evaluate(epoch);
  }
  result.steps = step;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.step_seconds = step_seconds;
  result.tokens_per_second = tokens / std::max(step_seconds, 1e-9);
  return result;
}

}  // namespace adapterbias
