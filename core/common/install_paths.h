// Where an installed program finds its read-only files.
//
// Always relative to the running executable (/proc/self/exe), never an
// absolute prefix compiled in: a package unpacked anywhere (`dpkg -x` into a
// scratch root, a chroot, /opt) finds its presets and plugin the same way as
// one installed under /usr. The relative paths come from CMake's
// GNUInstallDirs (bindir -> datadir/depthlab, bindir -> libdir/depthlab).
#pragma once

#include <filesystem>

namespace dlab {

// The directory of the running executable; empty if /proc/self/exe is unreadable.
std::filesystem::path executable_dir();

// <exe>/../share/depthlab for an installed program (presets/ lives there).
// Empty when the executable's directory is unknown; may not exist (a build tree).
std::filesystem::path installed_data_dir();

// <exe>/../lib/<triplet>/depthlab: the private libraries (the SentencePiece plugin).
std::filesystem::path installed_lib_dir();

// <exe>/../share/doc/dlab: README.md and docs/ as the dlab package installs them.
std::filesystem::path installed_doc_dir();

}  // namespace dlab
