#include "store/h5_io.h"

#include <algorithm>
#include <ctime>
#include <system_error>

#include "common/config_json.h"
#include "common/file_check.h"

namespace dlab::h5 {

namespace fs = std::filesystem;

File file_open(const fs::path& path, unsigned flags, hid_t fapl) {
  quiet();
  const std::string file = path.string();
  regular_file_require(path, "an HDF5 file");  // H5Fopen would block on a FIFO
  std::error_code ec;
  const hid_t id = H5Fopen(file.c_str(), flags, fapl);
  if (id >= 0) return File(id);

  const std::string detail = error_take();
  const uintmax_t size = fs::file_size(path, ec);
  if (!ec && size == 0) throw Error(file + " is empty (0 bytes), not an HDF5 file");
  if (detail.find("signature") != std::string::npos) {
    throw Error(file + " is not an HDF5 file (no HDF5 signature: another format or damaged)");
  }
  if (detail.find("truncated") != std::string::npos) {
    throw Error(file + " is truncated (" + detail +
                "); it was cut short while being written or copied");
  }
  if (detail.find("already open for write") != std::string::npos) {
    throw Error(file +
                " is open for writing by another process that has not enabled "
                "single-writer/multiple-reader mode yet; try again in a moment (" +
                detail + ")");
  }
  if (detail.find("unable to lock file") != std::string::npos) {
    throw Error(file + " is locked by another program that has it open (a DepthLab window, " +
                "h5py, a run being set up, ...); close it there or try again in a moment (" +
                detail + ")");
  }
  throw Error(file + ": cannot open (" + (detail.empty() ? "unknown HDF5 error" : detail) + ")");
}

Type string_type_vlen() {
  Type t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

bool link_exists(hid_t loc, const std::string& path) {
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    const std::string prefix = path.substr(0, next);
    if (!prefix.empty() && prefix != "/") {
      const htri_t ok = H5Lexists(loc, prefix.c_str(), H5P_DEFAULT);
      if (ok <= 0) {
        if (ok < 0) H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    pos = next + 1;
  }
  return true;
}

bool attr_exists(hid_t obj, const std::string& name) {
  const htri_t ok = H5Aexists(obj, name.c_str());
  if (ok < 0) H5Eclear2(H5E_DEFAULT);
  return ok > 0;
}

Group group_open(hid_t loc, const std::string& path, const std::string& file) {
  if (!link_exists(loc, path)) throw Error(file + " lacks the group " + path);
  return Group(check(H5Gopen2(loc, path.c_str(), H5P_DEFAULT), file, "open the group " + path));
}

Dataset dataset_open(hid_t loc, const std::string& path, const std::string& file, hid_t dapl) {
  if (!link_exists(loc, path)) throw Error(file + " lacks the dataset " + path);
  return Dataset(check(H5Dopen2(loc, path.c_str(), dapl), file, "open the dataset " + path));
}

void attr_write_string(hid_t obj, const std::string& name, const std::string& value,
                       const std::string& file, bool fixed) {
  Type type;
  if (fixed) {
    type = Type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), std::max<size_t>(1, value.size()));  // size 0 is not a type
    H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
  } else {
    type = string_type_vlen();
  }
  const Space space(H5Screate(H5S_SCALAR));
  const Attr attr(
      check(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), file,
            "create the attribute " + name));
  if (fixed) {
    std::string padded = value;
    padded.resize(H5Tget_size(type.get()), '\0');
    check(H5Awrite(attr.get(), type.get(), padded.data()), file, "write the attribute " + name);
  } else {
    const char* text = value.c_str();
    check(H5Awrite(attr.get(), type.get(), &text), file, "write the attribute " + name);
  }
}

void attr_write_i64(hid_t obj, const std::string& name, int64_t value, const std::string& file) {
  const Space space(H5Screate(H5S_SCALAR));
  const Attr attr(
      check(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
            file, "create the attribute " + name));
  check(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), file, "write the attribute " + name);
}

namespace {

// Opens attribute `name` and checks that it holds one element.
Attr attr_open_single(hid_t obj, const std::string& name, const std::string& file,
                      const std::string& where) {
  if (!attr_exists(obj, name)) {
    throw Error(file + " lacks the attribute '" + name + "' on " + where);
  }
  Attr attr(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), file,
                  "open the attribute '" + name + "' on " + where));
  const Space space(check(H5Aget_space(attr.get()), file, "read the attribute '" + name + "'"));
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n != 1) {
    throw Error(file + ": attribute '" + name + "' on " + where + " holds " + std::to_string(n) +
                " values; expected one");
  }
  return attr;
}

// A string attribute longer than kAttrStringMaxBytes is damage or an attack.
void string_size_check(size_t size, const std::string& name, const std::string& file,
                       const std::string& where) {
  if (size > kAttrStringMaxBytes) {
    throw Error(file + ": attribute '" + name + "' on " + where + " is a string of " +
                std::to_string(size) + " bytes; DepthLab reads at most " +
                std::to_string(kAttrStringMaxBytes));
  }
}

}  // namespace

