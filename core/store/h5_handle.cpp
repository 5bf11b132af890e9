#include "store/h5_handle.h"

#include <vector>

namespace dlab::h5 {

namespace {

// No library shutdown at exit. When H5Fclose fails (a full disk or a file-size
// limit makes its final flush fail), HDF5 1.10 frees the file but keeps its
// identifier, and the shutdown handler it registers with atexit() then closes
// that identifier again and crashes (SIGSEGV in H5F__close_cb, after the
// message was printed). Every identifier the store opens is owned by an RAII
// object and closed explicitly, so the handler has nothing left to do. This
// must run before the library initialises, hence a static initialiser (HDF5
// initialises on the first API call; H5dont_atexit itself does not).
const bool kNoShutdownAtExit = [] {
  H5dont_atexit();
  return true;
}();

}  // namespace

void quiet() {
  (void)kNoShutdownAtExit;
  // The threading contract (h5_handle.h): checked once per process.
  static const bool threadsafe = [] {
    hbool_t ts = false;
    return H5is_library_threadsafe(&ts) >= 0 && ts;
  }();
  if (!threadsafe) {
    throw Error(
        "this libhdf5 is built without thread safety, and DepthLab reads and writes HDF5 from "
        "several threads; use a thread-safe build (Debian's libhdf5-103-1 is one)");
  }
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

// HDF5's description of a failed system call spans lines and carries a time
// stamp, buffer addresses and offsets ("file write failed: time = ...\n,
// filename = ..., errno = 27, error message = 'File too large', ..."); the
// message a person needs is the system's: "file write failed: File too large".
std::string system_error_brief(const std::string& desc) {
  const std::string key = "error message = '";
  const size_t at = desc.find(key);
  const size_t colon = desc.find(':');
  if (at == std::string::npos || colon == std::string::npos) return desc;
  const size_t end = desc.find('\'', at + key.size());
  if (end == std::string::npos) return desc;
  return desc.substr(0, colon) + ": " + desc.substr(at + key.size(), end - at - key.size());
}

}  // namespace

std::string error_take() {
  std::vector<std::string> descs;
  // Downward: from the API call to the routine that found the problem.
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &descs);
  H5Eclear2(H5E_DEFAULT);
  return descs.empty() ? std::string() : system_error_brief(descs.back());
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
