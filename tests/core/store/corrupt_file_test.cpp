// Damaged, foreign and future files: every reader answers with a dlab::Error
// naming the file, never a crash, an abort or silently wrong data.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <functional>
#include <random>

#include "common/error.h"
#include "store/checkpoint_file.h"
#include "store/run_file.h"
#include "store_test_util.h"

namespace dlab {
namespace {

namespace fs = std::filesystem;

const std::vector<SeriesSpec> kSpecs = {{"loss", 1, "loss"}, {"resid_var", 16, "per layer"}};

void run_make(const fs::path& path) {
  RunWriter w = RunWriter::create(path, R"({"model": {"n_layers": 16}})", kSpecs);
  for (int64_t s = 0; s < 600; ++s) {
    w.append("loss", s, {float(s) * 0.5f});
    std::vector<float> v(16);
    for (int c = 0; c < 16; ++c) v[size_t(c)] = float(s + c);
    w.append("resid_var", s, v);
    if (s % 100 == 99) w.flush();
  }
  w.set_status("finished");
}

CheckpointData ckpt_sample() {
  CheckpointData d;
  d.step = 42;
  d.config_json = R"({"model": {"n_layers": 2}})";
  d.tokenizer_kind = "sentencepiece";
  d.tokenizer_model = std::string(3000, 'm');
  d.metadata_json = R"({"loss": 2.5})";
  for (int i = 0; i < 4; ++i) {
    std::vector<float> v(64 * 32);
    for (size_t j = 0; j < v.size(); ++j) v[j] = float(i) + 0.001f * float(j);
    d.state_dict.push_back(Array::from_f32(
        "model.layers." + std::to_string(i) + ".mlp.up_proj.weight", {64, 32}, v.data()));
    d.optimizer.push_back(Array::from_f32("exp_avg/w" + std::to_string(i), {64, 32}, v.data()));
  }
  d.rng_state.assign(5056, 7);
  d.counters = {{"tokens_seen", 1000}, {"adam_t", 42}};
  return d;
}

// Everything a reader can get out of a run file, for comparisons.
struct RunContent {
  std::string config, status;
  std::vector<SeriesData> series;
};

RunContent run_read_all(const fs::path& path) {
  const RunReader r = RunReader::open(path);
  RunContent c{r.config_json(), r.status(), {}};
  for (const SeriesSpec& s : r.series()) c.series.push_back(r.read(s.name));
  return c;
}

bool run_equal(const RunContent& a, const RunContent& b) {
  if (a.config != b.config || a.status != b.status || a.series.size() != b.series.size()) {
    return false;
  }
  for (size_t i = 0; i < a.series.size(); ++i) {
    const SeriesData &x = a.series[i], &y = b.series[i];
    if (x.name != y.name || x.width != y.width || x.steps != y.steps || x.values != y.values) {
      return false;
    }
  }
  return true;
}

bool ckpt_equal(const CheckpointData& a, const CheckpointData& b) {
  auto same = [](const std::vector<Array>& x, const std::vector<Array>& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (x[i].name != y[i].name || x[i].dtype != y[i].dtype || x[i].shape != y[i].shape ||
          x[i].bytes != y[i].bytes) {
        return false;
      }
    }
    return true;
  };
  return a.step == b.step && a.config_json == b.config_json &&
         a.tokenizer_kind == b.tokenizer_kind && a.tokenizer_model == b.tokenizer_model &&
         a.metadata_json == b.metadata_json && a.rng_state == b.rng_state &&
         a.counters == b.counters && same(a.state_dict, b.state_dict) &&
         same(a.optimizer, b.optimizer);
}

// Expects `fn` to throw a dlab::Error whose message names `path` and contains `text`.
void expect_error(const std::function<void()>& fn, const fs::path& path, const std::string& text) {
  try {
    fn();
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(text), std::string::npos) << "expected '" << text << "' in: " << msg;
  }
}

