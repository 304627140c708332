#include "train/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <future>
#include <thread>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace adapterbias {
namespace {

int parse_int(const char* name, const char* text, int min, int max) {
  int value = 0;
  const char* end = text + std::char_traits<char>::length(text);
  const auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || ptr != end || value < min || value > max)
    throw InputError(fmt::format("environment {}={}: expected an integer in [{}, {}]", name, text, min, max));
  return value;
}

// The first line of a c10d/Gloo message, without the source location it starts with.
std::string first_line(const std::exception& e) {
  std::string text = e.what();
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) text = c10->what_without_backtrace();
  text = text.substr(0, text.find('\n'));
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("] ");
    if (close != std::string::npos) text = text.substr(close + 2);
  }
  return text;
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

}  // namespace

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  const bool bound = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0;
  if (fd >= 0) ::close(fd);
  if (!bound) throw InputError("no free TCP port on 127.0.0.1 for a local rendezvous");
  return ntohs(address.sin_port);
}

std::optional<DistributedEnv> distributed_env(const std::function<const char*(const char*)>& getenv) {
  const char* world = getenv("WORLD_SIZE");
  if (world == nullptr) return std::nullopt;
  DistributedEnv env;
  env.world_size = parse_int("WORLD_SIZE", world, 1, 1 << 20);
  const char* rank = getenv("RANK");
  if (rank == nullptr) throw InputError("environment: WORLD_SIZE is set but RANK is not (launch with torchrun or --nproc)");
  env.rank = parse_int("RANK", rank, 0, env.world_size - 1);
  if (const char* local = getenv("LOCAL_RANK")) env.local_rank = parse_int("LOCAL_RANK", local, 0, 1 << 20);
  if (env.world_size > 1) {
    const char* addr = getenv("MASTER_ADDR");
    const char* port = getenv("MASTER_PORT");
    if (addr == nullptr || port == nullptr)
      throw InputError("environment: WORLD_SIZE > 1 needs MASTER_ADDR and MASTER_PORT (the rendezvous store)");
    env.master_addr = addr;
    env.master_port = parse_int("MASTER_PORT", port, 1, 65535);
  }
  if (const char* agent = getenv("TORCHELASTIC_USE_AGENT_STORE")) env.agent_store = std::string_view(agent) == "True";
  if (const char* ifname = getenv("GLOO_SOCKET_IFNAME")) env.socket_interface = ifname;
  return env;
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
};

ProcessGroup::ProcessGroup(DistributedEnv env, std::unique_ptr<Impl> impl) : env_(std::move(env)), impl_(std::move(impl)) {}
ProcessGroup::~ProcessGroup() = default;

std::unique_ptr<ProcessGroup> ProcessGroup::connect(const DistributedEnv& env, std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  const std::string where = fmt::format("{}:{}", env.master_addr, env.master_port);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(env.master_port);
    options.isServer = env.rank == 0 && !env.agent_store;
    options.numWorkers = env.world_size;
    options.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    impl->store = c10::make_intrusive<c10d::PrefixStore>("adapterbias", tcp);
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("rank {}: no rendezvous with the store at {} within {} s: {}", env.rank, where,
                                       timeout.count() / 1000.0, first_line(e)));
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // GLOO_SOCKET_IFNAME picks the interface as in PyTorch; a loopback rendezvous stays on loopback.
    if (!env.socket_interface.empty()) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(env.socket_interface));
    } else if (is_loopback(env.master_addr)) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, options);
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("rank {}: the {} ranks did not all connect within {} s (store {}): {}", env.rank,
                                       env.world_size, timeout.count() / 1000.0, where, first_line(e)));
  }
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(env, std::move(impl)));
}

