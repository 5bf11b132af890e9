#include "store/checkpoint_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "common/file_check.h"
#include "store/content_header.h"
#include "store/h5_array.h"
#include "store/h5_io.h"
#include "store/step_files.h"

namespace dlab {

namespace fs = std::filesystem;

// ---- Array ---------------------------------------------------------------------

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return 4;
    case DType::F64:
      return 8;
    case DType::I64:
      return 8;
    case DType::U8:
      return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "float32";
    case DType::F64:
      return "float64";
    case DType::I64:
      return "int64";
    case DType::U8:
      return "uint8";
  }
  return "?";
}

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The product of `shape` in checked int64 arithmetic: a negative dimension or
// an overflowing product (a damaged or hostile shape) is an error, not UB.
int64_t shape_numel(const std::vector<int64_t>& shape, const std::string& name) {
  int64_t n = 1;
  for (const int64_t d : shape) {
    if (d < 0) {
      throw Error("array '" + name + "' has a negative dimension (shape " + shape_text(shape) +
                  ")");
    }
    if (__builtin_mul_overflow(n, d, &n)) {
      throw Error("array '" + name + "' has " + shape_text(shape) +
                  " elements, more than an int64 counts");
    }
  }
  return n;
}

// numel * dtype_size, checked.
size_t array_byte_count(const std::vector<int64_t>& shape, DType dtype, const std::string& name) {
  size_t bytes = 0;
  if (__builtin_mul_overflow(size_t(shape_numel(shape, name)), dtype_size(dtype), &bytes)) {
    throw Error("array '" + name + "' of shape " + shape_text(shape) + " needs more bytes than " +
                "memory can address");
  }
  return bytes;
}

Array array_from(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                 const void* data) {
  Array a;
  a.name = name;
  a.dtype = dtype;
  a.shape = shape;
  a.bytes.resize(array_byte_count(shape, dtype, name));
  if (!a.bytes.empty()) std::memcpy(a.bytes.data(), data, a.bytes.size());
  return a;
}

const void* array_view(const Array& a, DType want) {
  if (a.dtype != want) {
    throw Error("array '" + a.name + "' holds " + dtype_name(a.dtype) + ", not " +
                dtype_name(want));
  }
  return a.bytes.data();
}

}  // namespace

Array Array::from_f32(const std::string& name, const std::vector<int64_t>& shape,
                      const float* data) {
  return array_from(name, DType::F32, shape, data);
}
Array Array::from_f64(const std::string& name, const std::vector<int64_t>& shape,
                      const double* data) {
  return array_from(name, DType::F64, shape, data);
}
Array Array::from_i64(const std::string& name, const std::vector<int64_t>& shape,
                      const int64_t* data) {
  return array_from(name, DType::I64, shape, data);
}
Array Array::from_u8(const std::string& name, const std::vector<int64_t>& shape,
                     const uint8_t* data) {
  return array_from(name, DType::U8, shape, data);
}

int64_t Array::numel() const { return shape_numel(shape, name); }
const float* Array::f32() const { return static_cast<const float*>(array_view(*this, DType::F32)); }
const double* Array::f64() const {
  return static_cast<const double*>(array_view(*this, DType::F64));
}
const int64_t* Array::i64() const {
  return static_cast<const int64_t*>(array_view(*this, DType::I64));
}
const uint8_t* Array::u8() const {
  return static_cast<const uint8_t*>(array_view(*this, DType::U8));
}

// ---- writing -------------------------------------------------------------------

