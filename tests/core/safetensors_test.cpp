#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/io.h"
#include "core/safetensors.h"

namespace adapterbias {
namespace {

std::filesystem::path temp_file(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("ab_st_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

TEST(Safetensors, RoundTripKeepsDtypesShapesValuesAndMetadata) {
  const auto path = temp_file("round.safetensors");
  const at::Tensor f32 = at::randn({3, 5});
  const at::Tensor bf16 = at::randn({7}).to(at::kBFloat16);
  const at::Tensor f16 = at::randn({2, 2, 2}).to(at::kHalf);
  const at::Tensor i64 = at::arange(6).view({2, 3});
  const at::Tensor scalar = at::scalar_tensor(2.5);
  const at::Tensor empty = at::zeros({0, 4});
  save_safetensors(path, {{"b.f32", f32}, {"a.bf16", bf16}, {"f16", f16}, {"ids", i64}, {"s", scalar}, {"e", empty}},
                   {{"method", "adapterbias"}});
  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.metadata().at("method"), "adapterbias");
  EXPECT_TRUE(at::equal(file.get("b.f32"), f32));
  EXPECT_TRUE(at::equal(file.get("a.bf16"), bf16));
  EXPECT_TRUE(at::equal(file.get("f16"), f16));
  EXPECT_TRUE(at::equal(file.get("ids"), i64));
  EXPECT_EQ(file.get("s").dim(), 0);
  EXPECT_EQ(file.get("e").sizes(), empty.sizes());
  EXPECT_EQ(file.names().size(), 6u);
}

TEST(Safetensors, DataStartsEightByteAligned) {
  const auto path = temp_file("aligned.safetensors");
  save_safetensors(path, {{"x", at::ones({3})}});
  const std::string bytes = read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
}

}  // namespace
}  // namespace adapterbias
