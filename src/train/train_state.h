// What a training checkpoint holds, enough to continue bit for bit: the trained tensors, AdamW's moments and
// step counts, the CPU generator's state, the position in the run (epoch, batch of the epoch's plan, step), the
// running loss, the best metric so far and the metrics lines written. One safetensors file, written
// atomically, with the scalars as JSON in its metadata (key "adapterbias.train_state").
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "data/metrics.h"

namespace adapterbias {

inline constexpr int kTrainStateVersion = 1;

struct AdamWMoments {
  int64_t step = 0;
  at::Tensor exp_avg, exp_avg_sq;
};

// Where a run is and what it has measured so far: the same on every rank.
struct TrainProgress {
  int64_t step = 0;            // optimiser steps done
  int64_t total_steps = 0;
  int64_t epoch = 1;           // the epoch in progress (1-based)
  int64_t batch_in_epoch = 0;  // batches of that epoch's plan already done
  int64_t loss_count = 0;      // steps in the running loss since the last evaluation
  int64_t tokens = 0;          // real training tokens so far (this rank's)
  int64_t evals_since_best = 0;
  double step_seconds = 0.0;
  double elapsed_seconds = 0.0;
  bool has_best = false;
  MetricResult best;
  int64_t best_step = 0;
  bool finished = false;
  std::vector<nlohmann::json> metrics;  // the lines of metrics.jsonl so far
};

struct TrainState {
  TrainProgress progress;
  nlohmann::json options;               // TrainOptions::to_json of the run; resuming checks it
  nlohmann::json data;                  // fingerprint of the training and dev data
  nlohmann::json command;               // how the caller started the run (the CLI's arguments), kept as given

  std::vector<std::pair<std::string, at::Tensor>> trained;  // in TaskModel::trainable() order
  std::map<std::string, AdamWMoments> adamw;                // by trained tensor name; absent before its first step
  at::Tensor rng_cpu;     // at::CPUGeneratorImpl state (uint8)
  at::Tensor loss_total;  // the running loss sum (float64, shape [1])
};

void save_train_state(const std::filesystem::path& path, const TrainState& state);
// FormatError naming the file and the field or tensor when it is not a train state of this version.
TrainState load_train_state(const std::filesystem::path& path);

nlohmann::json metric_to_json(const MetricResult& metric);
MetricResult metric_from_json(const nlohmann::json& json);

}  // namespace adapterbias
