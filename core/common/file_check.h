// Refusing paths that are not regular files before anything opens them.
//
// Why: open() on a FIFO blocks until a writer appears, /dev/zero and
// /dev/urandom never end, a socket cannot be read at all. Every reader of a
// config, run, checkpoint or analysis file checks the path first, so such a
// path is an error message instead of a hang. (A path swapped for a FIFO
// between the check and the open is not caught; that needs a local attacker.)
// Header-only: the store and the config reader share it.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

#include "common/error.h"

namespace dlab {

// What a non-regular file is, for messages: "a directory", "a FIFO (named pipe)".
inline std::string file_kind_text(const std::filesystem::file_status& st) {
  namespace fs = std::filesystem;
  switch (st.type()) {
    case fs::file_type::regular:
      return "a regular file";
    case fs::file_type::directory:
      return "a directory";
    case fs::file_type::fifo:
      return "a FIFO (named pipe)";
    case fs::file_type::socket:
      return "a socket";
    case fs::file_type::character:
      return "a character device";
    case fs::file_type::block:
      return "a block device";
    case fs::file_type::symlink:
      return "a symbolic link";
    case fs::file_type::not_found:
      return "missing";
    default:
      return "not a regular file";
  }
}

// Throws dlab::Error("<path> does not exist") or "<path> is a FIFO (named
// pipe), not <what>" unless `path` (after following symbolic links) is a
// regular file. `what` names what was expected: "an HDF5 file", "a config file".
inline void regular_file_require(const std::filesystem::path& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) throw Error(path.string() + " does not exist");
  if (ec) throw Error(path.string() + ": cannot read its file type (" + ec.message() + ")");
  if (st.type() != fs::file_type::regular) {
    throw Error(path.string() + " is " + file_kind_text(st) + ", not " + what);
  }
}

}  // namespace dlab
