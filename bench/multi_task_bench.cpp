// Throughput of one backbone serving K tasks (peft/multi_task_model.h) on real rows, and the memory each added
// task costs. For each K in --tasks, every row gets a task uniformly at random (seeded) and the rows run:
//   mixed      rows of all tasks in the same batches (the engine);
//   per-task   each task's rows as their own batches (how PEFT runs a mixed batch: one sub-batch per adapter);
//   merged     each task's rows through a single-task model with the adapter folded into the backbone
//              (`merge`; K such models would hold K backbones: one is loaded, the compute is the same).
// Then RSS with each of --memory-tasks tasks loaded (copies of the adapter under new names).
// Prints one JSON line per measurement; bench/multi_task_bench.py runs it beside PEFT and prints the table.
//
//   multi_task_bench --model minilm --adapter A.safetensors --inputs rows.jsonl --tasks 1,8,64
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include "core/heap.h"
#include "model/checkpoint.h"
#include "model/collate.h"
#include "peft/adapter_file.h"
#include "peft/multi_task_model.h"
#include "train/inference.h"

using namespace adapterbias;

namespace {

int64_t rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      int64_t kb = 0;
      status >> kb;
      return kb * 1024;
    }
    status.ignore(1 << 20, '\n');
  }
  return 0;
}

template <typename F>
double best_seconds(int64_t repetitions, F&& run) {
  double best = 1e30;
  for (int64_t r = 0; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name, adapter_path, inputs_path, precision = "fp32";
  std::string tasks_arg = "1,8,64", memory_arg = "1,64,1000";
  int64_t batch_size = 32, repetitions = 3;
  int threads = 0;
  CLI::App app{"adapterbias multi-task throughput"};
  app.add_option("--model", model_name, "Checkpoint folder")->required();
  app.add_option("--adapter", adapter_path, "A trained adapter file (its copies are the K tasks)")->required();
  app.add_option("--inputs", inputs_path, "JSONL rows {text, text_pair}")->required();
  app.add_option("--tasks", tasks_arg, "Task counts K, comma-separated (empty: none)")->capture_default_str();
  app.add_option("--memory-tasks", memory_arg, "Task counts for the memory rows (empty: none)")->capture_default_str();
  app.add_option("--batch-size", batch_size, "Rows per batch")->capture_default_str();
  app.add_option("--repetitions", repetitions, "Timed passes over the rows (best kept)")->capture_default_str();
  app.add_option("--precision", precision, "fp32, bf16 or auto")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: default)");
  CLI11_PARSE(app, argc, argv);
  keep_freed_activations_in_heap();  // as the CLI does
  const auto counts = [](const std::string& list) {
    std::vector<int64_t> out;
    for (size_t start = 0; start < list.size();) {
      const size_t comma = std::min(list.find(',', start), list.size());
      out.push_back(std::stoll(list.substr(start, comma - start)));
      start = comma + 1;
    }
    return out;
  };
  const std::vector<int64_t> task_counts = counts(tasks_arg), memory_counts = counts(memory_arg);
  if (threads > 0) at::set_num_threads(threads);
  const Compute compute = resolve_compute("cpu", precision);

  std::vector<Example> examples;
  {
    std::ifstream in(inputs_path);
    std::string line;
    while (std::getline(in, line)) {
      const auto row = nlohmann::json::parse(line);
      Example e;
      e.text_a = row.at("text").get<std::string>();
      if (row.contains("text_pair") && row.at("text_pair").is_string()) e.text_b = row.at("text_pair").get<std::string>();
      examples.push_back(std::move(e));
    }
  }
  const AdapterFile adapter = read_adapter(adapter_path);
  Pretrained pretrained = load_pretrained(model_name);
  const auto tokenizer = Tokenizer::from_pretrained(pretrained.dir);
  const auto encodings = encode_examples(*tokenizer, examples, adapter.info.max_length);
  const int64_t tokens = count_tokens(encodings);
  const int64_t pad = tokenizer->pad_token_id();
  const auto report = [&](nlohmann::json line) { std::printf("%s\n", line.dump().c_str()); std::fflush(stdout); };

  // merged: the adapter folded into a backbone of its own.
  if (!task_counts.empty()) {
    LoadedAdapter single = load_adapter_model(copy_pretrained(pretrained), read_adapter(adapter_path), adapter_path, compute);
    if (single.model.method->mergeable()) {
      single.model.method->merge(single.model.backbone);
      const double seconds = best_seconds(repetitions, [&] { predict_logits(single.model, encodings, batch_size, pad); });
      report({{"mode", "merged"}, {"tokens", tokens}, {"seconds", seconds}, {"tokens_per_s", tokens / seconds}});
    }
  }

  std::mt19937_64 rng(0);
  for (const int64_t K : task_counts) {
    MultiTaskModel engine(copy_pretrained(pretrained), compute);
    for (int64_t k = 0; k < K; ++k) engine.add_task("t" + std::to_string(k), adapter, adapter_path);
    std::vector<int64_t> task_of;
    for (size_t i = 0; i < encodings.size(); ++i) task_of.push_back(static_cast<int64_t>(rng() % K));
    const double mixed = best_seconds(repetitions, [&] { predict_mixed_logits(engine, encodings, task_of, batch_size, pad); });
    report({{"mode", "mixed"}, {"K", K}, {"tokens", tokens}, {"seconds", mixed}, {"tokens_per_s", tokens / mixed}});
    // per-task: each task's rows batched on their own.
    std::vector<std::vector<Encoding>> groups(K);
    for (size_t i = 0; i < encodings.size(); ++i) groups[task_of[i]].push_back(encodings[i]);
    const double per_task = best_seconds(repetitions, [&] {
      for (int64_t k = 0; k < K; ++k)
        if (!groups[k].empty())
          predict_mixed_logits(engine, groups[k], std::vector<int64_t>(groups[k].size(), k), batch_size, pad);
    });
    report({{"mode", "per-task"}, {"K", K}, {"tokens", tokens}, {"seconds", per_task}, {"tokens_per_s", tokens / per_task}});
  }

  // Memory: RSS with N tasks loaded, beside the engine's own count of task bytes.
  for (const int64_t N : memory_counts) {
    const int64_t before = rss_bytes();
    MultiTaskModel engine(copy_pretrained(pretrained), compute);
    const int64_t backbone = rss_bytes();
    for (int64_t k = 0; k < N; ++k) engine.add_task("t" + std::to_string(k), adapter, adapter_path);
    report({{"mode", "memory"}, {"tasks", N}, {"rss_bytes", rss_bytes()}, {"backbone_rss_bytes", backbone - before},
            {"tasks_rss_bytes", rss_bytes() - backbone}, {"task_bytes", engine.task_bytes()}});
  }
  return 0;
}
