#include "common/install_paths.h"

#include <system_error>

namespace fs = std::filesystem;

namespace dlab {
namespace {

fs::path below_executable(const char* reldir) {
  const fs::path exe = executable_dir();
  return exe.empty() ? fs::path() : (exe / reldir).lexically_normal();
}

}  // namespace

fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

fs::path installed_data_dir() { return below_executable(DEPTHLAB_INSTALL_DATA_RELDIR); }

fs::path installed_lib_dir() { return below_executable(DEPTHLAB_INSTALL_LIB_RELDIR); }

fs::path installed_doc_dir() { return below_executable(DEPTHLAB_INSTALL_DOC_RELDIR); }

}  // namespace dlab
