// The typed arrays of checkpoint and analysis files (store/checkpoint_file.h's
// Array) as HDF5 datasets, and the write-then-rename both files are written
// with. Internal to core/store; every function throws dlab::Error naming `file`.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "store/checkpoint_file.h"
#include "store/h5_handle.h"

namespace dlab::h5 {

// The dataset type of a dtype: little-endian in the file and in memory
// (Array::bytes are little-endian).
hid_t dtype_h5(DType dtype);
// The dtype of a dataset's type; other types are refused naming `where`.
DType dtype_from_h5(hid_t type, const std::string& file, const std::string& where);

// Writes `a` as dataset `link` of `loc`. Non-empty arrays of rank >= 1 are
// chunked (the whole array, halved along leading dimensions down to 8 MiB)
// with the Fletcher-32 checksum filter, so damaged data is reported on read
// (by h5py too) instead of coming back as wrong numbers.
void array_write(hid_t loc, const std::string& link, const Array& a, const std::string& file,
                 const std::string& where);
// Reads dataset `link` of `loc` as an array named `name`, its size checked
// against what the file stores before anything is allocated.
Array array_read(hid_t loc, const std::string& link, const std::string& name,
                 const std::string& file, const std::string& where);

// fsync of a file or (flags with O_DIRECTORY) a directory; a failure throws
// when `required`, else is ignored.
void file_fsync(const std::filesystem::path& path, int flags, bool required);

// Writes `path` so that a reader (or a crash) never sees it half-written:
// `write` fills <path>.tmp, which is fsynced and renamed into place, then the
// directory is fsynced (best effort: a failure there loses nothing written).
// Any failure removes <path>.tmp and rethrows. Creates the parent directory.
void file_write_atomic(const std::filesystem::path& path,
                       const std::function<void(const std::filesystem::path& tmp)>& write);

}  // namespace dlab::h5
