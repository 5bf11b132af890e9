// The 512-byte content-hash header in front of DepthLab's checkpoint and
// analysis files (an HDF5 "user block": every HDF5 reader, h5py included,
// skips it). HDF5 checksums its metadata, but not the global heap holding
// variable-length strings nor the fractal heaps of large groups, and HDF5 1.10
// can crash or loop forever on a damaged one; so these files carry the XXH64
// hash and size of everything after the header, verified before HDF5 parses a
// byte:
//   DepthLab checkpoint\n        (or "DepthLab analysis\n")
//   xxh64 <16 hex digits>\n
//   bytes <decimal>\n
//   (nul padding to 512 bytes)
// run.h5 has none: it changes while it is read (SWMR).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace dlab::content {

inline constexpr size_t kHeaderBytes = 512;
inline constexpr const char* kCheckpointMagic = "DepthLab checkpoint\n";
inline constexpr const char* kAnalysisMagic = "DepthLab analysis\n";

struct Hash {
  uint64_t hash = 0;
  uint64_t bytes = 0;  // the bytes after the header
};

// XXH64 (seed 0) and size of every byte after the first kHeaderBytes.
Hash hash_of(const std::filesystem::path& path);

// Writes the header (`magic` and `h`) over the first kHeaderBytes of `path`.
void header_write(const std::filesystem::path& path, const char* magic, const Hash& h);

// The stored hash and size, or false when the file does not start with a
// DepthLab header of any kind (written by another program: HDF5's checks
// only). `magic` receives which kind.
bool header_read(const std::filesystem::path& path, Hash* out, std::string* magic = nullptr);

// When `path` has a DepthLab header (any kind): checks the size (cheap) and,
// with `hash`, the content hash; throws dlab::Error naming the file ("is
// truncated", "is damaged: its content does not match the hash ...").
// A 512-byte user block that is neither a DepthLab header nor all zeros is
// a damaged header ("is damaged: the 512-byte DepthLab header ... is not
// readable"): one flipped bit there must not switch the hash check off.
// Without a header (no user block, or zeros) it does nothing.
void verify(const std::filesystem::path& path, bool hash);

}  // namespace dlab::content
