#include "store/h5_handle.h"

#include <vector>

namespace dlab::h5 {

void quiet() {
  // Automatic printing is a per-thread setting in the thread-safe library.
  thread_local bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

namespace {

herr_t collect(unsigned /*n*/, const H5E_error2_t* e, void* out) {
  auto* descs = static_cast<std::vector<std::string>*>(out);
  if (e->desc && *e->desc) descs->emplace_back(e->desc);
  return 0;
}

}  // namespace

std::string error_take() {
  std::vector<std::string> descs;
  // Downward: from the API call to the routine that found the problem.
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &descs);
  H5Eclear2(H5E_DEFAULT);
  return descs.empty() ? std::string() : descs.back();
}

namespace {

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  const std::string detail = error_take();
  std::string msg = file + ": cannot " + what + (detail.empty() ? "" : " (" + detail + ")");
  if (detail.find("unable to lock file") != std::string::npos) {
    msg +=
        "; another program has the file open (a DepthLab window, h5py, ...): close it there "
        "or try again in a moment";
  }
  throw Error(msg);
}

}  // namespace

hid_t check(hid_t id, const std::string& file, const std::string& what) {
  if (id < 0) fail(file, what);
  return id;
}

herr_t check(herr_t status, const std::string& file, const std::string& what) {
  if (status < 0) fail(file, what);
  return status;
}

}  // namespace dlab::h5