void both_readers_fail(const fs::path& path, const std::string& text) {
  expect_error([&] { RunReader::open(path); }, path, text);
  expect_error([&] { checkpoint_read(path); }, path, text);
  expect_error([&] { checkpoint_state_names(path); }, path, text);
}

// Opens a file read-write with the plain HDF5 API and runs `edit` on its root.
void h5_edit(const fs::path& path, const std::function<void(hid_t)>& edit) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  edit(f);
  ASSERT_GE(H5Fclose(f), 0);
}

// The same for a checkpoint, re-sealed afterwards, as a file that some other
// writer produced whole (so the content hash passes and HDF5's checks speak).
void ckpt_edit(const fs::path& path, const std::function<void(hid_t)>& edit) {
  h5_edit(path, edit);
  checkpoint_seal(path);
}

void attr_set_i64(hid_t obj, const char* name, int64_t value) {
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, &value);
  H5Aclose(a);
  H5Sclose(space);
}

TEST(CorruptFile, MissingFileAndDirectory) {
  const fs::path dir = test::test_dir("missing");
  both_readers_fail(dir / "nope.h5", "does not exist");
  both_readers_fail(dir, "is a directory");
}

TEST(CorruptFile, ZeroLength) {
  const fs::path path = test::test_dir("zero") / "run.h5";
  test::file_put(path, {});
  both_readers_fail(path, "is empty (0 bytes)");
}

TEST(CorruptFile, Garbage) {
  const fs::path path = test::test_dir("garbage") / "run.h5";
  std::mt19937 rng(7);
  std::vector<char> bytes(8192);
  for (char& b : bytes) b = char(rng());
  test::file_put(path, bytes);
  both_readers_fail(path, "is not an HDF5 file");
}

TEST(CorruptFile, TruncatedAtHalf) {
  const fs::path dir = test::test_dir("truncated");
  run_make(dir / "run.h5");
  checkpoint_write(dir / "step-42.h5", ckpt_sample());
  for (const char* name : {"run.h5", "step-42.h5"}) {
    std::vector<char> bytes = test::file_bytes(dir / name);
    bytes.resize(bytes.size() / 2);
    test::file_put(dir / name, bytes);
  }
  expect_error([&] { RunReader::open(dir / "run.h5"); }, dir / "run.h5", "is truncated");
  expect_error([&] { checkpoint_read(dir / "step-42.h5"); }, dir / "step-42.h5", "is truncated");
  expect_error([&] { RunWriter::open_resume(dir / "run.h5", 10, kSpecs); }, dir / "run.h5",
               "is truncated");
}

// Overwrites 64 random bytes at 40 places spread over the file (one place per
// copy). Each copy must either fail with a dlab::Error or read back exactly
// the original content (the bytes hit unused space).
template <typename Content>
int overwrite_each_place(const fs::path& original, const fs::path& copy,
                         const std::function<Content(const fs::path&)>& read_all,
                         const std::function<bool(const Content&, const Content&)>& equal) {
  const Content expect = read_all(original);
  const std::vector<char> bytes = test::file_bytes(original);
  std::mt19937 rng(1234);
  const int places = 40;
  int detected = 0;
  for (int k = 0; k < places; ++k) {
    std::vector<char> damaged = bytes;
    const size_t at = size_t(k) * (bytes.size() - 64) / (places - 1);
    for (size_t i = 0; i < 64; ++i) damaged[at + i] = char(rng());
    test::file_put(copy, damaged);
    try {
      const Content got = read_all(copy);
      EXPECT_TRUE(equal(got, expect))
          << "bytes " << at << "..." << at + 63 << " changed what was read, without an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(copy.string()), std::string::npos) << e.what();
      ++detected;
    }
  }
  return detected;
}

TEST(CorruptFile, RandomBytesOverwrittenInARunFile) {
  const fs::path dir = test::test_dir("overwrite_run");
  run_make(dir / "run.h5");
  const int detected =
      overwrite_each_place<RunContent>(dir / "run.h5", dir / "damaged.h5", run_read_all, run_equal);
  std::printf("[ info ] run.h5: %d of 40 damaged copies refused, the rest read back intact\n",
              detected);
  EXPECT_GT(detected, 20);  // the rest of the places are unused bytes
}

