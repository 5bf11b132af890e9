// llm.c token shards: a header of 256 little-endian int32 followed by uint16
// tokens. header[0] = 20240520 (magic), header[1] = 1 (version),
// header[2] = number of tokens; the rest of the header is zero.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace dlab {

constexpr int32_t kShardMagic = 20240520;
constexpr int32_t kShardVersion = 1;
constexpr int kShardHeaderInts = 256;

// Reads a whole shard. Throws dlab::Error naming the file when the magic, the
// version or the file size does not match what the header says.
std::vector<uint16_t> shard_read(const std::filesystem::path& path);

// Writes a shard (plain write, not atomic: callers that need atomicity write to
// a temporary name and rename). Throws dlab::Error if it cannot be written or
// holds more than INT32_MAX tokens.
void shard_write(const std::filesystem::path& path, const std::vector<uint16_t>& tokens);

}  // namespace dlab
