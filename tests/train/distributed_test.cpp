#include "train/distributed.h"

#include <map>
#include <thread>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace adapterbias {
namespace {

std::optional<DistributedEnv> env_of(std::map<std::string, std::string> vars) {
  return distributed_env([&](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(DistributedEnv, ReadsTorchrunVariables) {
  EXPECT_FALSE(env_of({}).has_value());
  const auto env = env_of({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.2"},
                           {"MASTER_PORT", "29400"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}});
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->world_size, 4);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "10.0.0.2");
  EXPECT_EQ(env->master_port, 29400);
  EXPECT_TRUE(env->agent_store);
}

TEST(DistributedEnv, MalformedValuesNameTheVariable) {
  auto message = [](std::map<std::string, std::string> vars) {
    try {
      env_of(std::move(vars));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"WORLD_SIZE", "2"}}).find("RANK"), std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}}).find("RANK=2"),
            std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "x"}, {"RANK", "0"}}).find("WORLD_SIZE=x"), std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}, {"RANK", "0"}}).find("MASTER_ADDR"), std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "70000"}}).find("MASTER_PORT"),
            std::string::npos);
}

// Two ranks as two threads of this process, over loopback.
TEST(ProcessGroup, CollectivesBetweenTwoRanks) {
  const int port = free_loopback_port();
  std::vector<at::Tensor> sums(2), broadcasts(2), gathered(2);
  auto rank_main = [&](int rank) {
    DistributedEnv env;
    env.rank = rank;
    env.world_size = 2;
    env.master_port = port;
    auto group = ProcessGroup::connect(env, std::chrono::seconds(20));
    at::Tensor x = at::full({3}, static_cast<float>(rank + 1));
    group->all_reduce_sum(x);
    sums[rank] = x;
    std::vector<at::Tensor> tensors{at::full({2, 2}, static_cast<float>(rank + 10)), at::full({1}, static_cast<float>(rank))};
    group->broadcast(tensors);
    broadcasts[rank] = at::cat({tensors[0].reshape(-1), tensors[1]});
    gathered[rank] = group->all_gather_rows(at::full({rank + 1, 2}, static_cast<float>(rank)));  // 1 and 2 rows
  };
  std::thread other(rank_main, 1);
  rank_main(0);
  other.join();
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(at::equal(sums[r], at::full({3}, 3.0f)));
    EXPECT_TRUE(at::equal(broadcasts[r], at::tensor({10.f, 10.f, 10.f, 10.f, 0.f})));
    EXPECT_TRUE(at::equal(gathered[r], at::tensor({0.f, 0.f, 1.f, 1.f, 1.f, 1.f}).view({3, 2})));
  }
}

TEST(ProcessGroup, RendezvousTimesOutNamingTheStore) {
  DistributedEnv env;
  env.rank = 1;  // a client with no server
  env.world_size = 2;
  env.master_port = free_loopback_port();
  try {
    ProcessGroup::connect(env, std::chrono::milliseconds(1500));
    FAIL() << "connected to nobody";
  } catch (const DistributedError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1: no rendezvous"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace adapterbias