TEST(CorruptFile, RandomBytesOverwrittenInACheckpoint) {
  const fs::path dir = test::test_dir("overwrite_ckpt");
  checkpoint_write(dir / "step-42.h5", ckpt_sample());
  const int detected = overwrite_each_place<CheckpointData>(
      dir / "step-42.h5", dir / "damaged.h5", [](const fs::path& p) { return checkpoint_read(p); },
      ckpt_equal);
  std::printf("[ info ] checkpoint: %d of 40 damaged copies refused, the rest read back intact\n",
              detected);
  EXPECT_GT(detected, 20);  // the rest of the places are unused bytes
}

TEST(CorruptFile, MissingRequiredObjects) {
  const fs::path dir = test::test_dir("missing_objects");
  auto run_without = [&](const std::string& name, const std::function<void(hid_t)>& edit,
                         const std::string& text) {
    const fs::path path = dir / (name + ".h5");
    run_make(path);
    h5_edit(path, edit);
    expect_error([&] { run_read_all(path); }, path, text);
  };
  run_without(
      "no_status", [](hid_t f) { H5Ldelete(f, "/status", H5P_DEFAULT); },
      "lacks the dataset /status");
  run_without(
      "no_value", [](hid_t f) { H5Ldelete(f, "/series/loss/value", H5P_DEFAULT); },
      "lacks the dataset /series/loss/value");
  run_without(
      "no_series", [](hid_t f) { H5Ldelete(f, "/series", H5P_DEFAULT); },
      "lacks the group /series");
  run_without(
      "no_config", [](hid_t f) { H5Adelete(f, "config"); }, "lacks the attribute 'config'");

  auto ckpt_without = [&](const std::string& name, const std::function<void(hid_t)>& edit,
                          const std::string& text) {
    const fs::path path = dir / (name + ".h5");
    checkpoint_write(path, ckpt_sample());
    ckpt_edit(path, edit);
    expect_error([&] { checkpoint_read(path); }, path, text);
  };
  ckpt_without(
      "no_state_dict", [](hid_t f) { H5Ldelete(f, "/state_dict", H5P_DEFAULT); },
      "lacks the group /state_dict");
  ckpt_without(
      "no_tokenizer_model", [](hid_t f) { H5Ldelete(f, "/tokenizer/model", H5P_DEFAULT); },
      "lacks the dataset /tokenizer/model");
  ckpt_without(
      "no_rng", [](hid_t f) { H5Ldelete(f, "/rng", H5P_DEFAULT); }, "lacks the dataset /rng");
  ckpt_without(
      "no_step", [](hid_t f) { H5Adelete(f, "step"); }, "lacks the attribute 'step'");
  ckpt_without(
      "step_is_text",
      [](hid_t f) {
        H5Adelete(f, "step");
        const hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 4);
        const hid_t space = H5Screate(H5S_SCALAR);
        const hid_t a = H5Acreate2(f, "step", t, space, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, t, "abcd");
        H5Aclose(a);
        H5Sclose(space);
        H5Tclose(t);
      },
      "is not an integer");
}

