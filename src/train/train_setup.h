// The steps around the Trainer that `adapterbias train` and the Python package's train() share: the task and
// its splits from a data source, the task model from a method choice, and the run's summary. Both call these,
// so the same seed, data and options give the same adapter file from either.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "data/data_source.h"
#include "model/checkpoint.h"
#include "model/compute.h"
#include "peft/adapter_file.h"
#include "peft/task_model.h"
#include "train/trainer.h"

namespace adapterbias {

struct TrainData {
  TaskSpec task;
  Dataset train;
  Dataset dev;  // empty: no evaluation, the last adapter is the result
  bool dev_held_out = false;
};

// The task of `source`, its train split (the first max_train_examples when >= 0) and a dev set: a seeded
// hold-out of dev_fraction of train when > 0, else the source's dev split (own data: only when a dev file is
// given).
TrainData read_train_data(const DataSource& source, int64_t max_train_examples, double dev_fraction, uint64_t seed);

// Which PEFT method a training injects.
struct MethodChoice {
  std::string method = "adapterbias";
  nlohmann::json options = nlohmann::json::object();  // the method's config fields (peft/method_options.h)
  std::filesystem::path init_adapter;  // non-empty: that adapter's method, options and tensors instead
  double dropout = -1.0;  // >= 0: every dropout of the backbone and the head; else the config's, head 0.5
  Pooling pooling = Pooling::pooler;  // what the head reads (an init adapter's own, when given)
};

struct TaskModelSetup {
  TaskModel model;
  AdapterInfo info;  // what the adapter files record, metrics and training options still to come
};

// Seeds LibTorch's generator with `seed`, injects the chosen method into pretrained.model (the task model then
// owns it: give a copy_pretrained to keep the original) and puts the model on `compute`. MismatchError when the
// init adapter's outputs do not fit the task.
TaskModelSetup build_task_model(Pretrained& pretrained, const TaskSpec& task, const MethodChoice& choice,
                                int64_t max_length, uint64_t seed, const Compute& compute);

// The finished run as `train` reports it: steps, times, throughput, files and their sizes, parameters, best dev
// metrics and the constant baseline's.
nlohmann::json train_summary(const TrainResult& result, const TrainData& data, const TaskModelSetup& setup,
                             const Pretrained& pretrained, int world_size);

}  // namespace adapterbias