namespace {

void segment_check(const std::string& segment, const std::string& name, const std::string& file,
                   const std::string& what) {
  if (segment.empty() || segment == "." || segment == "..") {
    throw Error(file + ": invalid " + what + " name '" + name +
                "' (empty, '.' or '..' parts are not allowed)");
  }
}

// /state_dict: flat, one dataset per tensor; HF names contain dots, never '/'.
void state_dict_write(hid_t root, const std::vector<Array>& arrays, const std::string& file) {
  const h5::Plist gcpl = h5::gcpl_ordered();
  const h5::Group g(h5::check(H5Gcreate2(root, "state_dict", H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                              file, "create the group /state_dict"));
  std::set<std::string> seen;
  for (const Array& a : arrays) {
    segment_check(a.name, a.name, file, "state_dict");
    if (a.name.find('/') != std::string::npos) {
      throw Error(file + ": state_dict name '" + a.name +
                  "' contains '/'; tensor names are flat (Hugging Face names use '.')");
    }
    if (!seen.insert(a.name).second) {
      throw Error(file + ": state_dict name '" + a.name + "' appears twice");
    }
    h5::array_write(g.get(), a.name, a, file, "/state_dict/" + a.name);
  }
}

// /optimizer: a name "exp_avg/model.x.weight" is stored as the dataset
// /optimizer/exp_avg/model.x.weight (nested groups, created in order).
void optimizer_write(hid_t root, const std::vector<Array>& arrays, const std::string& file) {
  const h5::Plist gcpl = h5::gcpl_ordered();
  const h5::Group g(h5::check(H5Gcreate2(root, "optimizer", H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                              file, "create the group /optimizer"));
  std::set<std::string> groups, leaves;
  for (const Array& a : arrays) {
    size_t pos = 0;
    for (;;) {
      const size_t slash = a.name.find('/', pos);
      segment_check(
          a.name.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos), a.name,
          file, "optimizer");
      if (slash == std::string::npos) break;
      const std::string prefix = a.name.substr(0, slash);
      if (leaves.count(prefix)) {
        throw Error(file + ": optimizer name '" + a.name + "' nests under the array '" + prefix +
                    "'");
      }
      if (groups.insert(prefix).second) {
        const h5::Group sub(
            h5::check(H5Gcreate2(g.get(), prefix.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                      file, "create the group /optimizer/" + prefix));
      }
      pos = slash + 1;
    }
    if (groups.count(a.name) || !leaves.insert(a.name).second) {
      throw Error(file + ": optimizer name '" + a.name + "' appears twice or names a group");
    }
    h5::array_write(g.get(), a.name, a, file, "/optimizer/" + a.name);
  }
}

void bytes_write(hid_t loc, const std::string& link, const void* data, size_t n,
                 const std::string& file, const std::string& where) {
  Array a;
  a.name = link;
  a.dtype = DType::U8;
  a.shape = {int64_t(n)};
  a.bytes.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + n);
  h5::array_write(loc, link, a, file, where);
}

// ---- the content-hash header (store/content_header.h) ----------------------------

constexpr size_t kHeaderBytes = content::kHeaderBytes;

// O_NONBLOCK: a FIFO swapped in after regular_file_require must not block the
// open (it changes nothing for a regular file).
constexpr int kReadFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;

// A POSIX file descriptor closed on scope exit.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void header_seal(const fs::path& path) {
  content::header_write(path, content::kCheckpointMagic, content::hash_of(path));
}

void checkpoint_write_h5(const std::string& file, const CheckpointData& data) {
  h5::Plist fapl(H5Pcreate(H5P_FILE_ACCESS));
  // HDF5 1.10 objects: their metadata, chunk indexes included, is checksummed
  // (1.8-style chunk B-trees are not: a damaged key silently reads as zeros).
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  h5::Plist fcpl(H5Pcreate(H5P_FILE_CREATE));
  H5Pset_userblock(fcpl.get(), kHeaderBytes);  // room for the content-hash header
  h5::File f(h5::check(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), file,
                       "create the checkpoint file"));
  const hid_t root = f.get();
  h5::attr_write_string(root, "format", kCheckpointFormat, file);
  h5::attr_write_i64(root, "format_version", kCheckpointFormatVersion, file);
  h5::attr_write_i64(root, "step", data.step, file);
  h5::attr_write_string(root, "config", data.config_json, file);
  h5::attr_write_string(root, "metadata", data.metadata_json, file);
  h5::attr_write_string(root, "created", h5::time_now_iso(), file);

