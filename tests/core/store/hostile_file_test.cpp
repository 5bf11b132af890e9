// Hostile and damaged files (issue 13): every reader refuses them with a
// dlab::Error naming the file, quickly, and the process stays healthy. Each
// file is written by the project's own writers (RunWriter, checkpoint_write,
// analysis_file_write) and then damaged, as a disk, a copy or a person would.
// Cases that used to crash or hang run in a child process with a deadline.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cmath>
#include <limits>

#include "common/config_json.h"
#include "common/error.h"
#include "error_of.h"
#include "store/analysis_file.h"
#include "store/checkpoint_file.h"
#include "store/run_file.h"
#include "store_test_util.h"

namespace dlab {
namespace {

using test::contains;
using test::error_of;

namespace fs = std::filesystem;

// A small checkpoint as the trainer writes one: step in the name and the
// attribute, the counter `step`, finite weights, a valid config.
CheckpointData small_checkpoint(int64_t step) {
  CheckpointData d;
  d.step = step;
  d.config_json = R"({"model":{"n_layers":2,"d_model":8}})";
  d.tokenizer_kind = "byte";
  d.metadata_json = R"({"loss":2.5})";
  std::vector<float> w(64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * float(i);
  d.state_dict.push_back(Array::from_f32("model.embed_tokens.weight", {8, 8}, w.data()));
  d.state_dict.push_back(Array::from_f32("lm_head.weight", {8, 8}, w.data()));
  d.optimizer.push_back(Array::from_f32("exp_avg/lm_head.weight", {8, 8}, w.data()));
  d.rng_state = {1, 2, 3};
  d.counters = {{"step", step}, {"adam_t", step}, {"tokens_seen", 64 * step}};
  return d;
}

fs::path write_checkpoint(const fs::path& run, int64_t step, const CheckpointData& d) {
  const fs::path path = run / "checkpoints" / ("step-" + std::to_string(step) + ".h5");
  checkpoint_write(path, d);
  return path;
}

// A run file as the trainer leaves one: a few series with rows, closed.
void write_run(const fs::path& path, const std::string& config_json, int rows = 40) {
  RunWriter w = RunWriter::create(
      path, config_json,
      {{"loss", 1, "training loss"}, {"resid_var", 4, "per layer"}, {"lr", 1, ""}});
  for (int s = 1; s <= rows; ++s) {
    w.append("loss", s, {float(5.0 / s)});
    w.append("resid_var", s, {1.f, 2.f, 3.f, float(s)});
    w.append("lr", s, {1e-3f});
    w.flush();
  }
  w.set_status("finished");
  w.close();
}

std::string nested_json(int depth) {
  return R"({"model":)" + std::string(size_t(depth), '[') + std::string(size_t(depth), ']') + "}";
}

// Opens a file with the plain HDF5 API, runs `edit` on its root, closes it.
void h5_edit(const fs::path& path, const std::function<void(hid_t)>& edit) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0) << path;
  edit(f);
  ASSERT_GE(H5Fclose(f), 0);
}

void attr_replace_i64(hid_t obj, const char* name, int64_t value) {
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attr = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(attr, H5T_NATIVE_INT64, &value);
  H5Aclose(attr);
  H5Sclose(space);
}

void attr_replace_vlen_string(hid_t obj, const char* name, const std::string& value) {
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  const char* text = value.c_str();
  H5Awrite(attr, type, &text);
  H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
}

// ---- a. deeply nested or huge config JSON ----------------------------------------

// Used to overflow the stack (SIGSEGV) in `dlab inspect`, `dlab analyze` and
// the server: the config's error message dumped the whole nested value.
TEST(HostileFile, DeeplyNestedConfigInACheckpointIsRefused) {
  const fs::path run = test::test_dir("hostile_deep_ckpt");
  CheckpointData d = small_checkpoint(3);
  d.config_json = nested_json(200000);
  const fs::path path = write_checkpoint(run, 3, d);
  const test::ChildEnd end = test::run_in_child_deadline(20, [&] {
    const std::string msg = error_of([&] { checkpoint_read(path); });
    if (!contains(msg, path.string()) || !contains(msg, "attribute 'config'") ||
        !contains(msg, "more than 64 levels")) {
      std::fprintf(stderr, "unexpected message: %s\n", msg.c_str());
      std::_Exit(3);
    }
  });
  ASSERT_FALSE(end.timed_out);
  EXPECT_TRUE(WIFEXITED(end.status) && WEXITSTATUS(end.status) == 0)
      << "status " << end.status << " (signal "
      << (WIFSIGNALED(end.status) ? WTERMSIG(end.status) : 0) << ")";
}

TEST(HostileFile, DeeplyNestedConfigWrittenIntoACheckpointWithHdf5IsRefused) {
  // The same attack by editing a real checkpoint (h5py "r+") and dropping its
  // header, so that only HDF5's own checks apply; also in the metadata.
  const fs::path run = test::test_dir("hostile_deep_edit");
  const fs::path path = write_checkpoint(run, 4, small_checkpoint(4));
  h5_edit(path, [](hid_t f) { attr_replace_vlen_string(f, "metadata", nested_json(100000)); });
  test::file_put(path, [&] {
    std::vector<char> b = test::file_bytes(path);
    std::fill(b.begin(), b.begin() + 512, '\0');
    return b;
  }());
  const test::ChildEnd end = test::run_in_child_deadline(20, [&] {
    const std::string msg = error_of([&] { checkpoint_read(path); });
    if (!contains(msg, "attribute 'metadata'") || !contains(msg, "64")) std::_Exit(3);
  });
  ASSERT_FALSE(end.timed_out);
  EXPECT_TRUE(WIFEXITED(end.status) && WEXITSTATUS(end.status) == 0) << end.status;
}

TEST(HostileFile, DeeplyNestedOrHugeConfigInARunFileIsRefused) {
  const fs::path dir = test::test_dir("hostile_deep_run");
  write_run(dir / "run.h5", nested_json(100000), 2);
  const test::ChildEnd end = test::run_in_child_deadline(20, [&] {
    const std::string msg = error_of([&] { RunReader::open(dir / "run.h5"); });
    if (!contains(msg, (dir / "run.h5").string()) || !contains(msg, "more than 64 levels")) {
      std::_Exit(3);
    }
  });
  ASSERT_FALSE(end.timed_out);
  EXPECT_TRUE(WIFEXITED(end.status) && WEXITSTATUS(end.status) == 0) << end.status;

  write_run(dir / "big.h5", "{\"run\":{\"name\":\"" + std::string(2 << 20, 'x') + "\"}}", 2);
  const std::string msg = error_of([&] { RunReader::open(dir / "big.h5"); });
  EXPECT_TRUE(contains(msg, "bytes long; DepthLab reads at most 1048576")) << msg.substr(0, 300);
}

// ---- b. damaged metadata: fail fast, never sleep in HDF5's retry loop ------------

std::vector<size_t> offsets_of(const std::vector<char>& bytes, const std::string& signature) {
  std::vector<size_t> out;
  for (size_t i = 0; i + signature.size() <= bytes.size(); ++i) {
    if (std::equal(signature.begin(), signature.end(), bytes.begin() + long(i))) out.push_back(i);
  }
  return out;
}

// A resumed writer used to find the damage only after switching to SWMR mode,
// where HDF5 retries a failed checksum 100 times with doubling sleeps: `dlab
// train --resume` slept for 20+ minutes. Every chunk-index block of the file
// is damaged in turn (one bit); each resume must end, with an error or with
// the rows written, within seconds.
TEST(HostileFile, ResumeOnDamagedMetadataFailsFast) {
  const fs::path dir = test::test_dir("hostile_resume");
  write_run(dir / "orig.h5", R"({"run":{"name":"r"}})");
  const std::vector<char> orig = test::file_bytes(dir / "orig.h5");
  const std::vector<size_t> blocks = offsets_of(orig, "EAIB");  // extensible-array index blocks
  ASSERT_GE(blocks.size(), 4u);
  int refused = 0;
  for (const size_t at : blocks) {
    std::vector<char> bytes = orig;
    bytes[at + 20] ^= 0x10;
    const fs::path path = dir / "run.h5";
    test::file_put(path, bytes);
    std::string msg;
    const test::ChildEnd end = test::run_in_child_deadline(15, [&] {
      RunWriter w =
          RunWriter::open_resume(path, 40, {{"loss", 1, ""}, {"resid_var", 4, ""}, {"lr", 1, ""}});
      for (int s = 41; s <= 400; ++s) {  // past a chunk: every index block is read
        w.append("loss", s, {1.f});
        w.append("resid_var", s, {1.f, 2.f, 3.f, 4.f});
        w.append("lr", s, {1.f});
        w.flush();
      }
      w.close();
    });
    ASSERT_FALSE(end.timed_out) << "the resume of a file damaged at byte " << at
                                << " still ran after 15 s (HDF5's metadata retry loop)";
    EXPECT_LT(end.seconds, 5.0) << "byte " << at;
    EXPECT_TRUE(WIFEXITED(end.status)) << "byte " << at << ": status " << end.status;
    if (WIFEXITED(end.status) && WEXITSTATUS(end.status) == 1) ++refused;  // a dlab::Error
  }
  EXPECT_GT(refused, 0) << "no damage was detected at all";
}

TEST(HostileFile, ResumeErrorNamesTheChecksum) {
  const fs::path dir = test::test_dir("hostile_resume_msg");
  write_run(dir / "run.h5", R"({"run":{"name":"r"}})");
  std::vector<char> bytes = test::file_bytes(dir / "run.h5");
  for (const size_t at : offsets_of(bytes, "EAIB")) bytes[at + 20] ^= 0x10;
  test::file_put(dir / "run.h5", bytes);
  const auto start = std::chrono::steady_clock::now();
  const std::string msg = error_of([&] {
    RunWriter w = RunWriter::open_resume(dir / "run.h5", 40, {{"loss", 1, ""}});
    for (int s = 41; s <= 400; ++s) {
      w.append("loss", s, {1.f});
      w.flush();
    }
  });
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  EXPECT_TRUE(contains(msg, (dir / "run.h5").string())) << msg;
  EXPECT_TRUE(contains(msg, "checksum")) << msg;
}

// ---- c. paths that are not regular files -----------------------------------------

// Each reader on `path`, in a child with a deadline: a FIFO used to block
// `dlab inspect` forever. Returns the messages, one per reader.
std::vector<std::string> every_reader_on(const fs::path& path, const fs::path& out_dir) {
  const fs::path out = out_dir / (path.filename().string() + ".messages");
  const test::ChildEnd end = test::run_in_child_deadline(10, [&] {
    std::ofstream o(out);
    o << error_of([&] { checkpoint_read(path); }) << "\n";
    o << error_of([&] { checkpoint_state_names(path); }) << "\n";
    o << error_of([&] { checkpoint_read_step(path); }) << "\n";
    o << error_of([&] { checkpoint_seal(path); }) << "\n";
    o << error_of([&] { RunReader::open(path); }) << "\n";
    o << error_of([&] { RunWriter::open_resume(path, 0, {}); }) << "\n";
    o << error_of([&] { analysis_file_read(path); }) << "\n";
  });
  EXPECT_FALSE(end.timed_out) << path << ": a reader blocked";
  std::vector<std::string> lines;
  std::ifstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  EXPECT_EQ(lines.size(), 7u) << path;
  return lines;
}

TEST(HostileFile, FifoDirectoryDeviceAndSocketAreRefusedWithoutBlocking) {
  const fs::path dir = test::test_dir("hostile_special");
  const fs::path fifo = dir / "step-1.h5";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  for (const std::string& msg : every_reader_on(fifo, dir)) {
    EXPECT_TRUE(contains(msg, fifo.string() + " is a FIFO (named pipe), not")) << msg;
  }
  const fs::path folder = dir / "folder.h5";
  fs::create_directories(folder);
  for (const std::string& msg : every_reader_on(folder, dir)) {
    EXPECT_TRUE(contains(msg, folder.string() + " is a directory, not")) << msg;
  }
  for (const std::string& msg : every_reader_on("/dev/zero", dir)) {
    EXPECT_TRUE(contains(msg, "/dev/zero is a character device, not")) << msg;
  }
  const fs::path sock = dir / "sock.h5";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << sock;
  for (const std::string& msg : every_reader_on(sock, dir)) {
    EXPECT_TRUE(contains(msg, sock.string() + " is a socket, not")) << msg;
  }
  ::close(fd);
}

TEST(HostileFile, FifoAsTheWritersLockFileDoesNotBlockAReader) {
  const fs::path dir = test::test_dir("hostile_lockfifo");
  write_run(dir / "run.h5", "{}", 2);
  fs::remove(dir / "run.h5.lock");
  ASSERT_EQ(::mkfifo((dir / "run.h5.lock").c_str(), 0644), 0);
  const test::ChildEnd end = test::run_in_child_deadline(10, [&] {
    if (RunReader::open(dir / "run.h5").writer_alive()) std::_Exit(3);
  });
  ASSERT_FALSE(end.timed_out) << "writer_alive() blocked on a FIFO";
  EXPECT_TRUE(WIFEXITED(end.status) && WEXITSTATUS(end.status) == 0) << end.status;
}

// ---- d. a full disk (a file-size limit): a message, then a clean exit -------------

// Used to end in SIGSEGV at exit, in HDF5's atexit shutdown, after the write
// error had been reported: the failed H5Fclose left a dangling identifier.
TEST(HostileFile, WriteErrorsFromAFileSizeLimitExitCleanly) {
  const fs::path dir = test::test_dir("hostile_fsize");
  const test::ChildEnd end = test::run_in_child_deadline(
      30,
      [&] {
        std::signal(SIGXFSZ, SIG_IGN);  // so that the write fails with EFBIG
        struct rlimit old {};
        ::getrlimit(RLIMIT_FSIZE, &old);
        struct rlimit small = old;
        small.rlim_cur = 64 << 10;
        ::setrlimit(RLIMIT_FSIZE, &small);
        CheckpointData d = small_checkpoint(1);
        std::vector<float> big(256 << 10, 0.5f);  // 1 MiB
        d.state_dict.push_back(Array::from_f32("big", {256, 1024}, big.data()));
        const std::string ck = error_of([&] { write_checkpoint(dir, 1, d); });
        if (!contains(ck, "File too large")) {
          std::fprintf(stderr, "checkpoint: %s\n", ck.c_str());
          std::_Exit(3);
        }
        if (fs::exists(dir / "checkpoints" / "step-1.h5.tmp")) std::_Exit(4);
        const std::string run = error_of([&] {
          RunWriter w = RunWriter::create(dir / "run.h5", "{}", {{"wide", 4096, ""}});
          std::vector<float> row(4096, 1.f);
          for (int s = 1; s <= 64; ++s) {
            w.append("wide", s, row);
            w.flush();
          }
          w.close();
        });
        if (!contains(run, "File too large")) {
          std::fprintf(stderr, "run: %s\n", run.c_str());
          std::_Exit(5);
        }
        // Space again: the same process writes and reads a checkpoint.
        ::setrlimit(RLIMIT_FSIZE, &old);
        write_checkpoint(dir, 2, small_checkpoint(2));
        if (checkpoint_read(dir / "checkpoints" / "step-2.h5").step != 2) std::_Exit(6);
      },
      /*exit_normally=*/true);
  ASSERT_FALSE(end.timed_out);
  ASSERT_FALSE(WIFSIGNALED(end.status)) << "killed by signal " << WTERMSIG(end.status);
  EXPECT_EQ(WEXITSTATUS(end.status), 0);
}

// ---- e. contents that disagree or are absurd ---------------------------------------

TEST(HostileFile, CheckpointWhoseStepDisagreesWithItsNameIsRefused) {
  const fs::path run = test::test_dir("hostile_step");
  const fs::path good = write_checkpoint(run, 5, small_checkpoint(5));
  EXPECT_EQ(checkpoint_read_step(good), 5);
  EXPECT_EQ(checkpoint_read(good).step, 5);

  // Copied over another step's name (a person "restoring" a checkpoint).
  const fs::path renamed = run / "checkpoints" / "step-9.h5";
  fs::copy_file(good, renamed);
  for (const std::string& msg : {error_of([&] { checkpoint_read(renamed); }),
                                 error_of([&] { checkpoint_read_step(renamed); })}) {
    EXPECT_TRUE(contains(msg, renamed.string() + ": the checkpoint's attribute 'step' is 5 but "
                                                 "its name says step 9"))
        << msg;
  }
  // Any other name is not a claim: a copy elsewhere reads.
  fs::copy_file(good, run / "copy.h5");
  EXPECT_EQ(checkpoint_read_step(run / "copy.h5"), 5);

  // The attribute edited (and the file re-sealed): it disagrees with the counter.
  h5_edit(renamed, [](hid_t f) { attr_replace_i64(f, "step", 9); });
  checkpoint_seal(renamed);
  EXPECT_TRUE(contains(error_of([&] { checkpoint_read(renamed); }),
                       "attribute 'step' is 9 but its counter 'step' is 5"));
  EXPECT_TRUE(
      contains(error_of([&] { checkpoint_read_step(renamed); }), "its counter 'step' is 5"));

  // A negative step.
  CheckpointData neg = small_checkpoint(0);
  neg.step = -3;
  neg.counters.erase("step");
  checkpoint_write(run / "neg.h5", neg);
  EXPECT_TRUE(contains(error_of([&] { checkpoint_read(run / "neg.h5"); }),
                       "attribute 'step' is -3; a step is 0 or more"));
}

TEST(HostileFile, AnalysisFileWhoseStepDisagreesOrSizesAreAbsurdIsRefused) {
  const fs::path run = test::test_dir("hostile_analysis");
  AnalysisFileData a;
  a.step = 4;
  a.checkpoint = "step-4.h5";
  a.ints = {{"n_layers", 2}, {"d_model", 8}};
  const std::vector<double> loss = {2.5};
  a.arrays.push_back(Array::from_f64("loss", {}, loss.data()));
  analysis_file_write(analysis_file_path(run, 4), a);
  EXPECT_EQ(analysis_file_read(analysis_file_path(run, 4)).step, 4);
  fs::copy_file(analysis_file_path(run, 4), analysis_file_path(run, 6));
  EXPECT_TRUE(contains(error_of([&] { analysis_file_read(analysis_file_path(run, 6)); }),
                       "attribute 'step' is 4 but its name says step 6"));
  a.ints["n_layers"] = int64_t(1) << 40;  // readers turn it into an int and allocate L x L
  analysis_file_write(analysis_file_path(run, 4), a);
  EXPECT_TRUE(contains(error_of([&] { analysis_file_read(analysis_file_path(run, 4)); }),
                       "attribute 'n_layers' on / is 1099511627776; it must be 0 to 2147483647"));
}

// checkpoint_state_names used to check only the size, so a damaged checkpoint
// reached HDF5, which freed an invalid pointer listing a damaged /state_dict
// (found by the store_read fuzzer). It verifies the hash like checkpoint_read.
TEST(HostileFile, CheckpointListingVerifiesTheHash) {
  const fs::path run = test::test_dir("hostile_names");
  const fs::path path = write_checkpoint(run, 1, small_checkpoint(1));
  std::vector<char> bytes = test::file_bytes(path);
  bytes[bytes.size() / 2] ^= 0x04;
  test::file_put(path, bytes);
  for (const std::string& msg : {error_of([&] { checkpoint_state_names(path); }),
                                 error_of([&] { checkpoint_read_step(path); })}) {
    EXPECT_TRUE(contains(msg, path.string() + " is damaged: its content does not match the hash"))
        << msg;
  }
}

// One flipped bit in the header's first line made the file look header-less,
// so the hash was not checked and the file's other damage reached HDF5 (the
// store_read fuzzer crashed libhdf5 that way). A user block that is neither a
// header nor zeros is refused as a damaged header.
TEST(HostileFile, DamagedHeaderDoesNotSwitchTheHashCheckOff) {
  const fs::path run = test::test_dir("hostile_header");
  const fs::path path = write_checkpoint(run, 1, small_checkpoint(1));
  std::vector<char> bytes = test::file_bytes(path);
  bytes[3] ^= 0x01;  // "Dep" -> "Deq"
  bytes[bytes.size() / 2] ^= 0x04;
  test::file_put(path, bytes);
  for (const std::string& msg :
       {error_of([&] { checkpoint_read(path); }), error_of([&] { checkpoint_state_names(path); }),
        error_of([&] { checkpoint_read_step(path); }), error_of([&] { RunReader::open(path); }),
        error_of([&] { analysis_file_read(path); })}) {
    EXPECT_EQ(msg, path.string() +
                       " is damaged: the 512-byte DepthLab header in front of its HDF5 data is not "
                       "readable (see 'Integrity' in docs/file-formats.md)");
  }
  // Zeros there are "no header" (as h5py writes a user block): HDF5's checks only.
  bytes = test::file_bytes(write_checkpoint(run, 2, small_checkpoint(2)));
  std::fill(bytes.begin(), bytes.begin() + 512, '\0');
  test::file_put(run / "zeros.h5", bytes);
  EXPECT_EQ(checkpoint_read(run / "zeros.h5").step, 2);
}

// A damaged global heap (where variable-length strings live, without a
// checksum) made HDF5 1.10.8 loop forever reading the `format` attribute of
// an analysis file (found by the store_read fuzzer). Analysis files now carry
// the content-hash header, verified before HDF5 parses them, by every reader.
TEST(HostileFile, DamagedGlobalHeapOfAnAnalysisFileIsRefusedNotAHang) {
  const fs::path run = test::test_dir("hostile_gheap");
  AnalysisFileData a;
  a.step = 1;
  a.checkpoint = "checkpoints/step-1.h5";
  a.texts = {{"windows", "first"}, {"source", "@synthetic"}};
  a.ints = {{"n_layers", 2}};
  const std::vector<double> loss = {2.5};
  a.arrays.push_back(Array::from_f64("loss", {}, loss.data()));
  const fs::path path = analysis_file_path(run, 1);
  analysis_file_write(path, a);
  std::vector<char> bytes = test::file_bytes(path);
  ASSERT_EQ(std::string(bytes.data(), 18), "DepthLab analysis\n");
  const std::vector<size_t> heaps = offsets_of(bytes, "GCOL");
  ASSERT_EQ(heaps.size(), 1u);
  std::fill(bytes.begin() + long(heaps[0]) + 72, bytes.begin() + long(heaps[0]) + 220, '\0');
  test::file_put(path, bytes);
  const test::ChildEnd end = test::run_in_child_deadline(20, [&] {
    for (const std::string& msg :
         {error_of([&] { analysis_file_read(path); }), error_of([&] { RunReader::open(path); }),
          error_of([&] { checkpoint_read(path); })}) {
      if (!contains(msg, path.string() + " is damaged: its content does not match the hash") ||
          !contains(msg, "run dlab analyze on its checkpoint again")) {
        std::fprintf(stderr, "unexpected: %s\n", msg.c_str());
        std::_Exit(3);
      }
    }
  });
  ASSERT_FALSE(end.timed_out) << "a reader looped in HDF5's global heap";
  EXPECT_TRUE(WIFEXITED(end.status) && WEXITSTATUS(end.status) == 0) << end.status;
}

// A dataset replaced by one whose shape claims far more than the file holds
// (no data written: HDF5 would hand back terabytes of fill value).
TEST(HostileFile, ShapesClaimingMoreThanTheFileStoresAreRefused) {
  const fs::path run = test::test_dir("hostile_shape");
  const fs::path path = write_checkpoint(run, 2, small_checkpoint(2));
  h5_edit(path, [](hid_t f) {
    H5Ldelete(f, "/state_dict/lm_head.weight", H5P_DEFAULT);
    const hsize_t dims[2] = {hsize_t(1) << 20, hsize_t(1) << 18};  // 2^38 floats = 1 TiB
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    const hsize_t chunk[2] = {1024, 1024};
    H5Pset_chunk(dcpl, 2, chunk);
    const hid_t ds = H5Dcreate2(f, "/state_dict/lm_head.weight", H5T_IEEE_F32LE, space, H5P_DEFAULT,
                                dcpl, H5P_DEFAULT);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
  });
  checkpoint_seal(path);
  const std::string msg = error_of([&] { checkpoint_read(path); });
  EXPECT_TRUE(contains(msg,
                       "/state_dict/lm_head.weight claims 1099511627776 bytes (shape "
                       "[1048576, 262144]) but the file stores only 0 bytes"))
      << msg;
  // A shape past what one read may take at all.
  h5_edit(path, [](hid_t f) {
    H5Ldelete(f, "/state_dict/lm_head.weight", H5P_DEFAULT);
    const hsize_t dims[3] = {hsize_t(1) << 30, hsize_t(1) << 30, 4};
    const hid_t space = H5Screate_simple(3, dims, nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    const hsize_t chunk[3] = {64, 64, 4};
    H5Pset_chunk(dcpl, 3, chunk);
    const hid_t ds = H5Dcreate2(f, "/state_dict/lm_head.weight", H5T_IEEE_F32LE, space, H5P_DEFAULT,
                                dcpl, H5P_DEFAULT);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
  });
  checkpoint_seal(path);
  EXPECT_TRUE(contains(error_of([&] { checkpoint_read(path); }), "claims an impossible size"));
}

TEST(HostileFile, ShapeArithmeticIsChecked) {
  const std::vector<int64_t> huge = {int64_t(1) << 40, int64_t(1) << 40};
  Array a;
  a.name = "x";
  a.shape = huge;
  EXPECT_TRUE(contains(error_of([&] { (void)a.numel(); }), "more than an int64 counts"));
  a.shape = {4, -1};
  EXPECT_TRUE(contains(error_of([&] { (void)a.numel(); }), "negative dimension"));
  EXPECT_TRUE(contains(error_of([&] {
                         Array::from_f32("y", {int64_t(1) << 62, 4}, nullptr);
                       }),
                       "'y'"));
}

TEST(HostileFile, NonFiniteWeightsAreRefusedNonFiniteOptimizerStateIsKept) {
  const fs::path run = test::test_dir("hostile_nan");
  CheckpointData d = small_checkpoint(3);
  std::vector<float> w(64, 0.5f);
  w[17] = std::numeric_limits<float>::quiet_NaN();
  w[40] = std::numeric_limits<float>::infinity();
  d.state_dict[1] = Array::from_f32("lm_head.weight", {8, 8}, w.data());
  const fs::path path = write_checkpoint(run, 3, d);
  EXPECT_EQ(error_of([&] { checkpoint_read(path); }),
            path.string() +
                ": /state_dict/lm_head.weight holds 2 of 64 values that are NaN or infinite (the "
                "first at element 17); a model with such weights cannot be trained or analysed: "
                "resume from an earlier checkpoint");
  // Adam's second moment can overflow to inf in a run that is still finite.
  CheckpointData o = small_checkpoint(4);
  o.optimizer[0] = Array::from_f32("exp_avg/lm_head.weight", {8, 8}, w.data());
  const fs::path opath = write_checkpoint(run, 4, o);
  EXPECT_TRUE(std::isnan(checkpoint_read(opath).optimizer[0].f32()[17]));
}

// Optimizer names nest groups; a group tree that is too deep, or a group
// linked into itself, would recurse until the stack overflows.
TEST(HostileFile, DeepOrCyclicGroupTreesAreRefused) {
  const fs::path run = test::test_dir("hostile_groups");
  CheckpointData d = small_checkpoint(1);
  std::string name;
  for (int i = 0; i < 40; ++i) name += "g/";
  std::vector<float> one = {1.f};
  d.optimizer.push_back(Array::from_f32(name + "leaf", {1}, one.data()));
  const fs::path deep = write_checkpoint(run, 1, d);
  EXPECT_TRUE(contains(error_of([&] { checkpoint_read(deep); }), "nests groups more than 16"));

  const fs::path cyclic = write_checkpoint(run, 2, small_checkpoint(2));
  h5_edit(cyclic, [](hid_t f) {
    H5Lcreate_hard(f, "/optimizer", f, "/optimizer/exp_avg/loop", H5P_DEFAULT, H5P_DEFAULT);
  });
  checkpoint_seal(cyclic);
  const test::ChildEnd end = test::run_in_child_deadline(20, [&] {
    if (!contains(error_of([&] { checkpoint_read(cyclic); }), "nests groups")) std::_Exit(3);
  });
  ASSERT_FALSE(end.timed_out);
  EXPECT_TRUE(WIFEXITED(end.status) && WEXITSTATUS(end.status) == 0) << end.status;
}

// The limits themselves, on the attribute reader used by every file.
TEST(HostileFile, ConfigAttributeAtTheLimitsReads) {
  const fs::path run = test::test_dir("hostile_limits");
  CheckpointData d = small_checkpoint(1);
  d.metadata_json = "{\"a\":" + std::string(63, '[') + std::string(63, ']') + "}";  // 64 levels
  EXPECT_EQ(checkpoint_read(write_checkpoint(run, 1, d)).metadata_json, d.metadata_json);
  d = small_checkpoint(2);
  d.metadata_json = "{\"a\":" + std::string(64, '[') + std::string(64, ']') + "}";  // 65
  EXPECT_TRUE(contains(error_of([&] { checkpoint_read(write_checkpoint(run, 2, d)); }),
                       "more than 64 levels deep"));
}

}  // namespace
}  // namespace dlab
