// Small stateless hashes used by the data library: splitmix64 for batch
// offsets (a good 64-bit mix, identical on every platform, unlike std::rand or
// the std distributions) and FNV-1a for cache keys.
#pragma once

#include <cstdint>
#include <string>

namespace dlab {

// The splitmix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mix.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// FNV-1a over bytes; only used to name cache directories, never for security.
inline uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// A tiny deterministic generator (splitmix64 sequence) for the synthetic corpus.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ull;
    uint64_t x = state_;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }
  // Uniform in [0, n) up to a bias of n / 2^64 (irrelevant for our small n).
  uint64_t below(uint64_t n) { return next() % n; }
  bool chance(int percent) { return below(100) < uint64_t(percent); }

 private:
  uint64_t state_;
};

}  // namespace dlab
