#include <gtest/gtest.h>

#include "core/error.h"
#include "core/safetensors_header.h"

namespace adapterbias {
namespace {

// A file of `header` (padded to 8 bytes) followed by `data_bytes` zero bytes.
std::string file_with(const std::string& header, size_t data_bytes) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return bytes + header + std::string(data_bytes, '\0');
}

std::string refusal(const std::string& bytes) {
  try {
    parse_safetensors_header(bytes, "x.safetensors");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(SafetensorsHeader, AcceptsTensorsThatTileTheData) {
  const auto header = parse_safetensors_header(
      file_with(R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"I64","shape":[1,1],"data_offsets":[8,16]},"e":{"dtype":"F32","shape":[0],"data_offsets":[16,16]}})",
                16),
      "x.safetensors");
  ASSERT_EQ(header.entries.size(), 3u);
  EXPECT_EQ(header.entries[1].dtype, "I64");
  EXPECT_EQ(header.metadata.at("k"), "v");
  EXPECT_EQ(header.data_bytes, 16u);
}

TEST(SafetensorsHeader, TooShortFileIsTruncated) {
  EXPECT_NE(refusal("abc").find("x.safetensors: truncated"), std::string::npos);
  EXPECT_NE(refusal(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}").find("truncated"), std::string::npos);
}

TEST(SafetensorsHeader, OverlappingTensorsAreRejected) {
  const auto bytes = file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  EXPECT_NE(refusal(bytes).find("overlap"), std::string::npos);
}

TEST(SafetensorsHeader, UnknownDtypeNamesTheTensorAndTheAcceptedOnes) {
  const auto what = refusal(file_with(R"({"weird":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,1]}})", 1));
  EXPECT_NE(what.find("'weird'"), std::string::npos);
  EXPECT_NE(what.find("F8_E9"), std::string::npos);
  EXPECT_NE(what.find("BF16"), std::string::npos);
}

TEST(SafetensorsHeader, TrailingBytesAndHolesAreRejected) {
  EXPECT_NE(refusal(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 9)).find("5 trailing bytes"),
            std::string::npos);
  EXPECT_NE(refusal(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8))
                .find("data bytes [0, 4) belong to no tensor"),
            std::string::npos);
}

TEST(SafetensorsHeader, ShapeProductsThatOverflowAreRejected) {
  // 2^32 * 2^32 elements: wraps to 0 bytes in 64-bit arithmetic, which offsets [0, 0) would match.
  const auto what = refusal(file_with(
      R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0));
  EXPECT_NE(what.find("'a'"), std::string::npos);
  EXPECT_NE(what.find("overflows"), std::string::npos);
  EXPECT_NE(refusal(file_with(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0)).find("negative"),
            std::string::npos);
}

TEST(SafetensorsHeader, MalformedEntriesNameTheTensor) {
  EXPECT_NE(refusal(file_with(R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8)).find("'a': malformed"),
            std::string::npos);
  EXPECT_NE(refusal(file_with(R"({"a":{"dtype":"F32"}})", 0)).find("'a': needs"), std::string::npos);
  EXPECT_NE(refusal(file_with(R"([1,2])", 0)).find("not a JSON object"), std::string::npos);
}

}  // namespace
}  // namespace adapterbias