  state_dict_write(root, data.state_dict, file);
  optimizer_write(root, data.optimizer, file);
  {
    const h5::Group g(
        h5::check(H5Gcreate2(root, "tokenizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), file,
                  "create the group /tokenizer"));
    h5::attr_write_string(g.get(), "kind", data.tokenizer_kind, file);
    bytes_write(g.get(), "model", data.tokenizer_model.data(), data.tokenizer_model.size(), file,
                "/tokenizer/model");
  }
  bytes_write(root, "rng", data.rng_state.data(), data.rng_state.size(), file, "/rng");
  {
    const h5::Group g(h5::check(H5Gcreate2(root, "counters", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                                file, "create the group /counters"));
    for (const auto& [key, value] : data.counters) {
      if (key.empty()) throw Error(file + ": a counter has an empty name");
      h5::attr_write_i64(g.get(), key, value, file);
    }
  }
  f.close_checked(file, "close the checkpoint file");
}

}  // namespace

void checkpoint_write(const fs::path& path, const CheckpointData& data) {
  h5::quiet();
  h5::file_write_atomic(path, [&](const fs::path& tmp) {
    checkpoint_write_h5(tmp.string(), data);
    header_seal(tmp);
  });
}

// ---- reading -------------------------------------------------------------------

namespace {

H5O_type_t object_type(hid_t loc, const std::string& link, const std::string& file,
                       const std::string& where) {
  H5O_info_t info;
  h5::check(H5Oget_info_by_name2(loc, link.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), file,
            "inspect " + where);
  return info.type;
}

// Weights that are NaN or infinite make every loss NaN, and analyses (sorts,
// eigenvalues) on them are meaningless; the trainer stops before applying a
// non-finite update, so such a checkpoint is damaged or was edited by hand.
void finite_check(const Array& a, const std::string& file, const std::string& where) {
  size_t bad = 0, first = 0;
  const size_t n = a.bytes.size() / dtype_size(a.dtype);
  auto scan = [&](auto* values) {
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(values[i]) && bad++ == 0) first = i;
    }
  };
  if (a.dtype == DType::F32) scan(reinterpret_cast<const float*>(a.bytes.data()));
  if (a.dtype == DType::F64) scan(reinterpret_cast<const double*>(a.bytes.data()));
  if (bad == 0) return;
  throw Error(file + ": " + where + " holds " + std::to_string(bad) + " of " + std::to_string(n) +
              " values that are NaN or infinite (the first at element " + std::to_string(first) +
              "); a model with such weights cannot be trained or analysed: resume from an "
              "earlier checkpoint");
}

void state_dict_read(hid_t root, std::vector<Array>& out, const std::string& file) {
  const h5::Group g = h5::group_open(root, "/state_dict", file);
  for (const std::string& name : h5::group_links(g.get(), file, "/state_dict")) {
    const std::string where = "/state_dict/" + name;
    if (object_type(g.get(), name, file, where) != H5O_TYPE_DATASET) {
      throw Error(file + ": " + where + " is not a dataset (state_dict names are flat)");
    }
    out.push_back(h5::array_read(g.get(), name, name, file, where));
    finite_check(out.back(), file, where);
  }
}

// Optimizer names use one or two '/' levels; a deeper tree is damaged or
// hostile (and a group linked into itself would recurse forever).
constexpr int kOptimizerMaxDepth = 16;

// Depth-first over nested groups; each level in the order written.
void optimizer_read(hid_t group, const std::string& prefix, std::vector<Array>& out,
                    const std::string& file, int depth = 0) {
  const std::string here = "/optimizer" + (prefix.empty() ? "" : "/" + prefix);
  if (depth > kOptimizerMaxDepth) {
    throw Error(file + ": " + here + " nests groups more than " +
                std::to_string(kOptimizerMaxDepth) + " levels deep; DepthLab writes at most 2");
  }
  for (const std::string& link : h5::group_links(group, file, here)) {
    const std::string name = prefix.empty() ? link : prefix + "/" + link;
    const std::string where = "/optimizer/" + name;
    const H5O_type_t type = object_type(group, link, file, where);
    if (type == H5O_TYPE_GROUP) {
      const h5::Group sub = h5::group_open(group, link, file);
      optimizer_read(sub.get(), name, out, file, depth + 1);
    } else if (type == H5O_TYPE_DATASET) {
      out.push_back(h5::array_read(group, link, name, file, where));
    } else {
      throw Error(file + ": " + where + " is neither a group nor a dataset");
    }
  }
}

herr_t attr_name_collect(hid_t /*obj*/, const char* name, const H5A_info_t* /*info*/, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

std::map<std::string, int64_t> counters_read(hid_t root, const std::string& file) {
  const h5::Group g = h5::group_open(root, "/counters", file);
  std::vector<std::string> names;
  hsize_t idx = 0;
  h5::check(H5Aiterate2(g.get(), H5_INDEX_NAME, H5_ITER_INC, &idx, attr_name_collect, &names), file,
            "list the attributes of /counters");
  std::map<std::string, int64_t> counters;
  for (const std::string& name : names) {
    counters[name] = h5::attr_read_i64(g.get(), name, file, "/counters");
  }
  return counters;
}

// The counter `step` (written with the same value as the attribute) must agree.
void counter_step_check(const fs::path& path, int64_t step,
                        const std::map<std::string, int64_t>& counters) {
  const auto it = counters.find("step");
  if (it != counters.end() && it->second != step) {
    throw Error(path.string() + ": the checkpoint's attribute 'step' is " + std::to_string(step) +
                " but its counter 'step' is " + std::to_string(it->second) +
                "; the file is damaged or was edited");
  }
}

std::string bytes_as_string(const Array& a) { return std::string(a.bytes.begin(), a.bytes.end()); }

// Opens a checkpoint after checking its header: with `hash`, the whole content
// hash (checkpoint_read), else only the size (the cheap listing).
h5::File checkpoint_open(const fs::path& path, bool hash) {
  h5::quiet();
  regular_file_require(path, "a checkpoint file");  // a FIFO would block the first read
  content::verify(path, hash);
  h5::File f = h5::file_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  h5::format_check(f.get(), path.string(), kCheckpointFormat, kCheckpointFormatVersion,
                   "checkpoint");
  return f;
}

}  // namespace

