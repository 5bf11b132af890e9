// XXH64 against values from the reference library (libxxhash 0.8.1).
#include "store/xxhash64.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace dlab {
namespace {

TEST(Xxh64, MatchesTheReferenceImplementation) {
  EXPECT_EQ(xxh64("", 0), 0xef46db3751d8e999ull);
  EXPECT_EQ(xxh64("abc", 3), 0x44bc2cf5ad770999ull);
  std::vector<uint8_t> v(100);
  for (size_t i = 0; i < v.size(); ++i) v[i] = uint8_t(i);
  EXPECT_EQ(xxh64(v.data(), 32), 0xcbf59c5116ff32b4ull);
  EXPECT_EQ(xxh64(v.data(), 100), 0x6ac1e58032166597ull);
}

TEST(Xxh64, StreamingEqualsOneShot) {
  std::vector<uint8_t> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = uint8_t(i * 7 + 3);
  for (size_t piece : {1u, 5u, 31u, 32u, 33u, 100u}) {
    Xxh64 h(42);
    for (size_t at = 0; at < v.size(); at += piece)
      h.update(v.data() + at, std::min(piece, v.size() - at));
    EXPECT_EQ(h.digest(), xxh64(v.data(), v.size(), 42)) << piece;
  }
}

}  // namespace
}  // namespace dlab
