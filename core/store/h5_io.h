// Helpers shared by the run file and the checkpoint file: opening a file with
// clear messages, string and integer attributes, the format/version check.
// Every helper throws dlab::Error naming `file` (the path as text) on failure.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "store/h5_handle.h"

namespace dlab::h5 {

// Opens an existing file. `flags` as for H5Fopen. A missing file, a path that
// is not a regular file (a directory, a FIFO, a device: refused before HDF5
// opens it, which could block), a file that is not HDF5 (zero bytes, garbage)
// and a truncated file each get their own message naming the path.
File file_open(const std::filesystem::path& path, unsigned flags, hid_t fapl);

// A variable-length UTF-8 string type (h5py reads such attributes as str).
Type string_type_vlen();

// True when every component of `path` (relative to `loc`, '/'-separated)
// exists; never fails on a missing intermediate group.
bool link_exists(hid_t loc, const std::string& path);
bool attr_exists(hid_t obj, const std::string& name);

// Opens a required object; a missing one gives "<file> lacks <what> <path>".
Group group_open(hid_t loc, const std::string& path, const std::string& file);
Dataset dataset_open(hid_t loc, const std::string& path, const std::string& file,
                     hid_t dapl = H5P_DEFAULT);

// A string attribute, variable-length by default (h5py reads it as str; its
// bytes live in HDF5's global heap, which has no checksum). `fixed` stores it
// as a fixed-length, nul-padded UTF-8 string inside the object's checksummed
// header instead (h5py reads bytes).
void attr_write_string(hid_t obj, const std::string& name, const std::string& value,
                       const std::string& file, bool fixed = false);
void attr_write_i64(hid_t obj, const std::string& name, int64_t value, const std::string& file);
// Reads a string attribute, variable-length or fixed-length (files written by
// other tools may use either). `where` names the object in messages ("/", "/tokenizer").
std::string attr_read_string(hid_t obj, const std::string& name, const std::string& file,
                             const std::string& where);
int64_t attr_read_i64(hid_t obj, const std::string& name, const std::string& file,
                      const std::string& where);
// A string attribute holding JSON (a config): attr_read_string, then the
// size and nesting limits of json_text_check (common/config_json.h).
std::string attr_read_json(hid_t obj, const std::string& name, const std::string& file,
                           const std::string& where);

// Largest string attribute read (a config is a few KiB; its JSON limit is 1 MiB).
inline constexpr size_t kAttrStringMaxBytes = size_t(16) << 20;
// Largest dataset read into memory at once (1 TiB: beyond any model this runs).
inline constexpr uint64_t kDatasetMaxBytes = uint64_t(1) << 40;
// Datasets this small are read even when the file stores less of them (a SWMR
// reader may see a new extent just before the rows behind it).
inline constexpr uint64_t kUnstoredSlackBytes = uint64_t(1) << 20;

// The bytes a read of `dims` elements of `element_size` needs, in checked
// arithmetic: refused when over kDatasetMaxBytes, or when far more than the
// file stores for the dataset (a damaged or hostile shape: without this,
// HDF5 would fill terabytes with the fill value). `where` names the dataset.
uint64_t dataset_bytes_checked(hid_t dataset, const std::vector<hsize_t>& dims, size_t element_size,
                               const std::string& file, const std::string& where);
// "[2, 3]"
std::string dims_text(const std::vector<hsize_t>& dims);

// A group creation property list that tracks and indexes link creation order,
// so that readers list series and tensors in the order they were written.
Plist gcpl_ordered();
// The names of the links in `group`: in creation order when the group tracks
// it, else in name order (files written by other tools).
std::vector<std::string> group_links(hid_t group, const std::string& file,
                                     const std::string& where);

// The dimensions of a dataset (empty for a scalar).
std::vector<hsize_t> dataset_dims(hid_t dataset, const std::string& file, const std::string& what);

// Checks the root attributes `format` == expected_format and `format_version`
// == version; otherwise throws, e.g. "run.h5 has format_version 7; this DepthLab
// reads format_version 1" or "x.h5 is not a DepthLab run file (...)".
void format_check(hid_t file_id, const std::string& file, const std::string& expected_format,
                  int64_t version, const std::string& kind_text);

// Current UTC time as ISO 8601 ("2025-01-31T12:34:56Z").
std::string time_now_iso();

}  // namespace dlab::h5
