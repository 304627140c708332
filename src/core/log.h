// Where the library's messages go. The library prints nothing itself: warnings and progress lines go to the
// handler the program installs (the CLI: stderr; the Python package: a Python callable, or nothing).
#pragma once
#include <functional>
#include <string_view>

namespace adapterbias {

enum class LogKind {
  warning,         // one line
  progress,        // a progress line that the next one replaces
  progress_final,  // the last line of a progress display
};

using LogHandler = std::function<void(LogKind kind, std::string_view line)>;

// Installs `handler` for the whole process (an empty one drops every message); returns the previous one.
LogHandler set_log_handler(LogHandler handler);

void log_line(LogKind kind, std::string_view line);

}  // namespace adapterbias
