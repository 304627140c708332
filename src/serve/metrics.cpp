#include "serve/metrics.h"

#include <fmt/format.h>

namespace adapterbias {
namespace {

const std::vector<double> kLatencyBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// A label value with \, " and newlines escaped, as the exposition format wants.
std::string label_value(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1) {}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  int64_t cumulative = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? fmt::format("{}", bounds_[i]) : "+Inf";
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, labels.empty() ? "" : ",", le, cumulative);
  }
  const std::string braces = labels.empty() ? std::string() : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, sum_, name, braces, count_);
}

void ServerMetrics::request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{endpoint, status}];
  latency_.try_emplace(endpoint, kLatencyBounds).first->second.observe(seconds);
}

void ServerMetrics::error(const std::string& error_type) {
  std::lock_guard lock(mutex_);
  ++errors_[error_type];
}

void ServerMetrics::batch(int64_t rows, int64_t tokens, double seconds) {
  std::lock_guard lock(mutex_);
  batch_rows_.observe(static_cast<double>(rows));
  batch_tokens_.observe(static_cast<double>(tokens));
  batch_seconds_.observe(seconds);
}

void ServerMetrics::task_inputs(const std::string& task, int64_t inputs) {
  std::lock_guard lock(mutex_);
  task_inputs_[task] += inputs;
}

std::string ServerMetrics::render(int64_t queue_depth, int64_t tasks_loaded) const {
  std::lock_guard lock(mutex_);
  std::string out;
  header(out, "adapterbias_requests_total", "counter", "HTTP requests by endpoint and status.");
  for (const auto& [key, n] : requests_)
    out += fmt::format("adapterbias_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", label_value(key.first),
                       key.second, n);
  header(out, "adapterbias_errors_total", "counter", "Error responses by error_type.");
  for (const auto& [type, n] : errors_)
    out += fmt::format("adapterbias_errors_total{{error_type=\"{}\"}} {}\n", label_value(type), n);
  header(out, "adapterbias_request_duration_seconds", "histogram", "Time from request to response, by endpoint.");
  for (const auto& [endpoint, histogram] : latency_)
    histogram.render(out, "adapterbias_request_duration_seconds", fmt::format("endpoint=\"{}\"", label_value(endpoint)));
  header(out, "adapterbias_task_inputs_total", "counter", "Inputs run, by task.");
  for (const auto& [task, n] : task_inputs_)
    out += fmt::format("adapterbias_task_inputs_total{{task=\"{}\"}} {}\n", label_value(task), n);
  header(out, "adapterbias_batch_rows", "histogram", "Inputs per engine batch.");
  batch_rows_.render(out, "adapterbias_batch_rows", "");
  header(out, "adapterbias_batch_tokens", "histogram", "Real tokens per engine batch.");
  batch_tokens_.render(out, "adapterbias_batch_tokens", "");
  header(out, "adapterbias_batch_duration_seconds", "histogram", "Engine time per batch.");
  batch_seconds_.render(out, "adapterbias_batch_duration_seconds", "");
  header(out, "adapterbias_queue_depth", "gauge", "Inputs waiting for the engine.");
  out += fmt::format("adapterbias_queue_depth {}\n", queue_depth);
  header(out, "adapterbias_tasks_loaded", "gauge", "Tasks loaded on the backbone.");
  out += fmt::format("adapterbias_tasks_loaded {}\n", tasks_loaded);
  return out;
}

}  // namespace adapterbias
