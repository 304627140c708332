#include "train/train_state.h"

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/safetensors.h"

namespace adapterbias {
namespace {

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("ab_train_state_" + std::to_string(::getpid()) + "_" + name);
}

TrainState sample_state() {
  TrainState s;
  s.progress.step = 7;
  s.progress.total_steps = 20;
  s.progress.epoch = 2;
  s.progress.batch_in_epoch = 3;
  s.progress.loss_count = 2;
  s.progress.tokens = 1234;
  s.progress.evals_since_best = 1;
  s.progress.step_seconds = 1.5;
  s.progress.elapsed_seconds = 2.25;
  s.progress.has_best = true;
  s.progress.best.values = {{"f1", 0.8125}, {"accuracy", 0.75}};
  s.progress.best.primary_name = "f1";
  s.progress.best.primary = 0.8125;
  s.progress.best_step = 4;
  s.progress.metrics = {{{"step", 4}, {"train_loss", nullptr}}};
  s.options = {{"lr", 1e-3}};
  s.data = {{"train_examples", 10}};
  s.command = {{"model", "minilm"}};
  s.trained = {{"a.v", at::arange(4, at::kFloat) / 3}, {"b.weight", at::randn({2, 3})}};
  s.adamw["a.v"] = {5, at::rand({4}), at::rand({4})};
  s.rng_cpu = at::detail::getDefaultCPUGenerator().get_state();
  s.loss_total = at::tensor({1.0 / 3.0}, at::kDouble);
  return s;
}

TEST(TrainState, RoundTripIsExact) {
  const TrainState s = sample_state();
  const auto path = temp_path("roundtrip.safetensors");
  save_train_state(path, s);
  const TrainState r = load_train_state(path);
  std::filesystem::remove(path);
  EXPECT_EQ(r.progress.step, 7);
  EXPECT_EQ(r.progress.epoch, 2);
  EXPECT_EQ(r.progress.batch_in_epoch, 3);
  EXPECT_EQ(r.progress.tokens, 1234);
  EXPECT_EQ(r.progress.best.primary, 0.8125);
  EXPECT_EQ(r.progress.best.values, s.progress.best.values);
  EXPECT_EQ(r.progress.metrics, s.progress.metrics);
  EXPECT_EQ(r.command, s.command);
  ASSERT_EQ(r.trained.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.trained[i].first, s.trained[i].first);
    EXPECT_TRUE(at::equal(r.trained[i].second, s.trained[i].second));
  }
  EXPECT_EQ(r.adamw.at("a.v").step, 5);
  EXPECT_TRUE(at::equal(r.adamw.at("a.v").exp_avg_sq, s.adamw.at("a.v").exp_avg_sq));
  EXPECT_TRUE(at::equal(r.rng_cpu, s.rng_cpu));
  EXPECT_EQ(r.loss_total.item<double>(), 1.0 / 3.0);
}

TEST(TrainState, RejectsWhatIsNotACheckpoint) {
  const auto path = temp_path("plain.safetensors");
  save_safetensors(path, {{"x", at::zeros({2})}});
  EXPECT_THROW(load_train_state(path), FormatError);
  TrainState s = sample_state();
  s.trained[0].second[1] = std::nanf("");
  save_train_state(path, s);
  try {
    load_train_state(path);
    FAIL() << "a NaN tensor was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("trained/a.v"), std::string::npos) << e.what();
  }
  s = sample_state();
  s.progress.step = 30;  // past total_steps
  save_train_state(path, s);
  EXPECT_THROW(load_train_state(path), FormatError);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace adapterbias
