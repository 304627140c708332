// The server's counters in the Prometheus text exposition format (GET /metrics): requests by endpoint and
// status, errors by type, latency histograms by endpoint, batch sizes in rows and tokens, inputs per task, and
// the queue depth. Written by hand: the format is a few lines of text, and no Debian package offers a client
// library that takes a std::string sink without a bundled HTTP exposer.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace adapterbias {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Lines "<name>_bucket{<labels>le=...} n", _sum and _count; `labels` is empty or "k=\"v\",...".
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // one per bound, cumulative when rendered; the last is +Inf
  double sum_ = 0;
  int64_t count_ = 0;
};

class ServerMetrics {
 public:
  void request(const std::string& endpoint, int status, double seconds);
  void error(const std::string& error_type);
  void batch(int64_t rows, int64_t tokens, double seconds);
  void task_inputs(const std::string& task, int64_t inputs);
  // The whole exposition; `queue_depth` is read now.
  std::string render(int64_t queue_depth, int64_t tasks_loaded) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::map<std::string, int64_t> errors_;
  std::map<std::string, Histogram> latency_;
  std::map<std::string, int64_t> task_inputs_;
  Histogram batch_rows_{{1, 2, 4, 8, 16, 32, 64, 128, 256}};
  Histogram batch_tokens_{{64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768}};
  Histogram batch_seconds_{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}};
};

}  // namespace adapterbias
