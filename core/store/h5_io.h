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

// Opens an existing file. `flags` as for H5Fopen. A missing file, a file that
// is not HDF5 (zero bytes, garbage) and a truncated file each get their own
// message naming the path.
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
