#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <csignal>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adamw.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "core/io.h"
#include "data/batching.h"
#include "model/collate.h"
#include "train/distributed.h"
#include "train/inference.h"
#include "train/train_state.h"

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

// The task loss with `reduction` (mean for one process; sum for ranks that each hold a share of the batch).
at::Tensor loss_of(const at::Tensor& logits, const std::vector<const Example*>& examples, bool regression,
                   at::Reduction::Reduction reduction = at::Reduction::Mean) {
  std::vector<int64_t> labels;
  std::vector<float> targets;
  for (const Example* e : examples) {
    labels.push_back(e->label);
    targets.push_back(static_cast<float>(e->target));
  }
  if (regression) return at::mse_loss(logits.squeeze(-1), at::tensor(targets).to(logits.device()), reduction);
  return at::cross_entropy_loss(logits, at::tensor(labels, at::kLong).to(logits.device()), {}, reduction);
}

bool better(double candidate, double best) { return !std::isnan(candidate) && (std::isnan(best) || candidate > best); }

// Scales the gradients of `params` so that their global L2 norm is at most max_norm, without reading the norm
// back to the host (LibTorch's clip_grad_norm_ returns it as a double, which syncs a GPU every step).
void clip_grad_norm(const std::vector<TrainableTensor>& params, double max_norm) {
  std::vector<at::Tensor> grads;
  for (const auto& p : params)
    if (p.tensor.grad().defined()) grads.push_back(p.tensor.grad());
  if (grads.empty()) return;
  const at::Tensor total = at::linalg_vector_norm(at::stack(at::_foreach_norm(grads)), 2.0);
  at::_foreach_mul_(grads, at::clamp_max(max_norm / (total + 1e-6), 1.0));
}

// FNV-1a over the token ids and lengths: resuming on other data is a mismatch, not a silent restart.
std::string fingerprint(const std::vector<Encoding>& encodings) {
  uint64_t hash = 1469598103934665603ULL;
  auto mix = [&](uint64_t value) {
    for (int i = 0; i < 8; ++i) hash = (hash ^ ((value >> (8 * i)) & 0xff)) * 1099511628211ULL;
  };
  for (const auto& e : encodings) {
    mix(e.ids.size());
    for (const auto id : e.ids) mix(static_cast<uint64_t>(id));
  }
  return fmt::format("{:016x}", hash);
}

// A rank's share [begin, end) of n items: contiguous, in rank order, sizes differing by at most one.
std::pair<size_t, size_t> share(size_t n, int rank, int world) {
  return {n * rank / world, n * (rank + 1) / world};
}

// Data-parallel ranks draw dropout from their own streams: the same masks on every rank would correlate rows.
void seed_rank_stream(uint64_t seed, int rank, int64_t step) {
  at::manual_seed(seed + 1000003ULL * static_cast<uint64_t>(rank + 1) + 7919ULL * static_cast<uint64_t>(step));
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
  nlohmann::json json = {{"epochs", epochs},         {"batch_size", batch_size}, {"lr", lr},
                         {"max_length", max_length}, {"seed", seed},             {"warmup", warmup},
                         {"weight_decay", weight_decay}, {"max_grad_norm", max_grad_norm}, {"eval_every", eval_every},
                         {"max_steps", max_steps},   {"shuffle", shuffle},
                         {"layout", layout == BatchLayout::packed ? "packed" : "padded"}};
  if (early_stopping > 0) json["early_stopping"] = early_stopping;
  return json;
}

bool RunFiles::hold_run() const {
  for (const auto& path : {adapter(), last(), metrics(), checkpoint().parent_path()})
    if (std::filesystem::exists(path)) return true;
  return false;
}

void claim_output(const std::filesystem::path& out, bool overwrite) {
  std::error_code error;
  if (std::filesystem::exists(out, error) && !std::filesystem::is_directory(out, error))
    throw InputError(fmt::format("--out {}: is a file, not a folder", out.string()));
  const RunFiles files(out);
  if (files.hold_run()) {
    if (!overwrite)
      throw InputError(fmt::format("--out {}: holds an earlier run (adapter, metrics or checkpoint); continue it with "
                                   "--resume {} or replace it with --overwrite",
                                   out.string(), out.string()));
    std::filesystem::remove_all(files.checkpoint().parent_path());
  }
  std::filesystem::create_directories(out);
}

