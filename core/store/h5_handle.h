// Small RAII owners for HDF5 identifiers and the store's error policy.
//
// Threads: every function of the store may be called from any thread at the
// same time (dlab serve's runs and analysis worker, the GUI's loaders). That
// needs a libhdf5 built thread-safe (Debian's is: its global lock serialises
// the calls, and error stacks are per thread); quiet() checks it once per
// process and refuses a library that is not, so no caller needs a lock.
//
// Policy: HDF5 never prints its error stack (quiet() turns automatic printing
// off for the calling thread). Every failed call is turned into a dlab::Error whose
// message names the file, the object and what was being done, followed by the
// innermost HDF5 description ("truncated file: eof = ...", "data error
// detected by fletcher32 checksum"). Nothing here aborts.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>

#include "common/error.h"

namespace dlab::h5 {

// Turns HDF5's automatic error printing off for this thread (cheap after the
// first call), after checking once that the library is thread-safe (dlab::Error
// otherwise). Every public function of the store calls it first.
void quiet();

// The innermost description of this thread's current HDF5 error stack (empty
// when there is none); clears the stack.
std::string error_take();

// Throws dlab::Error("<file>: cannot <what> (<hdf5 detail>)") when `status` is
// negative; returns it otherwise. hid_t and herr_t overloads.
hid_t check(hid_t id, const std::string& file, const std::string& what);
herr_t check(herr_t status, const std::string& file, const std::string& what);

// Owns one identifier and releases it with Close. Move-only.
template <herr_t (*Close)(hid_t)>
class Id {
 public:
  Id() = default;
  explicit Id(hid_t id) : id_(id) {}
  ~Id() { reset(); }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  Id(Id&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Id& operator=(Id&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; a failed close leaves nothing to do, so its status is dropped
  // (the error stack is cleared so it cannot leak into a later message).
  void reset() {
    if (id_ >= 0) {
      if (Close(id_) < 0) H5Eclear2(H5E_DEFAULT);
      id_ = H5I_INVALID_HID;
    }
  }
  // Closes now and reports failure (used where a failed close loses data:
  // H5Fclose and H5Dclose flush).
  void close_checked(const std::string& file, const std::string& what) {
    if (id_ >= 0) {
      const hid_t id = std::exchange(id_, H5I_INVALID_HID);
      check(Close(id), file, what);
    }
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Id<H5Fclose>;
using Group = Id<H5Gclose>;
using Dataset = Id<H5Dclose>;
using Space = Id<H5Sclose>;
using Attr = Id<H5Aclose>;
using Plist = Id<H5Pclose>;
using Type = Id<H5Tclose>;

}  // namespace dlab::h5
