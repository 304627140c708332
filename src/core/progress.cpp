#include "core/progress.h"

#include <unistd.h>

#include <fmt/format.h>

#include "core/log.h"

namespace adapterbias {

Progress::Progress(int64_t total, std::string label)
    : total_(total), label_(std::move(label)), tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(int64_t steps, int64_t tokens, const std::string& status) {
  done_ += steps;
  tokens_ += tokens;
  if (!status.empty()) status_ = status;
  const auto now = std::chrono::steady_clock::now();
  // A terminal redraws ten times a second; a log file gets a line every ten seconds.
  const double interval = tty_ ? 0.1 : 10.0;
  if (std::chrono::duration<double>(now - last_draw_).count() >= interval) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final_line) {
  const double seconds = std::max(elapsed_seconds(), 1e-9);
  std::string bar;
  if (total_ > 0) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * std::min<int64_t>(done_, total_) / total_);
    bar = fmt::format("[{}{}] {}/{} ", std::string(filled, '#'), std::string(kWidth - filled, '.'), done_, total_);
  } else {
    bar = fmt::format("{} ", done_);
  }
  std::string eta;
  if (total_ > 0 && done_ > 0 && !final_line) eta = fmt::format(" eta {:.0f}s", seconds * (total_ - done_) / done_);
  const std::string line = fmt::format("{} {}{:.0f} tok/s {:.1f}s{}{}{}", label_, bar, tokens_ / seconds, seconds, eta,
                                       status_.empty() ? "" : " ", status_);
  log_line(final_line ? LogKind::progress_final : LogKind::progress, line);
}

}  // namespace adapterbias