std::string attr_read_string(hid_t obj, const std::string& name, const std::string& file,
                             const std::string& where) {
  const Attr attr = attr_open_single(obj, name, file, where);
  const Type ftype(check(H5Aget_type(attr.get()), file, "read the attribute '" + name + "'"));
  if (H5Tget_class(ftype.get()) != H5T_STRING) {
    throw Error(file + ": attribute '" + name + "' on " + where + " is not a string");
  }
  const std::string what = "read the attribute '" + name + "' on " + where;
  if (H5Tis_variable_str(ftype.get()) > 0) {
    Type mtype(H5Tcopy(H5T_C_S1));
    H5Tset_size(mtype.get(), H5T_VARIABLE);
    H5Tset_cset(mtype.get(), H5Tget_cset(ftype.get()));
    char* text = nullptr;
    check(H5Aread(attr.get(), mtype.get(), &text), file, what);
    std::string value = text ? std::string(text) : std::string();
    if (text) H5free_memory(text);
    string_size_check(value.size(), name, file, where);
    return value;
  }
  const size_t size = H5Tget_size(ftype.get());
  string_size_check(size, name, file, where);  // before allocating it
  std::string value(size, '\0');
  Type mtype(H5Tcopy(ftype.get()));
  check(H5Aread(attr.get(), mtype.get(), value.data()), file, what);
  const size_t end = value.find('\0');
  if (end != std::string::npos) value.resize(end);
  return value;
}

std::string attr_read_json(hid_t obj, const std::string& name, const std::string& file,
                           const std::string& where) {
  std::string text = attr_read_string(obj, name, file, where);
  json_text_check(text, file + ": attribute '" + name + "' on " + where);
  return text;
}

int64_t attr_read_i64(hid_t obj, const std::string& name, const std::string& file,
                      const std::string& where) {
  const Attr attr = attr_open_single(obj, name, file, where);
  const Type ftype(check(H5Aget_type(attr.get()), file, "read the attribute '" + name + "'"));
  if (H5Tget_class(ftype.get()) != H5T_INTEGER) {
    throw Error(file + ": attribute '" + name + "' on " + where + " is not an integer");
  }
  int64_t value = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), file,
        "read the attribute '" + name + "' on " + where);
  return value;
}

Plist gcpl_ordered() {
  Plist gcpl(H5Pcreate(H5P_GROUP_CREATE));
  H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  return gcpl;
}

namespace {

herr_t link_name_collect(hid_t /*group*/, const char* name, const H5L_info_t* /*info*/, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

}  // namespace

std::vector<std::string> group_links(hid_t group, const std::string& file,
                                     const std::string& where) {
  std::vector<std::string> names;
  H5_index_t index = H5_INDEX_NAME;
  const Plist gcpl(H5Gget_create_plist(group));
  unsigned flags = 0;
  if (gcpl.valid() && H5Pget_link_creation_order(gcpl.get(), &flags) >= 0 &&
      (flags & H5P_CRT_ORDER_INDEXED)) {
    index = H5_INDEX_CRT_ORDER;
  }
  H5Eclear2(H5E_DEFAULT);
  hsize_t idx = 0;
  check(H5Literate(group, index, H5_ITER_INC, &idx, link_name_collect, &names), file,
        "list the members of " + where);
  return names;
}

uint64_t dataset_bytes_checked(hid_t dataset, const std::vector<hsize_t>& dims, size_t element_size,
                               const std::string& file, const std::string& where) {
  uint64_t bytes = element_size;
  for (const hsize_t d : dims) {
    if (d != 0 && bytes > kDatasetMaxBytes / d) {
      throw Error(file + ": " + where + " claims an impossible size (shape " + dims_text(dims) +
                  " of " + std::to_string(element_size) +
                  "-byte elements; DepthLab reads at most " + std::to_string(kDatasetMaxBytes) +
                  " bytes)");
    }
    bytes *= d;
  }
  for (const hsize_t d : dims) {
    if (d == 0) return 0;
  }
  // What HDF5 would hand back beyond the stored bytes is fill value: a shape
  // with no data behind it, or a compression bomb. DepthLab never compresses;
  // float data compresses less than 16:1, so more than that is refused.
  const uint64_t stored = H5Dget_storage_size(dataset);
  if (bytes > kUnstoredSlackBytes && bytes / 16 > stored) {
    throw Error(file + ": " + where + " claims " + std::to_string(bytes) + " bytes (shape " +
                dims_text(dims) + ") but the file stores only " + std::to_string(stored) +
                " bytes of it; the file is damaged");
  }
  return bytes;
}

std::string dims_text(const std::vector<hsize_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::vector<hsize_t> dataset_dims(hid_t dataset, const std::string& file, const std::string& what) {
  const Space space(check(H5Dget_space(dataset), file, "read the shape of " + what));
  const int rank = check(H5Sget_simple_extent_ndims(space.get()), file, "read the rank of " + what);
  std::vector<hsize_t> dims(size_t(rank), 0);
  if (rank > 0) {
    check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), file,
          "read the shape of " + what);
  }
  return dims;
}

void format_check(hid_t file_id, const std::string& file, const std::string& expected_format,
                  int64_t version, const std::string& kind_text) {
  if (!attr_exists(file_id, "format")) {
    throw Error(file + " is not a DepthLab " + kind_text +
                " (an HDF5 file without the root attribute 'format')");
  }
  const std::string format = attr_read_string(file_id, "format", file, "/");
  if (format != expected_format) {
    if (format.rfind("depthlab-", 0) == 0) {
      throw Error(file + " is a " + format + " file, not a " + expected_format + " file");
    }
    throw Error(file + " is not a DepthLab " + kind_text + " (its format is '" + format +
                "'; expected '" + expected_format + "')");
  }
  if (!attr_exists(file_id, "format_version")) {
    throw Error(file + " lacks the root attribute 'format_version'");
  }
  const int64_t found = attr_read_i64(file_id, "format_version", file, "/");
  if (found != version) {
    throw Error(file + " has format_version " + std::to_string(found) +
                "; this DepthLab reads format_version " + std::to_string(version));
  }
}

std::string time_now_iso() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

}  // namespace dlab::h5