Trainer::Trainer(TaskModel& model, const Tokenizer& tokenizer, TaskSpec task, const Dataset& train, const Dataset& dev,
                 TrainOptions options, AdapterInfo info, std::filesystem::path out_dir, TrainSink* sink,
                 ProcessGroup* group, nlohmann::json command)
    : model_(model),
      task_(std::move(task)),
      train_(train),
      dev_(dev),
      options_(std::move(options)),
      info_(std::move(info)),
      files_(std::move(out_dir)),
      sink_(sink ? sink : &default_sink_),
      group_(group && group->world_size() > 1 ? group : nullptr),
      command_(std::move(command)),
      pad_id_(tokenizer.pad_token_id()) {
  if (train_.examples.empty()) throw InputError(fmt::format("{}: no training examples", train_.path.string()));
  if (options_.early_stopping > 0 && dev_.examples.empty())
    throw InputError("--early-stopping needs a dev set: --dev FILE or --dev-fraction F");
  train_enc_ = encode_examples(tokenizer, train_.examples, options_.max_length);
  dev_enc_ = encode_examples(tokenizer, dev_.examples, options_.max_length);
  for (const auto& e : train_enc_) lengths_.push_back(static_cast<int64_t>(e.ids.size()));
  data_fingerprint_ = {{"train_examples", train_enc_.size()}, {"train_tokens", fingerprint(train_enc_)},
                       {"dev_examples", dev_enc_.size()}, {"dev_tokens", fingerprint(dev_enc_)}};

  const int64_t steps_per_epoch = (static_cast<int64_t>(train_enc_.size()) + options_.batch_size - 1) / options_.batch_size;
  progress_.total_steps = steps_per_epoch * options_.epochs;
  if (options_.max_steps > 0) progress_.total_steps = std::min(progress_.total_steps, options_.max_steps);

  trainable_ = model_.trainable();
  if (group_) {  // each rank evaluates its contiguous share of dev; evaluate() gathers the logits in order
    const auto [begin, end] = share(dev_enc_.size(), group_->rank(), group_->world_size());
    dev_enc_ = std::vector<Encoding>(dev_enc_.begin() + begin, dev_enc_.begin() + end);
    std::vector<at::Tensor> tensors;
    for (const auto& t : trainable_) tensors.push_back(t.tensor);
    group_->broadcast(tensors);
    seed_rank_stream(options_.seed, group_->rank(), 0);
  }
  optimizer_ = make_adamw(model_, options_.lr, options_.weight_decay);
  for (auto& g : optimizer_->param_groups()) base_lr_.push_back(static_cast<torch::optim::AdamWOptions&>(g.options()).lr());

  info_.training = options_.to_json();
  info_.training["device"] = model_.compute().device.str();
  info_.training["precision"] = model_.compute().bf16() ? "bf16" : "fp32";
  if (group_) info_.training["world_size"] = group_->world_size();
  info_.trainable_parameters = model_.num_trainable();
  info_.backbone_parameters = model_.num_backbone_parameters();
  progress_.best.primary = std::nan("");
  loss_total_ = at::zeros({1}, at::TensorOptions(at::kDouble).device(model_.compute().device));
  if (writes()) std::filesystem::create_directories(files_.dir);
  model_.train();
}

Trainer::~Trainer() = default;

bool Trainer::writes() const { return group_ == nullptr || group_->rank() == 0; }

const std::vector<std::vector<int64_t>>& Trainer::plan() {
  if (planned_epoch_ != progress_.epoch) {
    batches_ = plan_batches(lengths_, BatchPlanOptions{.batch_size = options_.batch_size, .shuffle = options_.shuffle,
                                                       .seed = options_.seed + static_cast<uint64_t>(progress_.epoch),
                                                       .sort_by_length = options_.shuffle});
    planned_epoch_ = progress_.epoch;
  }
  return batches_;
}

double Trainer::read_loss(const at::Tensor& total, int64_t count, const char* when) const {
  const double loss = total.item<double>() / static_cast<double>(count);
  if (!std::isfinite(loss))
    throw DivergedError(fmt::format("training loss is {} {} (step {}, lr {}): the run diverged; nothing from these "
                                    "steps was saved (lower --lr or set --max-grad-norm)",
                                    loss, when, progress_.step, options_.lr));
  return loss;
}

