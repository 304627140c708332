// Encoder throughput of adapterbias: inference forward passes, or AdapterBias training steps (forward, backward,
// AdamW) on a frozen backbone, over random token ids, in a chosen precision and batch layout. Fixed lengths
// (every row `--length` tokens) or mixed ones (each row uniform in [--min-length, --length], serving-like).
// Prints one JSON line; bench/encoder_bench.py runs it beside transformers and prints the table.
//
//   encoder_bench --model CHECKPOINT_DIR --mode forward|train --batch 32 --length 128 [--min-length 8]
//                 --precision fp32|bf16 --layout packed|padded --repetitions 10 [--trace trace.json]
//                 [--last-layer every_token|first_tokens]
// --trace writes a Kineto (chrome://tracing) trace of the timed batches; bench/trace_ops.py sums it per op.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <random>

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/utils.h>

#include "core/heap.h"
#include "model/checkpoint.h"
#include "model/collate.h"
#include "model/compute.h"
#include "peft/task_model.h"
#include "train/trainer.h"

using namespace adapterbias;

int main(int argc, char** argv) {
  std::string model_name, trace_path, mode = "forward", precision = "fp32", layout = "packed", device = "cpu";
  std::string last_layer_name;
  int64_t batch = 32, length = 128, min_length = 0, repetitions = 10, warmup = 2;
  int threads = 0;
  double dropout = -1.0;
  CLI::App app{"adapterbias encoder throughput"};
  app.add_option("--model", model_name, "Checkpoint folder")->required();
  app.add_option("--mode", mode, "forward (inference) or train (AdapterBias step)")->check(CLI::IsMember({"forward", "train"}));
  app.add_option("--batch", batch, "Sequences per batch")->capture_default_str();
  app.add_option("--length", length, "Tokens per sequence (the longest, with --min-length)")->capture_default_str();
  app.add_option("--min-length", min_length, "Mixed lengths: each row uniform in [min, --length] (0: fixed)");
  app.add_option("--precision", precision, "fp32, bf16 or auto")->capture_default_str();
  app.add_option("--device", device, "cpu, cuda, cuda:N")->capture_default_str();
  app.add_option("--layout", layout, "packed or padded")->check(CLI::IsMember({"packed", "padded"}))->capture_default_str();
  app.add_option("--repetitions", repetitions, "Timed batches")->capture_default_str();
  app.add_option("--warmup", warmup, "Untimed batches first")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: default)")->capture_default_str();
  app.add_option("--dropout", dropout, "Set every dropout of the backbone to P (default: the config's)");
  app.add_option("--trace", trace_path, "Write a Kineto trace of the timed batches to this file");
  app.add_option("--last-layer", last_layer_name,
                 "every_token or first_tokens (default: forward every_token, as BertModel's last_hidden_state; train "
                 "first_tokens, as `adapterbias train`)")
      ->check(CLI::IsMember({"every_token", "first_tokens"}));
  CLI11_PARSE(app, argc, argv);
  if (last_layer_name.empty()) last_layer_name = mode == "forward" ? "every_token" : "first_tokens";
  const LastLayer last_layer = last_layer_name == "every_token" ? LastLayer::every_token : LastLayer::first_tokens;
  keep_freed_activations_in_heap();  // as the CLI does
  if (threads > 0) at::set_num_threads(threads);
  const Compute compute = resolve_compute(device, precision);

  Pretrained pretrained = load_pretrained(model_name);
  if (dropout >= 0) pretrained.model->set_dropout(dropout);
  TaskModel model(pretrained.model, make_peft_method("adapterbias"), 2);
  model.set_compute(compute);
  auto optimizer = make_adamw(model, 1e-3, 0.01);

  // One batch per repetition, each with its own random lengths (the same for every layout and precision).
  std::mt19937_64 engine(0);
  std::vector<std::vector<Encoding>> batches(warmup + repetitions, std::vector<Encoding>(batch));
  int64_t timed_tokens = 0;
  for (size_t r = 0; r < batches.size(); ++r)
    for (auto& e : batches[r]) {
      const int64_t n = min_length > 0 ? min_length + static_cast<int64_t>(engine() % (length - min_length + 1)) : length;
      for (int64_t t = 0; t < n; ++t) {
        e.ids.push_back(1000 + static_cast<int64_t>(engine() % (pretrained.config.vocab_size - 1000)));
        e.type_ids.push_back(0);
      }
      if (static_cast<int64_t>(r) >= warmup) timed_tokens += n;
    }
  const at::Tensor labels = at::randint(0, 2, {batch}).to(compute.device);
  const BatchLayout batch_layout = layout == "packed" ? BatchLayout::packed : BatchLayout::padded;

  std::vector<double> seconds;
  namespace profiler = torch::autograd::profiler;
  for (size_t r = 0; r < batches.size(); ++r) {
    if (!trace_path.empty() && static_cast<int64_t>(r) == warmup) {
      const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
      profiler::prepareProfiler(config, {torch::profiler::impl::ActivityType::CPU});
      profiler::enableProfiler(config, {torch::profiler::impl::ActivityType::CPU});
    }
    std::vector<const Encoding*> rows;
    for (const auto& e : batches[r]) rows.push_back(&e);
    const auto start = std::chrono::steady_clock::now();
    const EncoderInput input = collate(rows, pretrained.config.pad_token_id, batch_layout).to(compute.device);
    if (mode == "forward") {
      torch::NoGradGuard no_grad;
      model.eval();
      model.backbone->forward(input, last_layer).pooler_output.sum().item<double>();  // waits for the device
    } else {
      model.train();
      optimizer->zero_grad();
      at::Tensor loss;
      {
        RECORD_USER_SCOPE("phase: forward");
        loss = at::cross_entropy_loss(model.forward(input, last_layer), labels);
      }
      {
        RECORD_USER_SCOPE("phase: backward");
        loss.backward();
      }
      RECORD_USER_SCOPE("phase: optimizer");
      optimizer->step();
      model.classifier->bias.sum().item<double>();
    }
    if (static_cast<int64_t>(r) >= warmup)
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (!trace_path.empty()) profiler::disableProfiler()->save(trace_path);
  double total = 0, mean = 0, var = 0;
  for (double s : seconds) total += s;
  mean = total / seconds.size();
  for (double s : seconds) var += (s - mean) * (s - mean) / std::max<size_t>(1, seconds.size() - 1);
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  nlohmann::json out = {{"impl", "adapterbias"}, {"mode", mode}, {"batch", batch}, {"length", length},
                        {"min_length", min_length}, {"precision", compute.bf16() ? "bf16" : "fp32"},
                        {"device", compute.device.str()}, {"layout", layout}, {"last_layer", last_layer_name},
                        {"threads", at::get_num_threads()}, {"seconds_per_batch", mean},
                        {"seconds_std", std::sqrt(var)}, {"real_tokens", timed_tokens},
                        {"tokens_per_s", timed_tokens / total}, {"peak_rss_mb", usage.ru_maxrss / 1024.0}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
