#include "data/shard.h"

#include <cstring>
#include <fstream>
#include <limits>
#include <string>

#include "common/error.h"

namespace dlab {

namespace {

// llm.c writes the host's byte order, which is little-endian on every machine
// it targets; we do the same and refuse big-endian hosts at compile time.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token shards are little-endian");

}  // namespace

std::vector<uint16_t> shard_read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open token shard " + path.string());
  std::error_code ec;
  const uintmax_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot stat token shard " + path.string() + ": " + ec.message());

  const uintmax_t header_bytes = kShardHeaderInts * sizeof(int32_t);
  if (file_size < header_bytes) {
    throw Error("token shard " + path.string() + " has " + std::to_string(file_size) +
                " bytes; an llm.c shard needs at least the " + std::to_string(header_bytes) +
                "-byte header");
  }
  int32_t header[kShardHeaderInts];
  in.read(reinterpret_cast<char*>(header), header_bytes);
  if (!in) throw Error("cannot read the header of token shard " + path.string());
  if (header[0] != kShardMagic) {
    throw Error("token shard " + path.string() + " has magic " + std::to_string(header[0]) +
                "; expected " + std::to_string(kShardMagic) + " (llm.c uint16 token shard)");
  }
  if (header[1] != kShardVersion) {
    throw Error("token shard " + path.string() + " has version " + std::to_string(header[1]) +
                "; this reader reads version " + std::to_string(kShardVersion));
  }
  if (header[2] < 0) {
    throw Error("token shard " + path.string() + " has a negative token count " +
                std::to_string(header[2]));
  }
  const uintmax_t n = uintmax_t(header[2]);
  const uintmax_t expected = header_bytes + n * sizeof(uint16_t);
  if (file_size != expected) {
    throw Error("token shard " + path.string() + " has " + std::to_string(file_size) +
                " bytes; its header announces " + std::to_string(n) + " tokens, i.e. " +
                std::to_string(expected) + " bytes");
  }
  std::vector<uint16_t> tokens(n);
  in.read(reinterpret_cast<char*>(tokens.data()), std::streamsize(n * sizeof(uint16_t)));
  if (!in) throw Error("cannot read the tokens of token shard " + path.string());
  return tokens;
}

void shard_write(const std::filesystem::path& path, const std::vector<uint16_t>& tokens) {
  if (tokens.size() > size_t(std::numeric_limits<int32_t>::max())) {
    throw Error("cannot write " + std::to_string(tokens.size()) + " tokens to " + path.string() +
                ": an llm.c shard holds at most " +
                std::to_string(std::numeric_limits<int32_t>::max()) + " tokens");
  }
  int32_t header[kShardHeaderInts];
  std::memset(header, 0, sizeof(header));
  header[0] = kShardMagic;
  header[1] = kShardVersion;
  header[2] = int32_t(tokens.size());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot create token shard " + path.string());
  out.write(reinterpret_cast<const char*>(header), sizeof(header));
  out.write(reinterpret_cast<const char*>(tokens.data()),
            std::streamsize(tokens.size() * sizeof(uint16_t)));
  out.flush();
  if (!out) throw Error("cannot write token shard " + path.string() + " (disk full?)");
}

}  // namespace dlab