// One all-reduce per step over [gradients..., loss, stop votes]: the ranks average nothing themselves, each
// rank's loss already carries its share of 1/batch, so the sum is the global batch's mean gradient.
void Trainer::synchronise(at::Tensor& loss, double& stop_votes) {
  std::vector<at::Tensor> parts;
  for (const auto& t : trainable_) {
    if (!t.tensor.grad().defined()) t.tensor.mutable_grad() = at::zeros_like(t.tensor);
    parts.push_back(t.tensor.grad().reshape(-1).to(at::kCPU, at::kFloat));
  }
  parts.push_back(loss.detach().reshape(-1).to(at::kCPU, at::kFloat));
  parts.push_back(at::full({1}, static_cast<float>(stop_votes)));
  at::Tensor flat = at::cat(parts);
  const auto start = std::chrono::steady_clock::now();
  group_->all_reduce_sum(flat);
  allreduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  allreduce_bytes_ = flat.numel() * static_cast<int64_t>(flat.element_size());
  int64_t offset = 0;
  for (const auto& t : trainable_) {
    t.tensor.grad().copy_(flat.narrow(0, offset, t.tensor.numel()).view(t.tensor.sizes()));
    offset += t.tensor.numel();
  }
  loss = flat.narrow(0, offset, 1).to(loss.device()).reshape({});
  stop_votes = flat[offset + 1].item<double>();
}

void Trainer::step() {
  const auto& batch = plan()[progress_.batch_in_epoch];
  const int world = group_ ? group_->world_size() : 1;
  const auto [begin, end] = group_ ? share(batch.size(), group_->rank(), world) : std::pair<size_t, size_t>{0, batch.size()};
  std::vector<const Encoding*> rows;
  std::vector<const Example*> examples;
  int64_t batch_tokens = 0;
  for (size_t k = begin; k < end; ++k) {
    rows.push_back(&train_enc_[batch[k]]);
    examples.push_back(&train_.examples[batch[k]]);
    batch_tokens += lengths_[batch[k]];
  }
  const double factor = schedule_factor(options_, progress_.step, progress_.total_steps);
  for (size_t g = 0; g < base_lr_.size(); ++g)
    static_cast<torch::optim::AdamWOptions&>(optimizer_->param_groups()[g].options()).lr(base_lr_[g] * factor);

  const auto step_start = std::chrono::steady_clock::now();
  const c10::Device device = model_.compute().device;
  optimizer_->zero_grad();
  at::Tensor loss;
  if (!group_) {
    loss = loss_of(model_.forward(collate(rows, pad_id_, options_.layout).to(device)), examples, task_.regression);
  } else if (!rows.empty()) {
    loss = loss_of(model_.forward(collate(rows, pad_id_, options_.layout).to(device)), examples, task_.regression,
                   at::Reduction::Sum) / static_cast<double>(batch.size());
  } else {
    loss = at::zeros({}, at::TensorOptions(at::kFloat).device(device));  // a batch smaller than the world
  }
  // The method's own loss term (adapterbias-l0: the gates' expected-L0 penalty); train_loss includes it.
  if (const at::Tensor reg = model_.method->regularization(model_.backbone); reg.defined())
    loss = loss + (group_ ? reg / world : reg);
  if (loss.requires_grad()) loss.backward();
  double stop_votes = stop_ && stop_->load() != 0 ? 1.0 : 0.0;
  if (group_) synchronise(loss, stop_votes);
  stop_agreed_ = stop_votes > 0;
  if (options_.max_grad_norm > 0) clip_grad_norm(trainable_, options_.max_grad_norm);
  optimizer_->step();
  loss_total_.add_(loss.detach());
  progress_.step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
  ++progress_.step;
  ++progress_.batch_in_epoch;
  progress_.tokens += batch_tokens;
  ++progress_.loss_count;
  if (progress_.step % options_.log_every == 0 || progress_.loss_count == 1)
    shown_loss_ = read_loss(loss_total_, progress_.loss_count, "at a read-back");
  sink_->stepped(batch_tokens, shown_loss_);
}

EvalRecord Trainer::evaluate(int64_t epoch) {
  const double train_loss =
      progress_.loss_count ? read_loss(loss_total_, progress_.loss_count, "at an evaluation") : std::nan("");
  EvalRecord record{epoch, progress_.step, train_loss, {}};
  loss_total_.zero_();
  progress_.loss_count = 0;
  sink_->evaluating();
  at::Tensor logits = predict_logits(model_, dev_enc_, options_.eval_batch_size, pad_id_, false, options_.layout);
  if (group_) logits = group_->all_gather_rows(logits);
  record.dev = score(task_, logits, dev_.examples);
  nlohmann::json line = {{"epoch", epoch},
                         {"step", progress_.step},
                         {"train_loss", record.train_loss},
                         {"elapsed_s", elapsed()},
                         {"train_tokens_per_s", progress_.tokens / std::max(progress_.step_seconds, 1e-9)}};
  for (const auto& [name, value] : record.dev.values) line["dev_" + name] = value;
  progress_.metrics.push_back(line);
  const bool improved = !progress_.has_best || better(record.dev.primary, progress_.best.primary);
  if (improved) {
    ensure_finite("at an evaluation");
    progress_.best = record.dev;
    progress_.best_step = progress_.step;
    progress_.has_best = true;
    progress_.evals_since_best = 0;
    info_.metrics = {{"split", "dev"}, {"step", progress_.step}, {"epoch", epoch}};
    for (const auto& [name, value] : record.dev.values) info_.metrics[name] = value;
    if (writes()) best_metadata_ = save_adapter(files_.adapter(), model_, info_);
  } else {
    ++progress_.evals_since_best;
  }
  if (options_.early_stopping > 0 && progress_.evals_since_best >= options_.early_stopping) stopped_early_ = true;
  if (writes()) {
    std::string text;
    for (const auto& l : progress_.metrics) text += l.dump() + "\n";
    write_file_atomic(files_.metrics(), text);
  }
  sink_->evaluated(record, improved);
  model_.train();
  save_checkpoint();
  return record;
}

