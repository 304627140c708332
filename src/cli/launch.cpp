#include "cli/launch.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "train/distributed.h"

extern char** environ;

namespace adapterbias::cli {
namespace {

std::vector<std::string> g_arguments;
std::atomic<int> g_signal{0};

void on_signal(int signal) { g_signal.store(signal); }

std::string describe(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("exited with code {}", WEXITSTATUS(status));
}

int exit_code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace

void set_program_arguments(int argc, char** argv) { g_arguments.assign(argv, argv + argc); }
const std::vector<std::string>& program_arguments() { return g_arguments; }

int launch_workers(int workers, const std::vector<std::string>& arguments) {
  const int port = free_loopback_port();
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::string> base_env;
  auto is_launch_variable = [](const std::string& entry) {
    for (const char* name : {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT=",
                             "TORCHELASTIC_USE_AGENT_STORE="})
      if (entry.rfind(name, 0) == 0) return true;
    return false;
  };
  for (char** e = environ; *e; ++e)
    if (!is_launch_variable(*e)) base_env.emplace_back(*e);
  if (!std::getenv("OMP_NUM_THREADS")) base_env.push_back(fmt::format("OMP_NUM_THREADS={}", std::max(1u, cores / workers)));
  base_env.push_back(fmt::format("WORLD_SIZE={}", workers));
  base_env.push_back(fmt::format("LOCAL_WORLD_SIZE={}", workers));
  base_env.push_back("MASTER_ADDR=127.0.0.1");
  base_env.push_back(fmt::format("MASTER_PORT={}", port));

  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  std::vector<pid_t> pids(static_cast<size_t>(workers), -1);
  for (int rank = 0; rank < workers; ++rank) {
    std::vector<std::string> env = base_env;
    env.push_back(fmt::format("RANK={}", rank));
    env.push_back(fmt::format("LOCAL_RANK={}", rank));
    std::vector<char*> argv, envp;
    for (const auto& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw InputError(fmt::format("--nproc: could not start worker {}: fork failed", rank));
    if (pid == 0) {
      ::execve("/proc/self/exe", argv.data(), envp.data());
      std::fprintf(stderr, "error: worker %d: cannot run /proc/self/exe\n", rank);
      std::_Exit(127);
    }
    pids[static_cast<size_t>(rank)] = pid;
  }

  int running = workers, result = 0;
  bool stopping = false;
  auto stop_others = [&](int signal) {
    for (const pid_t pid : pids)
      if (pid > 0) ::kill(pid, signal);
  };
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    if (const int signal = g_signal.exchange(0); signal != 0) {  // the user's stop: every worker checkpoints
      stop_others(SIGTERM);
      stopping = true;
      if (result == 0) result = 128 + signal;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      if (std::chrono::steady_clock::now() > deadline) stop_others(SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const auto it = std::find(pids.begin(), pids.end(), pid);
    if (it == pids.end()) continue;
    const int rank = static_cast<int>(it - pids.begin());
    *it = -1;
    --running;
    const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (failed && result == 0) result = exit_code_of(status);
    if (failed && !stopping) {
      std::fprintf(stderr, "error: worker rank %d (pid %d) %s; stopping the other workers\n", rank, static_cast<int>(pid),
                   describe(status).c_str());
      stop_others(SIGTERM);
      stopping = true;
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    }
  }
  return result;
}

}  // namespace adapterbias::cli
