// Checkpoint files runs/<name>/checkpoints/step-<N>.h5: self-contained
// snapshots (config, tokenizer, weights under Hugging Face names, optimizer
// state, RNG, counters), readable by plain h5py. Layout in docs/file-formats.md:
//   /                  attrs format="depthlab-checkpoint", format_version=1, step,
//                      config, metadata, created
//   /state_dict/<HF name>   one dataset per tensor, exact shape (names contain '.')
//   /optimizer/<a>/<b>      names with '/' become nested groups (deliberately)
//   /tokenizer              attr kind; dataset model uint8 [n] (n may be 0)
//   /rng                    uint8 [n]
//   /counters               one int64 attribute per counter
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace dlab {

inline constexpr const char* kCheckpointFormat = "depthlab-checkpoint";
inline constexpr int64_t kCheckpointFormatVersion = 1;

enum class DType { F32, F64, I64, U8 };

size_t dtype_size(DType dtype);       // bytes per element
const char* dtype_name(DType dtype);  // "float32", "float64", "int64", "uint8"

// One named tensor as raw little-endian bytes, row-major.
struct Array {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // {} is a scalar (one element)
  std::vector<uint8_t> bytes;  // numel() * dtype_size(dtype) bytes

  static Array from_f32(const std::string& name, const std::vector<int64_t>& shape,
                        const float* data);
  static Array from_f64(const std::string& name, const std::vector<int64_t>& shape,
                        const double* data);
  static Array from_i64(const std::string& name, const std::vector<int64_t>& shape,
                        const int64_t* data);
  static Array from_u8(const std::string& name, const std::vector<int64_t>& shape,
                       const uint8_t* data);

  int64_t numel() const;  // product of shape (1 for a scalar)
  // Typed views of `bytes`; each throws dlab::Error naming the array when the
  // dtype differs.
  const float* f32() const;
  const double* f64() const;
  const int64_t* i64() const;
  const uint8_t* u8() const;
};

struct CheckpointData {
  int64_t step = 0;
  std::string config_json;
  std::string tokenizer_kind;
  std::string tokenizer_model;    // bytes (may be empty, e.g. the byte tokenizer)
  std::vector<Array> state_dict;  // "model.layers.0.self_attn.q_proj.weight", ... (float32)
  std::vector<Array> optimizer;   // any names, e.g. "exp_avg/model.embed_tokens.weight"
  std::vector<uint8_t> rng_state;
  std::map<std::string, int64_t> counters;  // data cursor, tokens seen, ...
  std::string metadata_json;                // free-form (loss at save, versions)
};

// Integrity: a checkpoint starts with a 512-byte text header (an HDF5 user
// block, invisible to h5py) holding the XXH64 hash and size of the rest of the
// file. checkpoint_read verifies it before HDF5 parses anything, so a damaged
// file is refused, never half-read. Tensors also carry HDF5's Fletcher-32
// checksum (checked by h5py too).
//
// Writes <path>.tmp, closes and fsyncs it, then renames it to `path` (and
// fsyncs the directory): a crash mid-write never leaves a partial file under
// the real name. Creates the parent directory. Replaces an existing file.
void checkpoint_write(const std::filesystem::path& path, const CheckpointData& data);

// Verifies the content hash, then reads everything back; state_dict in the order written, optimizer
// grouped by name prefix (depth-first, each level in the order written). Without `with_optimizer`
// the optimizer vector stays empty (and is not read).
// Refuses, with a dlab::Error naming the file: a path that is not a regular
// file; a `step` attribute that is negative, disagrees with a step-<N>.h5 name
// or with the counter `step`; config/metadata JSON over the limits of
// json_text_check; a dataset whose shape needs more bytes than the file stores
// (or than 1 TiB); state_dict weights that are NaN or infinite.
CheckpointData checkpoint_read(const std::filesystem::path& path, bool with_optimizer = true);

// The step a checkpoint holds, validated as checkpoint_read does (the `step`
// attribute against the file's step-<N>.h5 name and its counter `step`)
// without reading any tensor. Resume calls it on the
// checkpoint it picked, so that a renamed or copied file is refused before
// anything is restored. Verifies the content hash first.
int64_t checkpoint_read_step(const std::filesystem::path& path);

// The /state_dict names in the order written, without reading any tensor. The
// content hash is verified first, as by checkpoint_read (a damaged file can
// crash HDF5 1.10 while it lists links).
std::vector<std::string> checkpoint_state_names(const std::filesystem::path& path);

// Recomputes the header of a checkpoint that was changed on purpose after
// DepthLab wrote it (weights edited in place with h5py, say), so that it reads
// again. Throws for a file without the 512-byte header.
void checkpoint_seal(const std::filesystem::path& path);

// The checkpoints of a run directory (<run_dir>/checkpoints/step-<N>.h5),
// sorted by step. Other files (such as a leftover step-<N>.h5.tmp) are ignored;
// a missing directory gives an empty list.
std::vector<std::pair<int64_t, std::filesystem::path>> checkpoint_list(
    const std::filesystem::path& run_dir);

}  // namespace dlab
