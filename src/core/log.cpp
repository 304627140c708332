#include "core/log.h"

#include <mutex>
#include <utility>

namespace adapterbias {
namespace {

std::mutex g_mutex;
LogHandler g_handler;

}  // namespace

LogHandler set_log_handler(LogHandler handler) {
  std::lock_guard lock(g_mutex);
  return std::exchange(g_handler, std::move(handler));
}

void log_line(LogKind kind, std::string_view line) {
  LogHandler handler;
  {
    std::lock_guard lock(g_mutex);
    handler = g_handler;
  }
  if (handler) handler(kind, line);
}

}  // namespace adapterbias
