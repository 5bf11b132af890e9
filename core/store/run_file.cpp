#include "store/run_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <limits>
#include <unordered_map>

#include "common/file_check.h"
#include "store/content_header.h"
#include "store/h5_io.h"

namespace dlab {

namespace fs = std::filesystem;

namespace {

constexpr size_t kStatusBytes = 256;        // fixed size of /status, nul-padded
constexpr hsize_t kChunkBytes = 64 * 1024;  // target size of one value chunk
constexpr hsize_t kChunkRowsMax = 256;
constexpr unsigned kSwmrReadAttempts = 24;
// The writer reads back only metadata it wrote itself, so a checksum failure
// there is damage, never a torn write: one attempt. (H5Fstart_swmr_write would
// set HDF5's default of 100 attempts, sleeping 1, 2, 4, ... ns between them: a
// resumed run on a damaged run.h5 slept for hours in that loop.)
constexpr unsigned kWriterReadAttempts = 1;

// Rows per chunk: 256 for narrow series, fewer for wide ones (L x E expert
// fractions) so that a chunk stays near 64 KiB. Every flush rewrites the
// partly filled last chunk of each series, so small chunks keep flushes cheap.
hsize_t chunk_rows(int width) {
  const hsize_t rows = kChunkBytes / (sizeof(float) * hsize_t(width));
  return std::clamp<hsize_t>(rows, 1, kChunkRowsMax);
}

void series_name_check(const std::string& name, const std::string& file) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    throw Error(file + ": invalid series name '" + name +
                "' (must be non-empty and contain no '/')");
  }
}

void specs_check(const std::vector<SeriesSpec>& specs, const std::string& file) {
  std::unordered_map<std::string, int> seen;
  for (const SeriesSpec& s : specs) {
    series_name_check(s.name, file);
    if (s.width < 1) {
      throw Error(file + ": series '" + s.name + "' has width " + std::to_string(s.width) +
                  "; a width must be at least 1");
    }
    if (!seen.emplace(s.name, s.width).second) {
      throw Error(file + ": series '" + s.name + "' is declared twice");
    }
  }
}

h5::Type status_type() {
  h5::Type t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t.get(), kStatusBytes);
  H5Tset_strpad(t.get(), H5T_STR_NULLPAD);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

// SWMR needs the newest file format (HDF5 1.10 object headers and chunk indexes).
h5::Plist fapl_latest() {
  h5::Plist fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  return fapl;
}

// For opening an existing run for SWMR writing: HDF5 honours the number of
// metadata read attempts only when a file is opened with H5F_ACC_SWMR_WRITE.
h5::Plist fapl_swmr_writer() {
  h5::Plist fapl = fapl_latest();
  H5Pset_metadata_read_attempts(fapl.get(), kWriterReadAttempts);
  return fapl;
}

// /series keeps its links (one per series) in its own object header, which
// HDF5 checksums, up to kSeriesCompactMax series. Past HDF5's default of 8
// they would move to "dense" storage, a fractal heap whose blocks carry no
// checksum: a flipped bit in a series name would go unnoticed, and HDF5 1.10
// can crash on such damage. A run has a few dozen series.
constexpr unsigned kSeriesCompactMax = 4096;

h5::Plist series_gcpl() {
  h5::Plist gcpl = h5::gcpl_ordered();
  H5Pset_link_phase_change(gcpl.get(), kSeriesCompactMax, kSeriesCompactMax - 1);
  return gcpl;
}

// ---- the writer's lock -------------------------------------------------------
// HDF5 drops its own file lock once SWMR writing starts, so two writers could
// both open a run. The writer therefore holds an open-file-description lock
// (fcntl F_OFD_SETLK: released when the process dies, independent of HDF5's
// flock) on run.h5 for its whole life. Readers probe it (writer_alive()).

// The writer's lock lives beside the run file (run.h5.lock), not on it: a
// resume replaces run.h5 by a repaired copy, and a lock on the old inode would
// not keep a second writer off the new one.

int writer_lock_acquire(const fs::path& run_file) {
  const fs::path path = run_lock_path(run_file);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(path.string() + ": cannot open for writing (" + std::strerror(errno) + ")");
  }
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  if (fcntl(fd, F_OFD_SETLK, &lock) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EAGAIN || err == EACCES) {
      throw Error(run_file.string() +
                  " is being written by another DepthLab process; one run file "
                  "has one writer (stop the other run first)");
    }
    throw Error(path.string() + ": cannot lock for writing (" + std::strerror(err) + ")");
  }
  return fd;
}

