#include "store/content_header.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "store/xxhash64.h"

namespace dlab::content {

namespace fs = std::filesystem;

namespace {

// A POSIX file descriptor closed on scope exit.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// O_NONBLOCK: a FIFO swapped in after regular_file_require must not block the
// open (it changes nothing for a regular file).
constexpr int kReadFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;

// What to do about a damaged file of the kind `magic` names.
std::string repair_hint(const std::string& magic) {
  if (magic == kAnalysisMagic) return " (run dlab analyze on its checkpoint again to recompute it)";
  return " (if it was edited on purpose, re-seal it: see 'Integrity' in docs/file-formats.md)";
}

}  // namespace

Hash hash_of(const fs::path& path) {
  const Fd f(::open(path.c_str(), kReadFlags));
  if (f.fd < 0) throw Error(path.string() + ": cannot open (" + std::strerror(errno) + ")");
  Xxh64 hash;
  Hash out;
  std::vector<char> buf(size_t(4) << 20);
  off_t at = off_t(kHeaderBytes);
  for (;;) {
    const ssize_t n = ::pread(f.fd, buf.data(), buf.size(), at);
    if (n < 0) throw Error(path.string() + ": cannot read (" + std::strerror(errno) + ")");
    if (n == 0) break;
    hash.update(buf.data(), size_t(n));
    out.bytes += uint64_t(n);
    at += n;
  }
  out.hash = hash.digest();
  return out;
}

void header_write(const fs::path& path, const char* magic, const Hash& h) {
  char header[kHeaderBytes] = {};
  std::snprintf(header, sizeof(header), "%sxxh64 %016llx\nbytes %llu\n", magic,
                static_cast<unsigned long long>(h.hash), static_cast<unsigned long long>(h.bytes));
  const Fd f(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (f.fd < 0 || ::pwrite(f.fd, header, sizeof(header), 0) != ssize_t(sizeof(header))) {
    throw Error(path.string() + ": cannot write the content-hash header (" + std::strerror(errno) +
                ")");
  }
}

bool header_read(const fs::path& path, Hash* out, std::string* magic) {
  char header[kHeaderBytes + 1] = {};
  const Fd f(::open(path.c_str(), kReadFlags));
  if (f.fd < 0) return false;
  if (::pread(f.fd, header, kHeaderBytes, 0) != ssize_t(kHeaderBytes)) return false;
  for (const char* m : {kCheckpointMagic, kAnalysisMagic}) {
    const size_t n = std::strlen(m);
    if (std::strncmp(header, m, n) != 0) continue;
    unsigned long long hash = 0, bytes = 0;
    if (std::sscanf(header + n, "xxh64 %16llx\nbytes %llu", &hash, &bytes) != 2) return false;
    out->hash = hash;
    out->bytes = bytes;
    if (magic) *magic = m;
    return true;
  }
  return false;
}

namespace {

// True when the file has a 512-byte user block (HDF5's signature at byte 512)
// that is neither a DepthLab header nor all zeros: a header that was damaged.
// Without this, one flipped bit in the header's first line would switch the
// hash check off and let the rest of the damage reach HDF5 (found by the
// store_read fuzzer).
bool damaged_header(const fs::path& path) {
  static const char kHdf5Signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  char head[kHeaderBytes + 8] = {};
  const Fd f(::open(path.c_str(), kReadFlags));
  if (f.fd < 0 || ::pread(f.fd, head, sizeof(head), 0) != ssize_t(sizeof(head))) return false;
  if (std::memcmp(head + kHeaderBytes, kHdf5Signature, 8) != 0) return false;
  for (size_t i = 0; i < kHeaderBytes; ++i) {
    if (head[i] != 0) return true;
  }
  return false;  // zeros: a user block without a header (h5py's userblock_size=512)
}

}  // namespace

void verify(const fs::path& path, bool hash) {
  Hash want;
  std::string magic;
  if (!header_read(path, &want, &magic)) {
    if (damaged_header(path)) {
      throw Error(path.string() +
                  " is damaged: the 512-byte DepthLab header in front of its HDF5 data is not "
                  "readable (see 'Integrity' in docs/file-formats.md)");
    }
    return;
  }
  const std::string file = path.string();
  const std::string hint = repair_hint(magic);
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) throw Error(file + ": cannot read its size (" + ec.message() + ")");
  const uint64_t have = size - kHeaderBytes;
  if (have < want.bytes) {
    throw Error(file + " is truncated (" + std::to_string(have) + " of " +
                std::to_string(want.bytes) +
                " content bytes): it was cut short, or changed by another program" + hint);
  }
  if (have > want.bytes) {
    throw Error(file + " is damaged: it is " + std::to_string(have - want.bytes) +
                " bytes longer than DepthLab wrote it" + hint);
  }
  if (!hash) return;
  const Hash got = hash_of(path);
  if (got.hash != want.hash) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "xxh64 %016llx, written as %016llx",
                  static_cast<unsigned long long>(got.hash),
                  static_cast<unsigned long long>(want.hash));
    throw Error(file +
                " is damaged: its content does not match the hash stored when it was "
                "written (" +
                buf + ")" + hint);
  }
}

}  // namespace dlab::content
