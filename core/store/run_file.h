// The run file runs/<name>/run.h5: the config and every metric series of a
// run, written by one process in HDF5 single-writer/multiple-reader (SWMR)
// mode so that the GUI (or h5py) can tail it while training runs.
//
// Layout and the SWMR contract are in docs/file-formats.md. In short:
//   /                  attrs format="depthlab-run", format_version=1, config, created
//   /series/<name>/    attr description
//       step           int64   [n]          (chunked, unlimited)
//       value          float32 [n, width]   (chunked, unlimited rows)
//   /status            fixed 256-byte UTF-8 string, overwritten in place
// Rows appended by the writer become visible to readers at flush(); a reader
// sees them after refresh(). Nothing can be added to the file once writing has
// started (an HDF5 SWMR rule), so analysis results live in other files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace dlab {

inline constexpr const char* kRunFormat = "depthlab-run";
inline constexpr int64_t kRunFormatVersion = 1;

// A metric series: `width` values per row (1 = scalar, L = per layer, ...).
struct SeriesSpec {
  std::string name;  // no '/', unique within a run
  int width = 1;
  std::string description;
};

struct SeriesData {
  std::string name;
  int width = 1;
  std::vector<int64_t> steps;  // [n], non-decreasing
  std::vector<float> values;   // [n * width], row-major (n, width)
};

// The file beside a run file whose lock the run's writer holds for its whole
// life (run.h5 -> run.h5.lock). It stays after the run; its existence marks a
// run directory as taken.
std::filesystem::path run_lock_path(const std::filesystem::path& run_file);

class RunWriter {  // single writer, SWMR
 public:
  // Creates (or replaces) the file with every series empty and status "created",
  // then starts SWMR writing.
  static RunWriter create(const std::filesystem::path& path, const std::string& config_json,
                          const std::vector<SeriesSpec>& series);
  // Reopens an existing run for appending after a resume: drops the rows with
  // step > keep_through_step from every series (so a resumed run is identical
  // to an uninterrupted one), adds the series of `series` missing from the file
  // (a series present with another width is an error), then starts SWMR
  // writing. Works on a file left behind by a crashed writer.
  static RunWriter open_resume(const std::filesystem::path& path, int64_t keep_through_step,
                               const std::vector<SeriesSpec>& series);

  RunWriter(RunWriter&&) noexcept;
  RunWriter& operator=(RunWriter&&) noexcept;
  RunWriter(const RunWriter&) = delete;
  RunWriter& operator=(const RunWriter&) = delete;
  ~RunWriter();  // close(); errors are printed to stderr, never thrown

  // Queues one row (n must equal the series width; steps must not decrease
  // within a series). Cheap: rows reach the file at flush() (or in blocks of
  // a few hundred rows when no flush comes).
  void append(const std::string& series, int64_t step, const float* values, int n);
  void append(const std::string& series, int64_t step, const std::vector<float>& values);
  // Writes every queued row and flushes the file: after it returns, readers
  // see the rows (after their refresh()) and a crash of this process keeps them.
  void flush();
  // "running" | "finished" | "diverged: <why>" | "stopped" by convention; at most
  // 255 bytes (longer text is cut at a UTF-8 character boundary). Flushes.
  void set_status(const std::string& status);
  // Flushes and closes the file (also done by the destructor). Idempotent.
  // After a failed write (a full disk, damage found while appending: already
  // thrown to the caller) it writes nothing more and only releases the file.
  void close();

  const std::filesystem::path& path() const;
  std::vector<SeriesSpec> series() const;

 private:
  struct Impl;
  explicit RunWriter(std::unique_ptr<Impl> impl);
  Impl& impl();  // throws once closed or moved from
  std::unique_ptr<Impl> impl_;
};

class RunReader {  // opens with SWMR read access, so it can tail a file being written
 public:
  static RunReader open(const std::filesystem::path& path);

  RunReader(RunReader&&) noexcept;
  RunReader& operator=(RunReader&&) noexcept;
  RunReader(const RunReader&) = delete;
  RunReader& operator=(const RunReader&) = delete;
  ~RunReader();

  std::string config_json() const;
  std::string created() const;             // ISO 8601 UTC time the run file was created
  std::string status() const;              // read from the file at each call
  std::vector<SeriesSpec> series() const;  // in creation order, with widths and descriptions
  SeriesData read(
      const std::string& name) const;  // unknown name -> dlab::Error listing what exists
  // Re-reads the datasets' metadata so that rows flushed since open (or the last
  // refresh) become visible to read().
  void refresh();
  int64_t format_version() const;
  // True while a RunWriter (in any process on this machine) holds the file
  // open. A status of "running" with no writer means the writer died.
  bool writer_alive() const;
  const std::filesystem::path& path() const;

 private:
  struct Impl;
  explicit RunReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dlab