// A checkpoint changed after it was written is refused until it is re-sealed.
TEST(CorruptFile, EditedCheckpointIsRefusedUntilSealed) {
  const fs::path path = test::test_dir("seal") / "step-42.h5";
  checkpoint_write(path, ckpt_sample());
  const float edited[2] = {-7.0f, -8.0f};
  h5_edit(path, [&](hid_t f) {  // overwrite two weights in place, as h5py's r+ mode would
    const hid_t ds = H5Dopen2(f, "/state_dict/model.layers.1.mlp.up_proj.weight", H5P_DEFAULT);
    const hid_t fspace = H5Dget_space(ds);
    const hsize_t start[2] = {0, 0}, count[2] = {1, 2};
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr);
    const hid_t mspace = H5Screate_simple(2, count, nullptr);
    H5Dwrite(ds, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, edited);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(ds);
  });
  expect_error([&] { checkpoint_read(path); }, path, "re-seal it");
  checkpoint_seal(path);
  const CheckpointData d = checkpoint_read(path);
  EXPECT_EQ(d.state_dict[1].f32()[0], -7.0f);
  EXPECT_EQ(d.state_dict[1].f32()[1], -8.0f);
  EXPECT_EQ(d.state_dict[1].f32()[2], ckpt_sample().state_dict[1].f32()[2]);

  run_make(path.parent_path() / "run.h5");  // no header: nothing to seal
  expect_error([&] { checkpoint_seal(path.parent_path() / "run.h5"); },
               path.parent_path() / "run.h5", "nothing to seal");
}

TEST(CorruptFile, UnknownFormatVersion) {
  const fs::path dir = test::test_dir("version");
  run_make(dir / "run.h5");
  checkpoint_write(dir / "step-42.h5", ckpt_sample());
  h5_edit(dir / "run.h5", [](hid_t f) { attr_set_i64(f, "format_version", 7); });
  ckpt_edit(dir / "step-42.h5", [](hid_t f) { attr_set_i64(f, "format_version", 2); });
  const std::string run = (dir / "run.h5").string();
  const std::string ckpt = (dir / "step-42.h5").string();
  try {
    RunReader::open(dir / "run.h5");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              run + " has format_version 7; this DepthLab reads format_version 1");
  }
  try {
    checkpoint_read(dir / "step-42.h5");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              ckpt + " has format_version 2; this DepthLab reads format_version 1");
  }
  expect_error([&] { RunWriter::open_resume(dir / "run.h5", 0, kSpecs); }, dir / "run.h5",
               "has format_version 7");
  expect_error([&] { checkpoint_state_names(dir / "step-42.h5"); }, dir / "step-42.h5",
               "has format_version 2");
}

TEST(CorruptFile, NotADepthLabFile) {
  const fs::path dir = test::test_dir("foreign");
  {  // what h5py would write by default: an old-format file with other content
    const hid_t f = H5Fcreate((dir / "other.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[1] = {4};
    const hid_t space = H5Screate_simple(1, dims, nullptr);
    const hid_t ds =
        H5Dcreate2(f, "foo", H5T_NATIVE_INT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const int v[4] = {1, 2, 3, 4};
    H5Dwrite(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(ds);
    H5Sclose(space);
    H5Fclose(f);
  }
  expect_error([&] { RunReader::open(dir / "other.h5"); }, dir / "other.h5",
               "is not a DepthLab run file");
  expect_error([&] { checkpoint_read(dir / "other.h5"); }, dir / "other.h5",
               "is not a DepthLab checkpoint");
  expect_error([&] { RunWriter::open_resume(dir / "other.h5", 0, kSpecs); }, dir / "other.h5",
               "is not a DepthLab run file");

  h5_edit(dir / "other.h5", [](hid_t f) {
    const hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(f, "format", t, space, H5P_DEFAULT, H5P_DEFAULT);
    const char* text = "netcdf";
    H5Awrite(a, t, &text);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(t);
  });
  expect_error([&] { RunReader::open(dir / "other.h5"); }, dir / "other.h5",
               "its format is 'netcdf'");

  // The two DepthLab kinds are told apart.
  run_make(dir / "run.h5");
  checkpoint_write(dir / "step-1.h5", ckpt_sample());
  expect_error([&] { RunReader::open(dir / "step-1.h5"); }, dir / "step-1.h5",
               "is a depthlab-checkpoint file, not a depthlab-run file");
  expect_error([&] { checkpoint_read(dir / "run.h5"); }, dir / "run.h5",
               "is a depthlab-run file, not a depthlab-checkpoint file");
}

}  // namespace
}  // namespace dlab