// A writer killed before it switched to SWMR mode leaves the superblock
// marked "open for writing", and HDF5 then refuses every reader. When no
// writer holds the lock, that writer is dead: the marks are cleared in place,
// as `h5clear -s` would, while holding the writer's lock so that no new writer
// starts meanwhile. Returns whether they were cleared (false: a live writer,
// no permission to write, or not a stale mark at all).
bool stale_write_flags_clear(const fs::path& run_file) {
  int fd = -1;
  try {
    fd = writer_lock_acquire(run_file);
  } catch (const Error&) {
    return false;  // a live writer (or a folder we may not write to)
  }
  bool cleared = false;
  {
    const h5::Plist fapl(H5Pcreate(H5P_FILE_ACCESS));
    hbool_t clear = true;
    if (H5Pset(fapl.get(), "clear_status_flags", &clear) >= 0) {
      const hid_t id = H5Fopen(run_file.c_str(), H5F_ACC_RDWR, fapl.get());
      if (id >= 0) cleared = H5Fclose(id) >= 0;
    }
    h5::error_take();
  }
  ::close(fd);
  return cleared;
}

bool writer_lock_held(const fs::path& run_file) {
  // O_NONBLOCK: a FIFO planted as run.h5.lock must not block a reader.
  const int fd = ::open(run_lock_path(run_file).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  const bool held = fcntl(fd, F_OFD_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

// Reads a scalar or one-element string dataset (fixed or variable length).
std::string dataset_read_string(hid_t ds, const std::string& file, const std::string& what) {
  const h5::Type ftype(h5::check(H5Dget_type(ds), file, "read the type of " + what));
  if (H5Tget_class(ftype.get()) != H5T_STRING) throw Error(file + ": " + what + " is not a string");
  if (H5Tis_variable_str(ftype.get()) > 0) {
    h5::Type mtype(H5Tcopy(H5T_C_S1));
    H5Tset_size(mtype.get(), H5T_VARIABLE);
    char* text = nullptr;
    h5::check(H5Dread(ds, mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &text), file, "read " + what);
    std::string value = text ? std::string(text) : std::string();
    if (text) H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(ftype.get()), '\0');
  h5::check(H5Dread(ds, ftype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data()), file,
            "read " + what);
  const size_t end = value.find('\0');
  if (end != std::string::npos) value.resize(end);
  return value;
}

// Cuts `text` to at most `max` bytes without splitting a UTF-8 character.
std::string utf8_cut(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

std::string series_path(const std::string& name) { return "/series/" + name; }

// fsync of a file or a directory (its entries: a rename in it becomes durable).
void sync_path(const fs::path& path, const std::string& file) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw Error(file + ": cannot sync " + path.string() + " (" + std::strerror(err) + ")");
  }
  ::close(fd);
}

// What the resume keeps of one series: its first `keep` rows, a prefix of
// strictly increasing steps up to the resumed step (a killed writer can leave
// extended rows it never filled: zeros, which would read as step 0 again).
struct SeriesKeep {
  SeriesSpec spec;
  hsize_t keep = 0;
  int64_t last_step = std::numeric_limits<int64_t>::min();
};

hsize_t rows_to_keep(const std::vector<int64_t>& steps, int64_t keep_through_step) {
  hsize_t keep = 0;
  for (; keep < steps.size(); ++keep) {
    if (steps[keep] > keep_through_step) break;
    if (keep > 0 && steps[keep] <= steps[keep - 1]) break;
  }
  return keep;
}

}  // namespace

// ---- writer ------------------------------------------------------------------

namespace {

struct WriterSeries {
  SeriesSpec spec;
  h5::Dataset step;   // int64 [n]
  h5::Dataset value;  // float32 [n, width]
  hsize_t rows = 0;   // rows already in the file
  hsize_t block = 0;  // queued rows that trigger a write without flush
  int64_t last_step = std::numeric_limits<int64_t>::min();
  std::vector<int64_t> queued_steps;
  std::vector<float> queued_values;
};

}  // namespace

struct RunWriter::Impl {
  fs::path path;
  std::string file;
  int lock_fd = -1;
  h5::File h5;
  std::vector<WriterSeries> series;
  std::unordered_map<std::string, size_t> index;
  h5::Dataset status;
  bool io_failed = false;  // a write failed: write nothing more

  ~Impl() {
    // Close the file before giving up the lock (members would go after it).
    series.clear();
    status.reset();
    h5.reset();
    if (lock_fd >= 0) ::close(lock_fd);
  }

  // Creates /series/<name> with its two empty extendible datasets (before SWMR).
  void series_create(hid_t series_group, const SeriesSpec& spec) {
    const std::string where = series_path(spec.name);
    const h5::Group g(h5::check(
        H5Gcreate2(series_group, spec.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), file,
        "create the group " + where));
    h5::attr_write_string(g.get(), "description", spec.description, file, /*fixed=*/true);
    const hsize_t rows = chunk_rows(spec.width);
    const hsize_t width = hsize_t(spec.width);
    {
      const hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {rows};
      const h5::Space space(H5Screate_simple(1, dims, maxdims));
      const h5::Plist dcpl(H5Pcreate(H5P_DATASET_CREATE));
      H5Pset_chunk(dcpl.get(), 1, chunk);
      H5Pset_fletcher32(dcpl.get());  // a damaged chunk is reported, never read as numbers
      h5::Dataset ds(h5::check(H5Dcreate2(g.get(), "step", H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                                          dcpl.get(), H5P_DEFAULT),
                               file, "create the dataset " + where + "/step"));
    }
    {
      const hsize_t dims[2] = {0, width}, maxdims[2] = {H5S_UNLIMITED, width},
                    chunk[2] = {rows, width};
      const h5::Space space(H5Screate_simple(2, dims, maxdims));
      const h5::Plist dcpl(H5Pcreate(H5P_DATASET_CREATE));
      H5Pset_chunk(dcpl.get(), 2, chunk);
      H5Pset_fletcher32(dcpl.get());
      h5::Dataset ds(h5::check(H5Dcreate2(g.get(), "value", H5T_IEEE_F32LE, space.get(),
                                          H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                               file, "create the dataset " + where + "/value"));
    }
  }

  // Opens the datasets of a series present in the file and registers it.
  WriterSeries& series_open(const SeriesSpec& spec, hsize_t rows, int64_t last_step) {
    WriterSeries s;
    s.spec = spec;
    s.step = h5::dataset_open(h5.get(), series_path(spec.name) + "/step", file);
    s.value = h5::dataset_open(h5.get(), series_path(spec.name) + "/value", file);
    s.rows = rows;
    s.block = chunk_rows(spec.width);
    s.last_step = last_step;
    index.emplace(spec.name, series.size());
    series.push_back(std::move(s));
    return series.back();
  }

  void swmr_start() {
    h5::check(H5Fstart_swmr_write(h5.get()), file, "start single-writer/multiple-reader mode");
  }

  // Writes the queued rows of `s` to the file (value rows first, then steps:
  // readers take the smaller of the two row counts).
  void write_queued(WriterSeries& s) {
    const hsize_t k = s.queued_steps.size();
    if (k == 0) return;
    const std::string where = series_path(s.spec.name);
    const hsize_t width = hsize_t(s.spec.width);
    const hsize_t total = s.rows + k;
    {
      const hsize_t dims[2] = {total, width};
      h5::check(H5Dset_extent(s.value.get(), dims), file, "extend " + where + "/value");
      const h5::Space fspace(H5Dget_space(s.value.get()));
      const hsize_t start[2] = {s.rows, 0}, count[2] = {k, width};
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
      const h5::Space mspace(H5Screate_simple(2, count, nullptr));
      h5::check(H5Dwrite(s.value.get(), H5T_NATIVE_FLOAT, mspace.get(), fspace.get(), H5P_DEFAULT,
                         s.queued_values.data()),
                file, "write rows of " + where + "/value");
    }
    {
      const hsize_t dims[1] = {total};
      h5::check(H5Dset_extent(s.step.get(), dims), file, "extend " + where + "/step");
      const h5::Space fspace(H5Dget_space(s.step.get()));
      const hsize_t start[1] = {s.rows}, count[1] = {k};
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
      const h5::Space mspace(H5Screate_simple(1, count, nullptr));
      h5::check(H5Dwrite(s.step.get(), H5T_NATIVE_INT64, mspace.get(), fspace.get(), H5P_DEFAULT,
                         s.queued_steps.data()),
                file, "write rows of " + where + "/step");
    }
    s.rows = total;
    s.queued_steps.clear();
    s.queued_values.clear();
  }

  void flush() {
    io([&] {
      for (WriterSeries& s : series) write_queued(s);
      h5::check(H5Fflush(h5.get(), H5F_SCOPE_LOCAL), file, "flush");
    });
  }

  // Runs a step that writes to the file; a failure (a full disk, damage)
  // marks the writer failed: HDF5's state after a failed write is uncertain,
  // and retrying at close would only fail (or sleep) again.
  template <typename F>
  void io(F step) {
    try {
      step();
    } catch (...) {
      io_failed = true;
      throw;
    }
  }

  void close() {
    if (!h5.valid()) return;
    // Whatever fails, the handles and the lock are released.
    struct Release {
      Impl* self;
      ~Release() {
        self->series.clear();
        self->index.clear();
        self->status.reset();
        self->h5.reset();
        if (self->lock_fd >= 0) ::close(self->lock_fd);
        self->lock_fd = -1;
      }
    } release{this};
    if (io_failed) return;  // already reported; just let go of the file
    for (WriterSeries& s : series) write_queued(s);
    for (WriterSeries& s : series) {
      s.step.close_checked(file, "close " + series_path(s.spec.name) + "/step");
      s.value.close_checked(file, "close " + series_path(s.spec.name) + "/value");
    }
    status.close_checked(file, "close /status");
    h5.close_checked(file, "close the file");
  }

  void alive_check() const {
    if (!h5.valid()) throw Error(file + ": the run writer is closed");
  }
};

RunWriter::RunWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RunWriter::Impl& RunWriter::impl() {
  if (!impl_) throw Error("this run writer was moved from");
  impl_->alive_check();
  return *impl_;
}
RunWriter::RunWriter(RunWriter&&) noexcept = default;
RunWriter& RunWriter::operator=(RunWriter&& other) noexcept {
  if (this != &other) {
    if (impl_) {
      try {
        impl_->close();
      } catch (const std::exception& e) {
        std::cerr << "depthlab: " << e.what() << "\n";
      }
    }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

RunWriter::~RunWriter() {
  if (!impl_) return;
  try {
    impl_->close();
  } catch (const std::exception& e) {
    std::cerr << "depthlab: " << e.what() << "\n";
  }
}

RunWriter RunWriter::create(const fs::path& path, const std::string& config_json,
                            const std::vector<SeriesSpec>& series) {
  h5::quiet();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = path.string();
  const std::string& file = impl->file;
  specs_check(series, file);
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw Error(path.parent_path().string() + ": cannot create (" + ec.message() + ")");
  }
  impl->lock_fd = writer_lock_acquire(path);

  const h5::Plist fapl = fapl_latest();
  impl->h5 = h5::File(h5::check(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()),
                                file, "create the run file"));
  const hid_t root = impl->h5.get();
  // Fixed-length strings: they live in checksummed object headers, not in the
  // global heap (unchecked, and a damaged one can crash HDF5 1.10's reader).
  h5::attr_write_string(root, "format", kRunFormat, file, /*fixed=*/true);
  h5::attr_write_i64(root, "format_version", kRunFormatVersion, file);
  h5::attr_write_string(root, "config", config_json, file, /*fixed=*/true);
  h5::attr_write_string(root, "created", h5::time_now_iso(), file, /*fixed=*/true);
  {
    const h5::Plist gcpl = series_gcpl();
    const h5::Group g(h5::check(H5Gcreate2(root, "series", H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
                                file, "create the group /series"));
    for (const SeriesSpec& spec : series) impl->series_create(g.get(), spec);
  }
  for (const SeriesSpec& spec : series)
    impl->series_open(spec, 0, std::numeric_limits<int64_t>::min());
  {
    const h5::Type type = status_type();
    const h5::Space space(H5Screate(H5S_SCALAR));
    const h5::Plist dcpl(H5Pcreate(H5P_DATASET_CREATE));
    // Compact: the 256 bytes live in the dataset's object header, which is
    // checksummed; readers see a new value after H5Drefresh.
    H5Pset_layout(dcpl.get(), H5D_COMPACT);
    impl->status = h5::Dataset(h5::check(
        H5Dcreate2(root, "status", type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
        file, "create the dataset /status"));
    char text[kStatusBytes] = "created";
    h5::check(H5Dwrite(impl->status.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, text), file,
              "write /status");
  }
  impl->swmr_start();
  return RunWriter(std::move(impl));
}

RunWriter RunWriter::open_resume(const fs::path& path, int64_t keep_through_step,
                                 const std::vector<SeriesSpec>& series) {
  h5::quiet();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = path.string();
  const std::string& file = impl->file;
  specs_check(series, file);
  std::error_code ec;
  try {
    regular_file_require(path, "a run file");
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; cannot resume its run");
  }
  content::verify(path, /*hash=*/true);  // a checkpoint or analysis file by mistake
  impl->lock_fd = writer_lock_acquire(path);

  // 1. The repairs are made on a copy, which then replaces run.h5 in one
  // rename: a kill at any point leaves the old file or the repaired one, never
  // a half-written mix (HDF5 updates metadata in place and cannot be undone).
  const fs::path work = path.string() + ".resuming";
  fs::remove(work, ec);  // a resume killed before its rename
  fs::copy_file(path, work, fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error(file + ": cannot copy it for the resume (" + ec.message() + ")");
  std::vector<SeriesKeep> kept;
  try {
    // A writer that crashed left the superblock marked "open for SWMR writing",
    // which makes HDF5 refuse to open it for writing. We hold the writer lock,
    // so no live writer exists: clear the marks as `h5clear -s` would (through
    // the same file-access property h5clear uses).
    const h5::Plist fapl = fapl_latest();
    hbool_t clear = true;
    if (H5Pset(fapl.get(), "clear_status_flags", &clear) < 0) H5Eclear2(H5E_DEFAULT);
    h5::File copy = h5::file_open(work, H5F_ACC_RDWR, fapl.get());
    const hid_t root = copy.get();
    // A SWMR writer puts new chunks past the end-of-allocation address its
    // superblock records until it closes; killed, it leaves them "beyond the
    // end of the file" for HDF5. Extend that address to the real file size, as
    // `h5clear --increment=0` does, so that those rows read back.
    h5::check(H5Fincrement_filesize(root, 0), file, "repair the end-of-file address");
    h5::format_check(root, file, kRunFormat, kRunFormatVersion, "run file");
    const h5::Group g = h5::group_open(root, "/series", file);
    for (const std::string& name : h5::group_links(g.get(), file, "/series")) {
      const std::string where = series_path(name);
      h5::Dataset step = h5::dataset_open(root, where + "/step", file);
      h5::Dataset value = h5::dataset_open(root, where + "/value", file);
      const std::vector<hsize_t> sd = h5::dataset_dims(step.get(), file, where + "/step");
      const std::vector<hsize_t> vd = h5::dataset_dims(value.get(), file, where + "/value");
      if (sd.size() != 1 || vd.size() != 2 || vd[1] < 1 ||
          vd[1] > hsize_t(std::numeric_limits<int>::max())) {
        throw Error(file + ": " + where + " has step/value datasets of unexpected shape");
      }
      // A crash between the two extents of one flush can leave them unequal.
      const hsize_t rows = std::min(sd[0], vd[0]);
      h5::dataset_bytes_checked(step.get(), {rows}, sizeof(int64_t), file, where + "/step");
      std::vector<int64_t> steps(rows);
      if (rows > 0) {
        const h5::Space fspace(H5Dget_space(step.get()));
        const hsize_t start[1] = {0}, count[1] = {rows};
        H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
        const h5::Space mspace(H5Screate_simple(1, count, nullptr));
        h5::check(H5Dread(step.get(), H5T_NATIVE_INT64, mspace.get(), fspace.get(), H5P_DEFAULT,
                          steps.data()),
                  file, "read " + where + "/step");
      }
      SeriesKeep k;
      k.keep = rows_to_keep(steps, keep_through_step);
      k.last_step = k.keep > 0 ? steps[k.keep - 1] : std::numeric_limits<int64_t>::min();
      if (k.keep != sd[0] || k.keep != vd[0]) {
        const hsize_t sdims[1] = {k.keep}, vdims[2] = {k.keep, vd[1]};
        h5::check(H5Dset_extent(step.get(), sdims), file, "truncate " + where + "/step");
        h5::check(H5Dset_extent(value.get(), vdims), file, "truncate " + where + "/value");
      }
      k.spec = SeriesSpec{name, int(vd[1]), ""};
      const h5::Group sg = h5::group_open(root, where, file);
      if (h5::attr_exists(sg.get(), "description")) {
        k.spec.description = h5::attr_read_string(sg.get(), "description", file, where);
      }
      for (const SeriesSpec& want : series) {
        if (want.name == name && want.width != k.spec.width) {
          throw Error(file + ": series '" + name + "' has width " + std::to_string(k.spec.width) +
                      " in the file but " + std::to_string(want.width) +
                      " in this run's config; a resumed run must keep its model shape");
        }
      }
      step.close_checked(file, "close " + where + "/step");
      value.close_checked(file, "close " + where + "/value");
      kept.push_back(std::move(k));
    }
    for (const SeriesSpec& want : series) {
      const bool present = std::any_of(
          kept.begin(), kept.end(), [&](const SeriesKeep& k) { return k.spec.name == want.name; });
      if (present) continue;
      impl->series_create(g.get(), want);
      kept.push_back(SeriesKeep{want, 0, std::numeric_limits<int64_t>::min()});
    }
    h5::Dataset status = h5::dataset_open(root, "/status", file);
    status.close_checked(file, "close /status");
    copy.close_checked(work.string(), "close the repaired copy");
    sync_path(work, file);
  } catch (...) {
    fs::remove(work, ec);  // run.h5 is untouched
    throw;
  }
  fs::rename(work, path, ec);
  if (ec) {
    fs::remove(work, ec);
    throw Error(file + ": cannot replace it by the repaired copy (" + ec.message() + ")");
  }
  sync_path(path.has_parent_path() ? path.parent_path() : fs::path("."), file);

  // 2. The repaired file, closed cleanly, opened again for appending, directly
  // in SWMR mode (not H5Fstart_swmr_write): only then are metadata read
  // attempts bounded, so damage found while appending fails at once.
  impl->h5 = h5::file_open(path, H5F_ACC_RDWR | H5F_ACC_SWMR_WRITE, fapl_swmr_writer().get());
  for (const SeriesKeep& k : kept) impl->series_open(k.spec, k.keep, k.last_step);
  impl->status = h5::dataset_open(impl->h5.get(), "/status", file);
  return RunWriter(std::move(impl));
}

void RunWriter::append(const std::string& series, int64_t step, const float* values, int n) {
  Impl& m = impl();
  h5::quiet();  // rows may come from another thread than the one that opened the file
  const auto it = m.index.find(series);
  if (it == m.index.end()) {
    throw Error(m.file + ": no series '" + series + "' (declare it when creating the run)");
  }
  WriterSeries& s = m.series[it->second];
  if (n != s.spec.width) {
    throw Error(m.file + ": series '" + series + "' has width " + std::to_string(s.spec.width) +
                "; a row of " + std::to_string(n) + " values was appended");
  }
  if (step < s.last_step) {
    throw Error(m.file + ": series '" + series + "' got step " + std::to_string(step) +
                " after step " + std::to_string(s.last_step) + "; steps must not decrease");
  }
  s.last_step = step;
  s.queued_steps.push_back(step);
  s.queued_values.insert(s.queued_values.end(), values, values + n);
  if (s.queued_steps.size() >= s.block) m.io([&] { m.write_queued(s); });
}

void RunWriter::append(const std::string& series, int64_t step, const std::vector<float>& values) {
  append(series, step, values.data(), int(values.size()));
}

void RunWriter::flush() {
  h5::quiet();
  impl().flush();
}

void RunWriter::set_status(const std::string& status) {
  Impl& m = impl();
  h5::quiet();
  char text[kStatusBytes] = {};
  const std::string cut = utf8_cut(status, kStatusBytes - 1);
  std::memcpy(text, cut.data(), cut.size());
  const h5::Type type = status_type();
  m.io([&] {
    h5::check(H5Dwrite(m.status.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, text), m.file,
              "write /status");
  });
  m.flush();
}

void RunWriter::close() {
  h5::quiet();
  if (impl_) impl_->close();
}

const fs::path& RunWriter::path() const { return impl_->path; }

std::vector<SeriesSpec> RunWriter::series() const {
  std::vector<SeriesSpec> out;
  for (const WriterSeries& s : impl_->series) out.push_back(s.spec);
  return out;
}

// ---- reader ------------------------------------------------------------------

namespace {

struct ReaderSeries {
  SeriesSpec spec;
  h5::Dataset step;
  h5::Dataset value;
};

}  // namespace

struct RunReader::Impl {
  fs::path path;
  std::string file;
  h5::File h5;
  bool swmr = false;
  int64_t version = 0;
  std::string config;
  std::string created;
  std::vector<ReaderSeries> series;
  std::unordered_map<std::string, size_t> index;
  h5::Dataset status;
};

fs::path run_lock_path(const fs::path& run_file) { return run_file.string() + ".lock"; }

RunReader::RunReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RunReader::RunReader(RunReader&&) noexcept = default;
RunReader& RunReader::operator=(RunReader&&) noexcept = default;
RunReader::~RunReader() = default;

RunReader RunReader::open(const fs::path& path) {
  h5::quiet();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = path.string();
  const std::string& file = impl->file;

  // A checkpoint or analysis file opened as a run file: its content hash is
  // checked before HDF5 reads its (variable-length) format attribute, which
  // HDF5 can loop on forever when damaged. A run file has no such header.
  regular_file_require(path, "an HDF5 file");
  content::verify(path, /*hash=*/true);
  h5::Plist fapl(H5Pcreate(H5P_FILE_ACCESS));
  // A SWMR reader retries a metadata block whose checksum fails (the writer may
  // be halfway through writing it), sleeping 1 ns, 2 ns, 4 ns, ... between
  // tries. HDF5's default of 100 tries would sleep for ages on a file that is
  // really damaged; 24 tries wait about 17 ms in all, far longer than a write.
  H5Pset_metadata_read_attempts(fapl.get(), kSwmrReadAttempts);
  std::error_code ec;
  const hid_t id = fs::is_regular_file(path, ec)
                       ? H5Fopen(file.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl.get())
                       : H5I_INVALID_HID;
  if (id >= 0) {
    impl->h5 = h5::File(id);
    impl->swmr = true;
  } else {
    // Not SWMR-capable (an older format, not ours) or not readable at all:
    // a plain open gives the precise message.
    // Only HDF5's "already open for write" means a writer's marks; any other
    // failure (empty, garbage, truncated) must not be "repaired": opening such
    // a file read-write would write a superblock into it.
    const std::string detail = h5::error_take();
    if (detail.find("already open for write") != std::string::npos &&
        stale_write_flags_clear(path)) {
      impl->h5 =
          h5::File(h5::check(H5Fopen(file.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl.get()),
                             file, "open the run file after clearing a dead writer's marks"));
      impl->swmr = true;
    } else {
      impl->h5 = h5::file_open(path, H5F_ACC_RDONLY, fapl.get());
    }
  }
  const hid_t root = impl->h5.get();
  h5::format_check(root, file, kRunFormat, kRunFormatVersion, "run file");
  impl->version = kRunFormatVersion;
  impl->config = h5::attr_read_json(root, "config", file, "/");
  impl->created = h5::attr_read_string(root, "created", file, "/");

  // Readers keep no chunk cache: each read() goes to the file, so rows the
  // writer rewrote in a partly filled chunk are never served stale.
  const h5::Plist dapl(H5Pcreate(H5P_DATASET_ACCESS));
  H5Pset_chunk_cache(dapl.get(), 0, 0, 1.0);
  const h5::Group g = h5::group_open(root, "/series", file);
  for (const std::string& name : h5::group_links(g.get(), file, "/series")) {
    const std::string where = series_path(name);
    ReaderSeries s;
    s.step = h5::dataset_open(root, where + "/step", file, dapl.get());
    s.value = h5::dataset_open(root, where + "/value", file, dapl.get());
    const std::vector<hsize_t> sd = h5::dataset_dims(s.step.get(), file, where + "/step");
    const std::vector<hsize_t> vd = h5::dataset_dims(s.value.get(), file, where + "/value");
    if (sd.size() != 1 || vd.size() != 2 || vd[1] < 1 ||
        vd[1] > hsize_t(std::numeric_limits<int>::max())) {
      throw Error(file + ": " + where + " is malformed (step must be [n], value [n, width])");
    }
    s.spec.name = name;
    s.spec.width = int(vd[1]);
    const h5::Group sg = h5::group_open(root, where, file);
    s.spec.description = h5::attr_read_string(sg.get(), "description", file, where);
    impl->index.emplace(name, impl->series.size());
    impl->series.push_back(std::move(s));
  }
  impl->status = h5::dataset_open(root, "/status", file);
  return RunReader(std::move(impl));
}

std::string RunReader::config_json() const { return impl_->config; }
std::string RunReader::created() const { return impl_->created; }
int64_t RunReader::format_version() const { return impl_->version; }
const fs::path& RunReader::path() const { return impl_->path; }

std::string RunReader::status() const {
  h5::quiet();
  if (impl_->swmr) {
    h5::check(H5Drefresh(impl_->status.get()), impl_->file, "refresh /status");
  }
  return dataset_read_string(impl_->status.get(), impl_->file, "/status");
}

std::vector<SeriesSpec> RunReader::series() const {
  std::vector<SeriesSpec> out;
  for (const ReaderSeries& s : impl_->series) out.push_back(s.spec);
  return out;
}

SeriesData RunReader::read(const std::string& name) const {
  h5::quiet();
  const Impl& m = *impl_;
  const auto it = m.index.find(name);
  if (it == m.index.end()) {
    std::string names;
    for (const ReaderSeries& s : m.series) names += (names.empty() ? "" : ", ") + s.spec.name;
    throw Error(m.file + " has no series '" + name +
                "'; it has: " + (names.empty() ? "(none)" : names));
  }
  const ReaderSeries& s = m.series[it->second];
  const std::string where = series_path(name);
  const hsize_t width = hsize_t(s.spec.width);
  // Re-read: a refresh may have grown them (the rank was checked at open, but
  // a file rewritten underneath is checked again rather than indexed blindly).
  const std::vector<hsize_t> sd = h5::dataset_dims(s.step.get(), m.file, where + "/step");
  const std::vector<hsize_t> vd = h5::dataset_dims(s.value.get(), m.file, where + "/value");
  if (sd.size() != 1 || vd.size() != 2 || vd[1] != width) {
    throw Error(m.file + ": " + where + " changed shape while open (step must be [n], value [n, " +
                std::to_string(width) + "])");
  }
  const hsize_t rows = std::min(sd[0], vd[0]);
  // The extents come from the file: checked before anything is allocated.
  h5::dataset_bytes_checked(s.step.get(), {rows}, sizeof(int64_t), m.file, where + "/step");
  h5::dataset_bytes_checked(s.value.get(), {rows, width}, sizeof(float), m.file, where + "/value");
  SeriesData d;
  d.name = name;
  d.width = s.spec.width;
  d.steps.resize(rows);
  d.values.resize(rows * width);
  if (rows == 0) return d;
  {
    const h5::Space fspace(H5Dget_space(s.step.get()));
    const hsize_t start[1] = {0}, count[1] = {rows};
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    const h5::Space mspace(H5Screate_simple(1, count, nullptr));
    h5::check(H5Dread(s.step.get(), H5T_NATIVE_INT64, mspace.get(), fspace.get(), H5P_DEFAULT,
                      d.steps.data()),
              m.file, "read " + where + "/step");
  }
  {
    const h5::Space fspace(H5Dget_space(s.value.get()));
    const hsize_t start[2] = {0, 0}, count[2] = {rows, width};
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    const h5::Space mspace(H5Screate_simple(2, count, nullptr));
    h5::check(H5Dread(s.value.get(), H5T_NATIVE_FLOAT, mspace.get(), fspace.get(), H5P_DEFAULT,
                      d.values.data()),
              m.file, "read " + where + "/value");
  }
  return d;
}

void RunReader::refresh() {
  h5::quiet();
  Impl& m = *impl_;
  if (!m.swmr) return;  // a file opened without SWMR never changes under us
  for (ReaderSeries& s : m.series) {
    h5::check(H5Drefresh(s.step.get()), m.file, "refresh " + series_path(s.spec.name) + "/step");
    h5::check(H5Drefresh(s.value.get()), m.file, "refresh " + series_path(s.spec.name) + "/value");
  }
}

bool RunReader::writer_alive() const { return writer_lock_held(impl_->path); }

}  // namespace dlab