double Trainer::elapsed() const {
  return progress_.elapsed_seconds +
         std::chrono::duration<double>(std::chrono::steady_clock::now() - session_start_).count();
}

TrainState Trainer::state() const {
  TrainState s;
  s.progress = progress_;
  s.progress.elapsed_seconds = elapsed();
  s.options = options_.to_json();
  s.data = data_fingerprint_;
  s.command = command_;
  for (const auto& t : trainable_) {
    s.trained.emplace_back(t.name, t.tensor.detach());
    const auto it = optimizer_->state().find(t.tensor.unsafeGetTensorImpl());
    if (it == optimizer_->state().end()) continue;
    const auto& adamw = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    s.adamw[t.name] = {adamw.step(), adamw.exp_avg(), adamw.exp_avg_sq()};
  }
  auto generator = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    s.rng_cpu = generator.get_state();
  }
  s.loss_total = loss_total_.to(at::kCPU);
  return s;
}

void Trainer::ensure_finite(const char* when) const {
  std::vector<at::Tensor> finite;
  for (const auto& t : trainable_) finite.push_back(at::isfinite(t.tensor).all());
  if (!at::stack(finite).all().item<bool>())
    throw DivergedError(fmt::format("trained tensors hold NaN or infinite values {} (step {}, lr {}): the run diverged; "
                                    "nothing from these steps was saved (lower --lr or set --max-grad-norm)",
                                    when, progress_.step, options_.lr));
}

void Trainer::save_checkpoint() {
  if (progress_.loss_count > 0) read_loss(loss_total_, progress_.loss_count, "at a checkpoint");
  ensure_finite("at a checkpoint");
  if (writes()) save_train_state(files_.checkpoint(), state());
  sink_->checkpointed(files_.checkpoint(), progress_.step);
}

TrainState load_checkpoint(const std::filesystem::path& out) {
  const auto path = RunFiles(out).checkpoint();
  if (!std::filesystem::exists(path))
    throw InputError(fmt::format("--resume {}: no checkpoint ({} is missing): nothing to resume", out.string(),
                                 path.string()));
  return load_train_state(path);
}

void Trainer::resume(const TrainState& s) {
  const auto path = files_.checkpoint();
  if (s.progress.finished)
    throw InputError(fmt::format("--resume {}: the run finished at step {}; nothing to resume", files_.dir.string(),
                                 s.progress.step));
  if (s.options != options_.to_json())
    throw MismatchError(fmt::format("{}: the checkpoint was made with options {} but this run has {}", path.string(),
                                    s.options.dump(), options_.to_json().dump()));
  if (s.data != data_fingerprint_)
    throw MismatchError(fmt::format("{}: the checkpoint was made on other data ({}) than this run's ({})", path.string(),
                                    s.data.dump(), data_fingerprint_.dump()));
  if (s.progress.total_steps != progress_.total_steps)
    throw MismatchError(fmt::format("{}: checkpoint planned {} steps, this run {}", path.string(),
                                    s.progress.total_steps, progress_.total_steps));
  NamedTensors trained(s.trained.begin(), s.trained.end());
  load_trainable(model_, trained, path.string());
  for (const auto& t : trainable_) {
    const auto it = s.adamw.find(t.name);
    if (it == s.adamw.end()) continue;
    const AdamWMoments& m = it->second;
    if (!m.exp_avg.sizes().equals(t.tensor.sizes()) || !m.exp_avg_sq.sizes().equals(t.tensor.sizes()))
      throw FormatError(fmt::format("{}: AdamW moments of '{}' have the wrong shape", path.string(), t.name));
    auto adamw = std::make_unique<torch::optim::AdamWParamState>();
    adamw->step(m.step);
    adamw->exp_avg(m.exp_avg.to(t.tensor.options()));
    adamw->exp_avg_sq(m.exp_avg_sq.to(t.tensor.options()));
    optimizer_->state()[t.tensor.unsafeGetTensorImpl()] = std::move(adamw);
  }
  progress_ = s.progress;
  loss_total_.copy_(s.loss_total);
  if (options_.early_stopping > 0 && progress_.evals_since_best >= options_.early_stopping) stopped_early_ = true;
  if (progress_.has_best) {
    info_.metrics = {{"split", "dev"}, {"step", progress_.best_step}};
    for (const auto& [name, value] : progress_.best.values) info_.metrics[name] = value;
  }
  if (group_) {
    seed_rank_stream(options_.seed, group_->rank(), progress_.step);
  } else {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(s.rng_cpu);
  }
  if (progress_.batch_in_epoch > static_cast<int64_t>(plan().size()))
    throw FormatError(fmt::format("{}: batch {} of epoch {} is past its plan", path.string(), progress_.batch_in_epoch,
                                  progress_.epoch));
}

