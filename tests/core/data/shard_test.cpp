#include "data/shard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "test_tmp.h"

namespace dlab {
namespace {

using test::error_of;

// Writes a raw shard file with an arbitrary header and payload.
void write_raw(const std::filesystem::path& p, int32_t magic, int32_t version, int32_t count,
               size_t payload_tokens) {
  int32_t header[kShardHeaderInts] = {};
  header[0] = magic;
  header[1] = version;
  header[2] = count;
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(header), sizeof(header));
  std::vector<uint16_t> payload(payload_tokens, 7);
  out.write(reinterpret_cast<const char*>(payload.data()), std::streamsize(payload.size() * 2));
}

TEST(Shard, RoundTripKeepsEveryTokenAndTheLlmcHeader) {
  const auto dir = test::fresh_tmp_dir();
  std::vector<uint16_t> tokens;
  for (int i = 0; i < 5000; ++i) tokens.push_back(uint16_t((i * 7919) % 65536));
  tokens.push_back(0);
  tokens.push_back(65535);
  shard_write(dir / "a.bin", tokens);
  EXPECT_EQ(shard_read(dir / "a.bin"), tokens);

  // The layout llm.c expects: 256 int32 header, then uint16 tokens.
  EXPECT_EQ(std::filesystem::file_size(dir / "a.bin"), 1024 + 2 * tokens.size());
  std::ifstream in(dir / "a.bin", std::ios::binary);
  int32_t header[3];
  in.read(reinterpret_cast<char*>(header), sizeof(header));
  EXPECT_EQ(header[0], 20240520);
  EXPECT_EQ(header[1], 1);
  EXPECT_EQ(header[2], int32_t(tokens.size()));
}

TEST(Shard, EmptyShardRoundTrips) {
  const auto dir = test::fresh_tmp_dir();
  shard_write(dir / "e.bin", {});
  EXPECT_TRUE(shard_read(dir / "e.bin").empty());
}

TEST(Shard, WrongMagicNamesFoundAndExpected) {
  const auto dir = test::fresh_tmp_dir();
  write_raw(dir / "m.bin", 12345, 1, 4, 4);
  const std::string msg = error_of([&] { shard_read(dir / "m.bin"); });
  EXPECT_NE(msg.find("m.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("magic 12345"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected 20240520"), std::string::npos) << msg;
}

TEST(Shard, WrongVersionNamesFoundAndExpected) {
  const auto dir = test::fresh_tmp_dir();
  write_raw(dir / "v.bin", kShardMagic, 2, 4, 4);
  const std::string msg = error_of([&] { shard_read(dir / "v.bin"); });
  EXPECT_NE(msg.find("version 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reads version 1"), std::string::npos) << msg;
}

TEST(Shard, SizeDisagreeingWithHeaderIsAnError) {
  const auto dir = test::fresh_tmp_dir();
  write_raw(dir / "s.bin", kShardMagic, 1, 100, 50);
  const std::string msg = error_of([&] { shard_read(dir / "s.bin"); });
  EXPECT_NE(msg.find("1124 bytes"), std::string::npos) << msg;  // 1024 + 2*50
  EXPECT_NE(msg.find("announces 100 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1224 bytes"), std::string::npos) << msg;  // 1024 + 2*100

  test::write_text(dir / "short.bin", "tiny");
  EXPECT_NE(error_of([&] { shard_read(dir / "short.bin"); }).find("4 bytes"), std::string::npos);
  EXPECT_NE(error_of([&] { shard_read(dir / "missing.bin"); }).find("missing.bin"),
            std::string::npos);
}

}  // namespace
}  // namespace dlab
