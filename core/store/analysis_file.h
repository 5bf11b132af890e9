// Analysis files runs/<name>/analysis/step-<N>.h5: the layer-effectiveness
// results of one checkpoint (docs/analysis.md, docs/file-formats.md), readable
// by plain h5py and by the GUI without LibTorch.
//
// Why a side file and not run.h5: run.h5 is open in SWMR mode while training
// runs, and HDF5 forbids creating groups, datasets or attributes in such a
// file; an analysis may run while training still writes. One small file per
// analysed checkpoint is never contended.
//
// Layout:
//   /                 attrs format="depthlab-analysis", format_version=1, step,
//                     checkpoint, created, plus the eval-set description and
//                     options (AnalysisFileData::texts / ints / reals)
//   /<key>            one float64 dataset per result key (scalars have shape [])
//   /<group>/<name>   arrays whose name contains '/', e.g. jacobian/3 (float32 [d, d])
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "store/checkpoint_file.h"  // Array, DType

namespace dlab {

inline constexpr const char* kAnalysisFormat = "depthlab-analysis";
inline constexpr int64_t kAnalysisFormatVersion = 1;

struct AnalysisFileData {
  int64_t step = 0;
  std::string checkpoint;                    // the analysed checkpoint, as given
  std::map<std::string, std::string> texts;  // string attributes of "/"
  std::map<std::string, int64_t> ints;       // int64 attributes of "/"
  std::map<std::string, double> reals;       // float64 attributes of "/"
  // Datasets in the order written. A '/' in a name is a group level
  // ("jacobian/3" is the dataset 3 of the group /jacobian); empty parts are refused.
  std::vector<Array> arrays;
};

// <run_dir>/analysis/step-<N>.h5
std::filesystem::path analysis_file_path(const std::filesystem::path& run_dir, int64_t step);

// Writes <path>.tmp, fsyncs it and renames it into place, as checkpoints are
// written (store/h5_array.h, file_write_atomic): a reader or a crash never sees
// a partial file. Creates the parent directory; replaces an existing file. Attribute
// names "format", "format_version", "step", "checkpoint" and "created" are
// reserved. Throws dlab::Error naming the file.
void analysis_file_write(const std::filesystem::path& path, const AnalysisFileData& data);

// Reads everything back (arrays depth-first, each group in the order written).
// Refuses other formats and versions with the usual messages.
AnalysisFileData analysis_file_read(const std::filesystem::path& path);

// The analysis files of a run directory sorted by step (missing folder: empty).
std::vector<std::pair<int64_t, std::filesystem::path>> analysis_file_list(
    const std::filesystem::path& run_dir);

}  // namespace dlab
