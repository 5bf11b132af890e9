// Writes the seed corpus of the store_read fuzzer: small files made by the
// project's own writers (RunWriter, checkpoint_write, analysis_file_write), each
// a few KiB to tens of KiB, so that mutations reach deep into HDF5's structures.
//   write_store_corpus <dir>
// The committed corpus (tests/fuzz/corpus/store_read) holds these plus a
// checkpoint of a 2-step `dlab train` run of a 1-block model of width 8 (see
// tests/fuzz/CMakeLists.txt), and inputs the fuzzer found.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/analysis_file.h"
#include "store/checkpoint_file.h"
#include "store/run_file.h"

namespace fs = std::filesystem;
using namespace dlab;

namespace {

const char* kConfig = R"({"run":{"name":"corpus"},"model":{"n_layers":2,"d_model":8}})";

// Moves the file to `dir/name`, leaving no lock file or directory behind.
void keep(const fs::path& from, const fs::path& dir, const std::string& name) {
  fs::rename(from, dir / name);
}

void run_files(const fs::path& work, const fs::path& dir) {
  {  // finished: two series, a few rows each
    const fs::path p = work / "run.h5";
    RunWriter w =
        RunWriter::create(p, kConfig, {{"loss", 1, "loss"}, {"resid_var", 3, "per layer"}});
    for (int s = 1; s <= 3; ++s) {
      w.append("loss", s, {float(4.0 / s)});
      w.append("resid_var", s, {1.f, 2.f, float(s)});
      w.flush();
    }
    w.set_status("finished");
    w.close();
    keep(p, dir, "run-finished.h5");
  }
  {  // created, nothing appended
    const fs::path p = work / "run.h5";
    RunWriter::create(p, "{}", {{"loss", 1, ""}}).close();
    keep(p, dir, "run-empty.h5");
  }
  {  // a writer killed mid-run: superblock still marked "open for SWMR writing"
    const fs::path p = work / "run.h5";
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      RunWriter w = RunWriter::create(p, kConfig, {{"loss", 1, ""}});
      w.set_status("running");
      for (int s = 1; s <= 2; ++s) {
        w.append("loss", s, {1.f});
        w.flush();
      }
      ::_exit(0);  // no close
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    keep(p, dir, "run-killed.h5");
  }
}

void checkpoint_files(const fs::path& dir) {
  CheckpointData d;
  d.step = 1;
  d.config_json = kConfig;
  d.tokenizer_kind = "byte";
  d.metadata_json = R"({"loss":2.5})";
  std::vector<float> w(32);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * float(i);
  d.state_dict.push_back(Array::from_f32("model.embed_tokens.weight", {4, 8}, w.data()));
  d.state_dict.push_back(Array::from_f32("model.norm.weight", {8}, w.data()));
  d.state_dict.push_back(Array::from_f32("scalar", {}, w.data()));
  d.optimizer.push_back(Array::from_f32("exp_avg/model.embed_tokens.weight", {4, 8}, w.data()));
  const std::vector<int64_t> t = {1};
  d.optimizer.push_back(Array::from_i64("step/model.norm.weight", {}, t.data()));
  d.rng_state = {1, 2, 3, 4};
  d.counters = {{"step", 1}, {"adam_t", 1}, {"tokens_seen", 32}, {"data_cursor", 1}};
  checkpoint_write(dir / "step-1.h5", d);
  fs::rename(dir / "step-1.h5", dir / "checkpoint-small.h5");
  // The fuzzer reads every input as step-1.h5: this one's step disagrees.
  d.step = 2;
  d.counters["step"] = 2;
  checkpoint_write(dir / "checkpoint-step-2.h5", d);
  // A config nested past the limit (64 levels), as in issue 13's crash.
  d.step = 1;
  d.counters["step"] = 1;
  d.config_json = R"({"model":)" + std::string(100, '[') + std::string(100, ']') + "}";
  checkpoint_write(dir / "checkpoint-deep-config.h5", d);
}

void analysis_files(const fs::path& work, const fs::path& dir) {
  AnalysisFileData a;
  a.step = 1;
  a.checkpoint = "checkpoints/step-1.h5";
  a.texts = {{"windows", "first"}, {"source", "@synthetic"}};
  a.ints = {{"n_layers", 2}, {"d_model", 2}, {"samples", 4}, {"seq_len", 8}, {"first", 4}};
  a.reals = {{"tau", 0.9}};
  const std::vector<double> loss = {2.5}, m = {1, 2, 3, 4};
  const std::vector<float> j = {1, 0, 0, 1};
  a.arrays.push_back(Array::from_f64("loss", {}, loss.data()));
  a.arrays.push_back(Array::from_f64("causal_matrix", {2, 2}, m.data()));
  a.arrays.push_back(Array::from_f32("jacobian/0", {2, 2}, j.data()));
  analysis_file_write(analysis_file_path(work, 1), a);
  fs::rename(analysis_file_path(work, 1), dir / "analysis-small.h5");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: write_store_corpus <dir>\n");
    return 2;
  }
  try {
    const fs::path dir = argv[1];
    const fs::path work = dir / "work";
    fs::create_directories(work);
    run_files(work, dir);
    checkpoint_files(dir);
    analysis_files(work, dir);
    fs::remove_all(work);
  } catch (const Error& e) {
    std::fprintf(stderr, "write_store_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