template <typename Run>
void ProcessGroup::collective(const char* what, Run&& run) {
  ++count_;
  try {
    const std::string count = std::to_string(count_);
    impl_->store->set(fmt::format("arrived/{}", env_.rank), std::vector<uint8_t>(count.begin(), count.end()));
    run();
  } catch (const std::exception& e) {
    throw DistributedError(fmt::format("rank {}: {} #{} failed: {}: {}", env_.rank, what, count_, missing_ranks(),
                                       first_line(e)));
  }
}

// Who never arrived at the failed collective: ranks whose count in the store is behind ours. The store's
// reads block without a timeout when its host hangs, so they run on a thread of their own that is abandoned
// (holding the store) after a few seconds; then rank 0, the host, is the one that is gone.
std::string ProcessGroup::missing_ranks() const {
  auto answer = std::make_shared<std::promise<std::string>>();
  std::future<std::string> result = answer->get_future();
  std::thread([store = impl_->store, env = env_, count = count_, answer] {
    try {
      std::vector<int> missing;
      for (int r = 0; r < env.world_size; ++r) {
        if (r == env.rank) continue;
        int64_t arrived = 0;
        if (const std::string key = fmt::format("arrived/{}", r); store->check({key})) {
          const auto bytes = store->get(key);
          arrived = std::stoll(std::string(bytes.begin(), bytes.end()));
        }
        if (arrived < count) missing.push_back(r);
      }
      answer->set_value(missing.empty() ? "a peer failed"
                                        : fmt::format("rank {} did not arrive (dead or hung)", fmt::join(missing, ", ")));
    } catch (const std::exception&) {
      answer->set_value("");
    }
  }).detach();
  std::string cause;
  if (result.wait_for(std::chrono::seconds(3)) == std::future_status::ready) cause = result.get();
  if (cause.empty())
    cause = env_.agent_store ? "the launcher's rendezvous store is gone" : "rank 0 (the host of the rendezvous store) is gone or hung";
  return cause;
}

void ProcessGroup::all_reduce_sum(at::Tensor& tensor) {
  collective("all-reduce", [&] {
    std::vector<at::Tensor> tensors{tensor};
    impl_->gloo->allreduce(tensors)->wait();
  });
}

void ProcessGroup::broadcast(std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> flat_views;
  for (const auto& t : tensors) flat_views.push_back(t.detach().reshape(-1));
  std::vector<at::Tensor> flat{at::cat(flat_views)};
  collective("broadcast", [&] { impl_->gloo->broadcast(flat)->wait(); });
  int64_t offset = 0;
  for (auto& t : tensors) {
    at::NoGradGuard no_grad;
    t.copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

at::Tensor ProcessGroup::all_gather_rows(const at::Tensor& rows) {
  // Gloo gathers equal shapes: pad every rank's rows to the longest count, then trim.
  std::vector<at::Tensor> count{at::tensor({rows.size(0)}, at::kLong)};
  std::vector<std::vector<at::Tensor>> counts(1);
  for (int r = 0; r < env_.world_size; ++r) counts[0].push_back(at::empty({1}, at::kLong));
  collective("all-gather", [&] { impl_->gloo->allgather(counts, count)->wait(); });
  int64_t longest = 0;
  for (const auto& c : counts[0]) longest = std::max(longest, c.item<int64_t>());
  std::vector<int64_t> shape = rows.sizes().vec();
  shape[0] = longest;
  std::vector<at::Tensor> padded{at::zeros(shape, rows.options())};
  padded[0].narrow(0, 0, rows.size(0)).copy_(rows);
  std::vector<std::vector<at::Tensor>> gathered(1);
  for (int r = 0; r < env_.world_size; ++r) gathered[0].push_back(at::empty(shape, rows.options()));
  collective("all-gather", [&] { impl_->gloo->allgather(gathered, padded)->wait(); });
  std::vector<at::Tensor> parts;
  for (int r = 0; r < env_.world_size; ++r) parts.push_back(gathered[0][r].narrow(0, 0, counts[0][r].item<int64_t>()));
  return at::cat(parts);
}

}  // namespace adapterbias
