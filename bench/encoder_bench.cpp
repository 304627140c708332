// Encoder throughput of adapterbias on CPU: inference forward passes, or AdapterBias training steps
// (forward, backward, AdamW) on a frozen backbone, over random token ids of a fixed batch shape.
// Prints one JSON line; bench/encoder_bench.py runs it beside transformers and prints the table.
//
//   encoder_bench --model minilm --mode forward|train --batch 32 --length 128 --repetitions 10
#include <sys/resource.h>

#include <chrono>
#include <cstdio>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include "model/checkpoint.h"
#include "peft/task_model.h"
#include "train/trainer.h"

using namespace adapterbias;

int main(int argc, char** argv) {
  std::string model_name = "minilm", mode = "forward";
  int64_t batch = 32, length = 128, repetitions = 10, warmup = 2;
  int threads = 0;
  CLI::App app{"adapterbias encoder throughput"};
  app.add_option("--model", model_name, "Checkpoint folder or packaged name")->capture_default_str();
  app.add_option("--mode", mode, "forward (inference) or train (AdapterBias step)")->check(CLI::IsMember({"forward", "train"}));
  app.add_option("--batch", batch, "Sequences per batch")->capture_default_str();
  app.add_option("--length", length, "Tokens per sequence")->capture_default_str();
  app.add_option("--repetitions", repetitions, "Timed batches")->capture_default_str();
  app.add_option("--warmup", warmup, "Untimed batches first")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: default)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) at::set_num_threads(threads);

  Pretrained pretrained = load_pretrained(model_name);
  at::manual_seed(0);
  EncoderInput input{at::randint(1000, pretrained.config.vocab_size, {batch, length}), at::zeros({batch, length}, at::kLong),
                     at::ones({batch, length}, at::kLong)};
  TaskModel model(pretrained.model, make_peft_method("adapterbias"), 2);
  auto optimizer = make_adamw(model, 1e-3, 0.01);
  const at::Tensor labels = at::randint(0, 2, {batch});

  std::vector<double> seconds;
  for (int64_t r = 0; r < warmup + repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    if (mode == "forward") {
      torch::NoGradGuard no_grad;
      model.eval();
      model.backbone->forward(input);
    } else {
      model.train();
      optimizer->zero_grad();
      at::cross_entropy_loss(model.forward(input), labels).backward();
      optimizer->step();
    }
    if (r >= warmup) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  double mean = 0, var = 0;
  for (double s : seconds) mean += s / seconds.size();
  for (double s : seconds) var += (s - mean) * (s - mean) / std::max<size_t>(1, seconds.size() - 1);
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  const double tokens = static_cast<double>(batch * length);
  nlohmann::json out = {{"impl", "adapterbias"}, {"mode", mode}, {"batch", batch}, {"length", length},
                        {"threads", at::get_num_threads()}, {"seconds_per_batch", mean},
                        {"seconds_std", std::sqrt(var)}, {"tokens_per_s", tokens / mean},
                        {"peak_rss_mb", usage.ru_maxrss / 1024.0}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
