// Data-parallel training over PyTorch's c10d: a TCPStore rendezvous and a Gloo process group (CPU tensors),
// started the way torchrun starts workers (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
// Every collective names the rank that failed it: before each one a rank records its collective count in the
// store, so a survivor can tell which peers never arrived.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/error.h"

namespace adapterbias {

// A peer rank died, hung past the timeout, or the rendezvous failed.
class DistributedError : public Error {
 public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kDistributed; }
};

struct DistributedEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  // torchrun hosts the store itself (TORCHELASTIC_USE_AGENT_STORE=True)
  std::string socket_interface;  // GLOO_SOCKET_IFNAME, as in PyTorch; empty: loopback for a loopback store
};

// The launch environment read through `getenv` (std::getenv in the CLI); nullopt when WORLD_SIZE is unset.
// InputError naming the variable when a value is malformed or inconsistent.
std::optional<DistributedEnv> distributed_env(const std::function<const char*(const char*)>& getenv);

// A TCP port that is free on 127.0.0.1 now (the kernel picks it), for a local rendezvous; InputError if none.
int free_loopback_port();

class ProcessGroup {
 public:
  // Rendezvous of all ranks; DistributedError when it does not complete within `timeout`, which also bounds
  // every later collective.
  static std::unique_ptr<ProcessGroup> connect(const DistributedEnv& env, std::chrono::milliseconds timeout);
  ~ProcessGroup();

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }

  // In-place sum over ranks of a contiguous CPU tensor.
  void all_reduce_sum(at::Tensor& tensor);
  // Rank 0's values into `tensors` on every rank.
  void broadcast(std::vector<at::Tensor>& tensors);
  // Every rank's `rows` (any row count, same trailing shape and dtype) concatenated in rank order.
  at::Tensor all_gather_rows(const at::Tensor& rows);

 private:
  struct Impl;
  ProcessGroup(DistributedEnv env, std::unique_ptr<Impl> impl);
  template <typename Run>
  void collective(const char* what, Run&& run);
  std::string missing_ranks() const;

  DistributedEnv env_;
  std::unique_ptr<Impl> impl_;
  int64_t count_ = 0;  // collectives entered so far, the same on every healthy rank
};

}  // namespace adapterbias
