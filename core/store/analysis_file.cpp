#include "store/analysis_file.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "common/file_check.h"
#include "store/content_header.h"
#include "store/h5_array.h"
#include "store/h5_io.h"
#include "store/step_files.h"

namespace dlab {

namespace fs = std::filesystem;

namespace {

const std::set<std::string>& reserved_attrs() {
  static const std::set<std::string> names{"format", "format_version", "step", "checkpoint",
                                           "created"};
  return names;
}

void attr_write_f64(hid_t obj, const std::string& name, double value, const std::string& file) {
  const h5::Space space(H5Screate(H5S_SCALAR));
  const h5::Attr attr(h5::check(
      H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), file,
      "create the attribute " + name));
  h5::check(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value), file, "write the attribute " + name);
}

// The pieces of a '/'-separated array name; empty, "." and ".." parts are refused.
std::vector<std::string> name_parts(const std::string& name, const std::string& file) {
  std::vector<std::string> parts;
  size_t pos = 0;
  for (;;) {
    const size_t slash = name.find('/', pos);
    const std::string part =
        name.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (part.empty() || part == "." || part == "..") {
      throw Error(file + ": invalid array name '" + name +
                  "' (empty, '.' or '..' parts are not allowed)");
    }
    parts.push_back(part);
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return parts;
}

// More links than any analysis writes (about 40 datasets, L Jacobians).
constexpr unsigned kCompactLinksMax = 8192;

void write_h5(const std::string& file, const AnalysisFileData& data) {
  h5::Plist fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  // The root group lists its datasets in the order written, like every other group.
  const h5::Plist fcpl(H5Pcreate(H5P_FILE_CREATE));
  H5Pset_userblock(fcpl.get(), content::kHeaderBytes);  // room for the content-hash header
  H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  // Links stay in the groups' checksummed object headers ("compact"), not in
  // a fractal heap without checksums (HDF5's default past 8 links): this file
  // has no content hash, and HDF5 1.10 can crash listing a damaged heap.
  H5Pset_link_phase_change(fcpl.get(), kCompactLinksMax, kCompactLinksMax - 1);
  const h5::Plist gcpl = h5::gcpl_ordered();
  H5Pset_link_phase_change(gcpl.get(), kCompactLinksMax, kCompactLinksMax - 1);
  h5::File f(h5::check(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), file,
                       "create the analysis file"));
  const hid_t root = f.get();
  h5::attr_write_string(root, "format", kAnalysisFormat, file);
  h5::attr_write_i64(root, "format_version", kAnalysisFormatVersion, file);
  h5::attr_write_i64(root, "step", data.step, file);
  h5::attr_write_string(root, "checkpoint", data.checkpoint, file);
  h5::attr_write_string(root, "created", h5::time_now_iso(), file);
  std::set<std::string> attrs;
  auto claim = [&](const std::string& name) {
    if (name.empty() || reserved_attrs().count(name) || !attrs.insert(name).second) {
      throw Error(file + ": attribute name '" + name + "' is empty, reserved or used twice");
    }
  };
  for (const auto& [k, v] : data.texts) {
    claim(k);
    h5::attr_write_string(root, k, v, file);
  }
  for (const auto& [k, v] : data.ints) {
    claim(k);
    h5::attr_write_i64(root, k, v, file);
  }
  for (const auto& [k, v] : data.reals) {
    claim(k);
    attr_write_f64(root, k, v, file);
  }

  std::set<std::string> groups, leaves;
  for (const Array& a : data.arrays) {
    const std::vector<std::string> parts = name_parts(a.name, file);
    std::string prefix;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      prefix += (i ? "/" : "") + parts[i];
      if (leaves.count(prefix)) {
        throw Error(file + ": array name '" + a.name + "' nests under the array '" + prefix + "'");
      }
      if (groups.insert(prefix).second) {
        const h5::Group g(
            h5::check(H5Gcreate2(root, prefix.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), file,
                      "create the group /" + prefix));
      }
    }
    if (groups.count(a.name) || !leaves.insert(a.name).second) {
      throw Error(file + ": array name '" + a.name + "' appears twice or names a group");
    }
    h5::array_write(root, a.name, a, file, "/" + a.name);
  }
  f.close_checked(file, "close the analysis file");
}

// DepthLab writes one group level (jacobian/<l>); a deeper tree is damaged or
// hostile (and a group linked into itself would recurse forever).
constexpr int kGroupMaxDepth = 16;

