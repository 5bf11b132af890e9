#include "store/h5_array.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/error.h"
#include "store/h5_io.h"

namespace dlab::h5 {

namespace fs = std::filesystem;

namespace {
constexpr hsize_t kChunkBytesMax = 8 << 20;
}  // namespace

hid_t dtype_h5(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return H5T_IEEE_F32LE;
    case DType::F64:
      return H5T_IEEE_F64LE;
    case DType::I64:
      return H5T_STD_I64LE;
    case DType::U8:
      return H5T_STD_U8LE;
  }
  return H5T_IEEE_F32LE;
}

DType dtype_from_h5(hid_t type, const std::string& file, const std::string& where) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT && size == 4) return DType::F32;
  if (cls == H5T_FLOAT && size == 8) return DType::F64;
  if (cls == H5T_INTEGER && size == 8 && H5Tget_sign(type) == H5T_SGN_2) return DType::I64;
  if (cls == H5T_INTEGER && size == 1 && H5Tget_sign(type) == H5T_SGN_NONE) return DType::U8;
  throw Error(file + ": " + where +
              " has an element type DepthLab does not store (float32, float64, int64, uint8)");
}

void array_write(hid_t loc, const std::string& link, const Array& a, const std::string& file,
                 const std::string& where) {
  for (int64_t d : a.shape) {
    if (d < 0) throw Error(file + ": array " + where + " has a negative dimension");
  }
  size_t expect = 0;  // numel() is checked; the byte count too
  if (__builtin_mul_overflow(size_t(a.numel()), dtype_size(a.dtype), &expect)) {
    throw Error(file + ": array " + where + " needs more bytes than memory can address");
  }
  if (a.bytes.size() != expect) {
    throw Error(file + ": array " + where + " holds " + std::to_string(a.bytes.size()) +
                " bytes; its shape and dtype need " + std::to_string(expect));
  }
  std::vector<hsize_t> dims(a.shape.begin(), a.shape.end());
  const Space space(dims.empty() ? H5Screate(H5S_SCALAR)
                                 : H5Screate_simple(int(dims.size()), dims.data(), nullptr));
  const Plist dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (!dims.empty() && a.numel() > 0) {
    std::vector<hsize_t> chunk = dims;
    hsize_t bytes = hsize_t(expect);
    for (size_t i = 0; bytes > kChunkBytesMax && i < chunk.size();) {
      if (chunk[i] == 1) {
        ++i;
        continue;
      }
      const hsize_t half = (chunk[i] + 1) / 2;
      bytes = bytes / chunk[i] * half;
      chunk[i] = half;
    }
    H5Pset_chunk(dcpl.get(), int(chunk.size()), chunk.data());
    H5Pset_fletcher32(dcpl.get());
  }
  const Dataset ds(check(H5Dcreate2(loc, link.c_str(), dtype_h5(a.dtype), space.get(), H5P_DEFAULT,
                                    dcpl.get(), H5P_DEFAULT),
                         file, "create the dataset " + where));
  if (!a.bytes.empty()) {
    check(H5Dwrite(ds.get(), dtype_h5(a.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, a.bytes.data()),
          file, "write the dataset " + where);
  }
}

Array array_read(hid_t loc, const std::string& link, const std::string& name,
                 const std::string& file, const std::string& where) {
  if (!link_exists(loc, link)) throw Error(file + " lacks the dataset " + where);
  const Dataset ds = dataset_open(loc, link, file);
  const Type type(check(H5Dget_type(ds.get()), file, "read the type of " + where));
  Array a;
  a.name = name;
  a.dtype = dtype_from_h5(type.get(), file, where);
  const std::vector<hsize_t> dims = dataset_dims(ds.get(), file, where);
  // Checked against the bytes the file stores before anything is allocated.
  const uint64_t bytes = dataset_bytes_checked(ds.get(), dims, dtype_size(a.dtype), file, where);
  for (hsize_t d : dims) a.shape.push_back(int64_t(d));
  a.bytes.resize(size_t(bytes));
  if (!a.bytes.empty()) {
    check(H5Dread(ds.get(), dtype_h5(a.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, a.bytes.data()), file,
          "read " + where);
  }
  return a;
}

void file_fsync(const fs::path& path, int flags, bool required) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  const bool ok = fd >= 0 && ::fsync(fd) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (!ok && required) {
    throw Error(path.string() + ": cannot sync to disk (" + std::strerror(err) + ")");
  }
}

void file_write_atomic(const fs::path& path,
                       const std::function<void(const fs::path& tmp)>& write) {
  fs::path tmp = path;
  tmp += ".tmp";
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw Error(path.parent_path().string() + ": cannot create (" + ec.message() + ")");
  }
  try {
    write(tmp);
    file_fsync(tmp, O_RDONLY, /*required=*/true);
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
      throw Error(tmp.string() + ": cannot rename to " + path.string() + " (" + ec.message() + ")");
    }
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  file_fsync(path.has_parent_path() ? path.parent_path() : fs::path("."), O_RDONLY | O_DIRECTORY,
             /*required=*/false);
}

}  // namespace dlab::h5