CheckpointData checkpoint_read(const fs::path& path, bool with_optimizer) {
  const std::string file = path.string();
  const h5::File f = checkpoint_open(path, /*hash=*/true);
  const hid_t root = f.get();
  CheckpointData d;
  d.step = h5::attr_read_i64(root, "step", file, "/");
  step_file_check(path, d.step, "checkpoint");
  d.config_json = h5::attr_read_json(root, "config", file, "/");
  d.metadata_json = h5::attr_read_json(root, "metadata", file, "/");
  {
    const h5::Group g = h5::group_open(root, "/tokenizer", file);
    d.tokenizer_kind = h5::attr_read_string(g.get(), "kind", file, "/tokenizer");
    const Array model = h5::array_read(g.get(), "model", "model", file, "/tokenizer/model");
    if (model.dtype != DType::U8 || model.shape.size() != 1) {
      throw Error(file + ": /tokenizer/model must be a 1-D uint8 dataset");
    }
    d.tokenizer_model = bytes_as_string(model);
  }
  state_dict_read(root, d.state_dict, file);
  if (with_optimizer) {
    const h5::Group g = h5::group_open(root, "/optimizer", file);
    optimizer_read(g.get(), "", d.optimizer, file);
  }
  const Array rng = h5::array_read(root, "rng", "rng", file, "/rng");
  if (rng.dtype != DType::U8 || rng.shape.size() != 1) {
    throw Error(file + ": /rng must be a 1-D uint8 dataset");
  }
  d.rng_state = rng.bytes;
  d.counters = counters_read(root, file);
  counter_step_check(path, d.step, d.counters);
  return d;
}

int64_t checkpoint_read_step(const fs::path& path) {
  const std::string file = path.string();
  const h5::File f = checkpoint_open(path, /*hash=*/true);  // as checkpoint_state_names
  const int64_t step = h5::attr_read_i64(f.get(), "step", file, "/");
  step_file_check(path, step, "checkpoint");
  if (h5::link_exists(f.get(), "/counters")) {
    counter_step_check(path, step, counters_read(f.get(), file));
  }
  return step;
}

void checkpoint_seal(const fs::path& path) {
  const std::string file = path.string();
  regular_file_require(path, "a checkpoint file");
  char head[kHeaderBytes + 8] = {};
  {
    const Fd f(::open(path.c_str(), kReadFlags));
    if (f.fd < 0 || ::pread(f.fd, head, sizeof(head), 0) != ssize_t(sizeof(head))) {
      throw Error(file + " is too short to be a DepthLab checkpoint");
    }
  }
  static const char kHdf5Signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  content::Hash old;
  const bool ours = content::header_read(path, &old) ||
                    std::all_of(head, head + kHeaderBytes, [](char c) { return c == 0; });
  if (!ours || std::memcmp(head + kHeaderBytes, kHdf5Signature, 8) != 0) {
    throw Error(file +
                " has no 512-byte DepthLab header in front of its HDF5 data; it is read "
                "without a content hash, so there is nothing to seal");
  }
  header_seal(path);
  h5::file_fsync(path, O_RDONLY, /*required=*/true);
}

std::vector<std::string> checkpoint_state_names(const fs::path& path) {
  const std::string file = path.string();
  // The hash too, not only the size: link names live in HDF5 structures
  // without checksums, and HDF5 1.10 can crash on a damaged one (found by
  // the store_read fuzzer: a double free listing a damaged /state_dict).
  const h5::File f = checkpoint_open(path, /*hash=*/true);
  const h5::Group g = h5::group_open(f.get(), "/state_dict", file);
  return h5::group_links(g.get(), file, "/state_dict");
}

std::vector<std::pair<int64_t, fs::path>> checkpoint_list(const fs::path& run_dir) {
  return step_files_list(run_dir / "checkpoints");
}

}  // namespace dlab