void group_read(hid_t group, const std::string& prefix, std::vector<Array>& out,
                const std::string& file, int depth = 0) {
  if (depth > kGroupMaxDepth) {
    throw Error(file + ": /" + prefix + " nests groups more than " +
                std::to_string(kGroupMaxDepth) + " levels deep; DepthLab writes at most 1");
  }
  for (const std::string& link : h5::group_links(group, file, "/" + prefix)) {
    const std::string name = prefix.empty() ? link : prefix + "/" + link;
    H5O_info_t info;
    h5::check(H5Oget_info_by_name2(group, link.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), file,
              "inspect /" + name);
    if (info.type == H5O_TYPE_GROUP) {
      const h5::Group sub = h5::group_open(group, link, file);
      group_read(sub.get(), name, out, file, depth + 1);
    } else if (info.type == H5O_TYPE_DATASET) {
      out.push_back(h5::array_read(group, link, name, file, "/" + name));
    }
  }
}

herr_t attr_name_collect(hid_t /*obj*/, const char* name, const H5A_info_t* /*info*/, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

// The sizes readers turn into ints and allocate by (docs/file-formats.md):
// anything outside [0, 2^31) is a damaged or hostile file.
void size_attrs_check(const std::map<std::string, int64_t>& ints, const std::string& file) {
  for (const char* key : {"n_layers", "d_model", "samples", "seq_len", "first", "jacobian_samples",
                          "token_jacobian_sequence", "token_jacobian_token"}) {
    const auto it = ints.find(key);
    if (it != ints.end() && (it->second < 0 || it->second > int64_t(INT32_MAX))) {
      throw Error(file + ": attribute '" + key + "' on / is " + std::to_string(it->second) +
                  "; it must be 0 to " + std::to_string(INT32_MAX));
    }
  }
}

}  // namespace

fs::path analysis_file_path(const fs::path& run_dir, int64_t step) {
  return run_dir / "analysis" / ("step-" + std::to_string(step) + ".h5");
}

void analysis_file_write(const fs::path& path, const AnalysisFileData& data) {
  h5::quiet();
  h5::file_write_atomic(path, [&](const fs::path& tmp) {
    write_h5(tmp.string(), data);
    content::header_write(tmp, content::kAnalysisMagic, content::hash_of(tmp));
  });
}

AnalysisFileData analysis_file_read(const fs::path& path) {
  h5::quiet();
  const std::string file = path.string();
  regular_file_require(path, "an HDF5 file");
  // Before HDF5 parses anything: it can loop forever on a damaged global heap
  // (found by the store_read fuzzer: a variable-length string attribute).
  content::verify(path, /*hash=*/true);
  const h5::File f = h5::file_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t root = f.get();
  h5::format_check(root, file, kAnalysisFormat, kAnalysisFormatVersion, "analysis file");
  AnalysisFileData d;
  d.step = h5::attr_read_i64(root, "step", file, "/");
  step_file_check(path, d.step, "analysis file");
  d.checkpoint = h5::attr_read_string(root, "checkpoint", file, "/");

  std::vector<std::string> names;
  hsize_t idx = 0;
  h5::check(H5Aiterate2(root, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_name_collect, &names), file,
            "list the attributes of /");
  for (const std::string& name : names) {
    if (reserved_attrs().count(name)) continue;
    const h5::Attr attr(h5::check(H5Aopen(root, name.c_str(), H5P_DEFAULT), file,
                                  "open the attribute '" + name + "'"));
    const h5::Type type(h5::check(H5Aget_type(attr.get()), file, "read the type of " + name));
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls == H5T_STRING) {
      d.texts[name] = h5::attr_read_string(root, name, file, "/");
    } else if (cls == H5T_INTEGER) {
      d.ints[name] = h5::attr_read_i64(root, name, file, "/");
    } else if (cls == H5T_FLOAT) {
      double v = 0;
      h5::check(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v), file,
                "read the attribute '" + name + "'");
      d.reals[name] = v;
    }
  }
  size_attrs_check(d.ints, file);
  const h5::Group top = h5::group_open(root, "/", file);  // a group id: it knows its link order
  group_read(top.get(), "", d.arrays, file);
  return d;
}

std::vector<std::pair<int64_t, fs::path>> analysis_file_list(const fs::path& run_dir) {
  return step_files_list(run_dir / "analysis");
}

}  // namespace dlab
