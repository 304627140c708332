// Progress on long work: a one-line bar with throughput, handed to the log handler (core/log.h) ten times a
// second when stderr is a terminal (the CLI redraws it in place), every ten seconds otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace adapterbias {

class Progress {
 public:
  // `total` steps (0 when unknown); `label` starts the line, e.g. "train epoch 1".
  Progress(int64_t total, std::string label);
  // Advances by `steps` and counts `tokens` towards tokens/s; `status` is appended (e.g. "loss 0.4132").
  void advance(int64_t steps, int64_t tokens, const std::string& status = {});
  // Prints the final line; called by the destructor when not called before.
  void finish();
  ~Progress();

  double elapsed_seconds() const;
  int64_t tokens() const { return tokens_; }

 private:
  void draw(bool final_line);

  int64_t total_;
  std::string label_;
  std::string status_;
  int64_t done_ = 0;
  int64_t tokens_ = 0;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace adapterbias