TrainResult Trainer::run(const std::atomic<int>* stop) {
  stop_ = stop;
  session_start_ = std::chrono::steady_clock::now();
  const bool evaluates = !dev_.examples.empty();
  model_.train();
  bool announced = false;
  while (!done()) {
    if (!announced)
      sink_->epoch_started(progress_.epoch, std::min(static_cast<int64_t>(plan().size()) - progress_.batch_in_epoch,
                                                     progress_.total_steps - progress_.step));
    announced = true;
    step();
    bool saved = false;
    const int64_t epoch = progress_.epoch;
    const bool epoch_end =
        progress_.batch_in_epoch == static_cast<int64_t>(plan().size()) || progress_.step >= progress_.total_steps;
    if (epoch_end) {
      sink_->epoch_finished();
      ++progress_.epoch;
      progress_.batch_in_epoch = 0;
      announced = false;
    }
    if (evaluates && (epoch_end || (options_.eval_every > 0 && progress_.step % options_.eval_every == 0))) {
      evaluate(epoch);
      saved = true;
    } else if (options_.save_every > 0 && progress_.step % options_.save_every == 0) {
      save_checkpoint();
      saved = true;
    }
    if (stop_agreed_ && !done()) {
      if (!saved) save_checkpoint();
      const int signal = stop_ && stop_->load() ? stop_->load() : SIGTERM;
      throw Interrupted(signal, progress_.step, fmt::format("stopped at step {} of {}; checkpoint {}; continue with --resume {}", progress_.step,
                                            progress_.total_steps, files_.checkpoint().string(), files_.dir.string()));
    }
  }

  progress_.finished = true;
  AdapterInfo last = info_;
  last.metrics = {{"step", progress_.step}};
  if (!progress_.metrics.empty() && progress_.metrics.back().value("step", int64_t{-1}) == progress_.step) {
    last.metrics = {{"split", "dev"}, {"step", progress_.step}};
    for (const auto& [key, value] : progress_.metrics.back().items())
      if (key.rfind("dev_", 0) == 0) last.metrics[key.substr(4)] = value;
  }
  TrainResult result;
  result.adapter_path = files_.adapter();
  result.last_path = files_.last();
  ensure_finite("at the end");
  if (writes()) {
    save_adapter(files_.last(), model_, last);
    if (!evaluates) {
      result.adapter_metadata = save_adapter(files_.adapter(), model_, last);
    } else if (!best_metadata_.is_null()) {
      result.adapter_metadata = best_metadata_;
    } else {  // the best was kept before this run was resumed
      result.adapter_metadata = read_adapter(files_.adapter()).info.to_json();
    }
  }
  save_checkpoint();
  int64_t tokens = progress_.tokens;
  if (group_) {  // throughput of the whole group: every rank's tokens over rank 0's step time
    at::Tensor all = at::tensor({static_cast<double>(progress_.tokens)}, at::kDouble);
    group_->all_reduce_sum(all);
    tokens = static_cast<int64_t>(all.item<double>());
  }
  result.best = progress_.best;
  result.best_step = progress_.best_step;
  result.steps = progress_.step;
  result.stopped_early = stopped_early_;
  result.seconds = elapsed();
  result.step_seconds = progress_.step_seconds;
  result.allreduce_seconds = allreduce_seconds_;
  result.allreduce_bytes_per_step = allreduce_bytes_;
  result.tokens_per_second = tokens / std::max(progress_.step_seconds, 1e-9);
  return result;
}

}  // namespace adapterbias
