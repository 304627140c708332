// The multi-task engine against single-task models: a batch mixing rows of K tasks, in shuffled order and of
// different lengths and token types, gives each row the logits its own task model gives (fp32, 1e-5), in both
// batch layouts, for every mixable method and for heads on each pooling.
#include <random>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "core/error.h"
#include "model/collate.h"
#include "peft/multi_task_model.h"
#include "tiny_model.h"

namespace adapterbias::testing {
namespace {

struct TrainedTask {
  std::string method;
  nlohmann::json options;
  int64_t num_labels;
  std::unique_ptr<TaskModel> model;  // the single-task reference
  AdapterFile file;
};

// A task model of `method` whose trainable tensors all moved away from their initialisation (seeded), and its
// adapter file as `train` would write it.
TrainedTask trained_task(const std::string& method, const nlohmann::json& options, int64_t num_labels, uint64_t seed,
                         Pooling pooling = Pooling::pooler) {
  TrainedTask task{method, options, num_labels, nullptr, {}};
  Pretrained pretrained = tiny_pretrained();
  task.model = std::make_unique<TaskModel>(pretrained.model, make_peft_method(method, options), num_labels, 0.0, pooling);
  torch::manual_seed(seed);
  {
    torch::NoGradGuard no_grad;
    for (const auto& t : task.model->trainable()) t.tensor.add_(at::randn_like(t.tensor) * 0.3);
  }
  task.model->eval();
  AdapterInfo info = test_adapter_info(*task.model, pretrained);
  info.labels.clear();
  info.regression = num_labels == 1;
  for (int64_t c = 0; c < num_labels && num_labels > 1; ++c) info.labels.push_back(fmt::format("l{}", c));
  const SavedMethod saved = task.model->method->saved(task.model->backbone);
  info.method = saved.name;  // adapterbias-l0 saves as adapterbias
  info.method_options = saved.options;
  info.pooling = pooling_name(pooling);
  task.file.info = info;
  for (const auto& t : saved.tensors)
    task.file.tensors.emplace_back(t.name, t.tensor.detach().clone());
  task.file.tensors.emplace_back("classifier.weight", task.model->classifier->weight.detach().clone());
  task.file.tensors.emplace_back("classifier.bias", task.model->classifier->bias.detach().clone());
  return task;
}

// Rows of lengths 2..9 with random ids and a second segment, as a tokenizer would give them.
std::vector<Encoding> random_rows(int64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Encoding> rows(count);
  for (auto& row : rows) {
    const int64_t length = 2 + static_cast<int64_t>(rng() % 8);
    for (int64_t t = 0; t < length; ++t) {
      row.ids.push_back(t == 0 ? 2 : 3 + static_cast<int64_t>(rng() % 26));
      row.type_ids.push_back(t > length / 2 ? 1 : 0);
      row.attention_mask.push_back(1);
    }
  }
  return rows;
}

std::vector<const Encoding*> pointers(const std::vector<Encoding>& rows) {
  std::vector<const Encoding*> out;
  for (const auto& row : rows) out.push_back(&row);
  return out;
}

// Each row's logits from its own single-task model, computed on that row alone.
at::Tensor reference_row(TrainedTask& task, const Encoding& row) {
  torch::NoGradGuard no_grad;
  return task.model->forward(collate({&row}, 0, BatchLayout::padded))[0];
}

class MixedBatch : public ::testing::TestWithParam<BatchLayout> {};

void expect_rows_match(MultiTaskModel& engine, std::vector<TrainedTask>& tasks, const std::vector<int64_t>& task_of,
                       const std::vector<Encoding>& rows, BatchLayout layout) {
  EncoderInput input = collate(pointers(rows), 0, layout);
  input.task_index = at::tensor(task_of, at::kLong);
  const at::Tensor logits = engine.forward(input);
  ASSERT_EQ(logits.size(0), static_cast<int64_t>(rows.size()));
  for (size_t b = 0; b < rows.size(); ++b) {
    TrainedTask& task = tasks[static_cast<size_t>(task_of[b])];
    const at::Tensor expected = reference_row(task, rows[b]);
    const at::Tensor got = logits[static_cast<int64_t>(b)];
    EXPECT_LT((got.narrow(0, 0, task.num_labels) - expected).abs().max().item<double>(), 1e-5)
        << "row " << b << " of task " << task_of[b] << " (" << task.method << ")";
    if (task.num_labels < logits.size(1)) {  // columns past the task's labels stay zero
      EXPECT_EQ(got.narrow(0, task.num_labels, logits.size(1) - task.num_labels).abs().max().item<double>(), 0.0);
    }
  }
}

std::vector<TrainedTask> every_method() {
  std::vector<TrainedTask> tasks;
  tasks.push_back(trained_task("adapterbias", {}, 2, 1));
  tasks.push_back(trained_task("adapterbias", {{"share_alpha", true}}, 3, 2));
  tasks.push_back(trained_task("bitfit", {}, 2, 3));
  tasks.push_back(trained_task("head", {}, 4, 4));
  tasks.push_back(trained_task("lora", {}, 2, 5));
  tasks.push_back(trained_task("houlsby", {{"bottleneck", 4}}, 3, 6));
  tasks.push_back(trained_task("adapterbias", {}, 1, 7));  // regression
  tasks.push_back(trained_task("adapterbias-l0", {}, 2, 8));
  // Heads that read other poolings than the pooler's, beside those that do.
  tasks.push_back(trained_task("head", {}, 2, 9, Pooling::mean));
  tasks.push_back(trained_task("adapterbias", {}, 3, 10, Pooling::cls));
  return tasks;
}

TEST_P(MixedBatch, EveryRowGetsItsOwnTaskModelsLogits) {
  std::vector<TrainedTask> tasks = every_method();
  MultiTaskModel engine(tiny_pretrained(), Compute{});
  for (size_t k = 0; k < tasks.size(); ++k) engine.add_task(fmt::format("t{}", k), tasks[k].file, fmt::format("t{}.safetensors", k));
  EXPECT_EQ(engine.num_tasks(), 10);
  EXPECT_EQ(engine.max_outputs(), 4);

  const std::vector<Encoding> rows = random_rows(40, 3);
  std::mt19937_64 rng(5);
  std::vector<int64_t> task_of;
  for (size_t b = 0; b < rows.size(); ++b) task_of.push_back(static_cast<int64_t>(rng() % tasks.size()));
  expect_rows_match(engine, tasks, task_of, rows, GetParam());
  // The last layer on the first tokens alone gives the heads the same reads, each row under its own task.
  {
    EncoderInput input = collate(pointers(rows), 0, GetParam());
    input.task_index = at::tensor(task_of, at::kLong);
    const EncoderOutput every = engine.encode(input, LastLayer::every_token);
    const EncoderOutput first = engine.encode(input, LastLayer::first_tokens);
    EXPECT_FALSE(first.last_hidden_state.defined());
    EXPECT_LT((every.first_tokens - first.first_tokens).abs().max().item<double>(), 1e-5);
    EXPECT_LT((every.pooler_output - first.pooler_output).abs().max().item<double>(), 1e-5);
  }
  // A batch of one task among several takes that task's rows without the per-token gather.
  for (const int64_t k : {1, 4}) expect_rows_match(engine, tasks, std::vector<int64_t>(rows.size(), k), rows, GetParam());
}

TEST_P(MixedBatch, OneTaskOfEachMethodAlone) {
  // K = 1 per method, and the same task under the single-task model's own batch.
  for (auto& task : every_method()) {
    MultiTaskModel engine(tiny_pretrained(), Compute{});
    engine.add_task("only", task.file, "only.safetensors");
    const std::vector<Encoding> rows = random_rows(6, 9);
    std::vector<TrainedTask> one;
    one.push_back(std::move(task));
    expect_rows_match(engine, one, std::vector<int64_t>(rows.size(), 0), rows, GetParam());
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, MixedBatch, ::testing::Values(BatchLayout::padded, BatchLayout::packed));

TEST(MultiTaskModel, RemovingATaskKeepsTheOthersAndItsNameIsFreeAgain) {
  std::vector<TrainedTask> tasks = every_method();
  MultiTaskModel engine(tiny_pretrained(), Compute{});
  for (size_t k = 0; k < tasks.size(); ++k) engine.add_task(fmt::format("t{}", k), tasks[k].file, "x.safetensors");
  engine.remove_task("t2");
  engine.remove_task("t0");
  EXPECT_THROW(engine.task_index("t0"), InputError);
  std::vector<TrainedTask> left;
  for (size_t k : {1, 3, 4, 5, 6, 7, 8, 9}) left.push_back(std::move(tasks[k]));
  EXPECT_EQ(engine.num_tasks(), 8);
  const std::vector<Encoding> rows = random_rows(12, 4);
  std::vector<int64_t> task_of;
  for (size_t b = 0; b < rows.size(); ++b) task_of.push_back(static_cast<int64_t>(b % left.size()));
  expect_rows_match(engine, left, task_of, rows, BatchLayout::packed);
  // Re-adding under a freed name appends it as the last row.
  TrainedTask again = trained_task("bitfit", {}, 2, 3);
  engine.add_task("t2", again.file, "x.safetensors");
  EXPECT_EQ(engine.task_index("t2"), 8);
  left.push_back(std::move(again));
  task_of.assign(rows.size(), 8);
  expect_rows_match(engine, left, task_of, rows, BatchLayout::padded);
}

TEST(MultiTaskModel, RefusesWhatCannotShareTheBackbone) {
  MultiTaskModel engine(tiny_pretrained(), Compute{});
  TrainedTask lora = trained_task("lora", {}, 2, 1);
  engine.add_task("a", lora.file, "a.safetensors");
  EXPECT_THROW(engine.add_task("a", lora.file, "a.safetensors"), InputError);    // the name is taken
  EXPECT_THROW(engine.add_task("a/b", lora.file, "a.safetensors"), InputError);  // not a task name
  EXPECT_THROW(engine.add_task("", lora.file, "a.safetensors"), InputError);
  TrainedTask full = trained_task("full", {}, 2, 2);
  EXPECT_THROW(engine.add_task("full", full.file, "f.safetensors"), InputError);
  TrainedTask rank4 = trained_task("lora", {{"r", 4}}, 2, 3);
  EXPECT_THROW(engine.add_task("r4", rank4.file, "r4.safetensors"), MismatchError);  // lora's options differ
  AdapterFile other = lora.file;
  other.info.backbone["fingerprint"] = "00000000";
  EXPECT_THROW(engine.add_task("other", other, "o.safetensors"), MismatchError);
  AdapterFile missing = lora.file;
  missing.tensors.pop_back();
  EXPECT_THROW(engine.add_task("missing", missing, "m.safetensors"), MismatchError);
  EXPECT_EQ(engine.num_tasks(), 1);
}

TEST(MultiTaskModel, TaskBytesGrowByTheAdaptersTensors) {
  MultiTaskModel engine(tiny_pretrained(), Compute{});
  TrainedTask task = trained_task("adapterbias", {}, 2, 1);
  engine.add_task("a", task.file, "a.safetensors");
  const int64_t one = engine.task_bytes();
  EXPECT_EQ(one, engine.tasks()[0].tensor_bytes);
  for (int k = 0; k < 9; ++k) engine.add_task(fmt::format("copy{}", k), task.file, "a.safetensors");
  EXPECT_EQ(engine.task_bytes(), 10 * one);
}

}  // namespace
}  // namespace adapterbias::testing
