// XXH64 (Yann Collet's xxHash, 64-bit variant), written out from its
// specification: the content hash of checkpoint files. The same value comes
// out of Python's `xxhash.xxh64(data).hexdigest()`.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dlab {

// Streaming form: feed any number of pieces, then digest().
class Xxh64 {
 public:
  explicit Xxh64(uint64_t seed = 0);
  void update(const void* data, size_t n);
  uint64_t digest() const;

 private:
  uint64_t acc_[4];
  uint8_t buffer_[32];  // the bytes of an incomplete 32-byte stripe
  size_t buffered_ = 0;
  uint64_t total_ = 0;
  uint64_t seed_;
};

uint64_t xxh64(const void* data, size_t n, uint64_t seed = 0);

}  // namespace dlab
