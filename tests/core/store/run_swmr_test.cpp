// Run file across processes: a reader tails a writer in another process
// (SWMR), a crashed writer keeps every flushed row, and the cost of appends.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "common/error.h"
#include "store/run_file.h"
#include "store_test_util.h"

namespace dlab {
namespace {

namespace fs = std::filesystem;

float cell(int64_t step, int col) { return float(step) * 10.0f + float(col); }

std::vector<float> row(int64_t step, int width) {
  std::vector<float> v(static_cast<size_t>(width));
  for (int c = 0; c < width; ++c) v[size_t(c)] = cell(step, c);
  return v;
}

void expect_steps(const SeriesData& d, int64_t first, int64_t last) {
  ASSERT_EQ(d.steps.size(), size_t(last - first + 1)) << d.name;
  for (int64_t s = first; s <= last; ++s) {
    const size_t r = size_t(s - first);
    ASSERT_EQ(d.steps[r], s) << d.name;
    for (int c = 0; c < d.width; ++c) {
      ASSERT_EQ(d.values[r * size_t(d.width) + size_t(c)], cell(s, c)) << d.name << " step " << s;
    }
  }
}

const std::vector<SeriesSpec> kSpecs = {{"loss", 1, "loss"}, {"resid_var", 24, "per layer"}};

// One byte through a pipe: the two processes take turns.
struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe(fd), 0); }
  ~Pipe() {
    ::close(fd[0]);
    ::close(fd[1]);
  }
  void send(char c) const { EXPECT_EQ(::write(fd[1], &c, 1), 1); }
  char wait() const {
    char c = 0;
    return ::read(fd[0], &c, 1) == 1 ? c : char(0);
  }
};

TEST(RunSwmr, ReaderInAnotherProcessSeesRowsAfterFlushAndRefresh) {
  const fs::path path = test::test_dir("swmr") / "run.h5";
  Pipe to_parent, to_child;
  // The writer is the child, so the parent (the reader) never had the file open
  // through the writer's HDF5 state.
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 0;
    try {
      RunWriter w = RunWriter::create(path, "{\"a\": 1}", kSpecs);
      for (int64_t s = 0; s < 10; ++s) {
        w.append("loss", s, row(s, 1));
        w.append("resid_var", s, row(s, 24));
      }
      w.flush();
      to_parent.send('a');
      to_child.wait();
      for (int64_t s = 10; s < 300; ++s) {  // crosses the 256-row chunk
        w.append("loss", s, row(s, 1));
        w.append("resid_var", s, row(s, 24));
      }
      w.set_status("running");  // flushes
      to_parent.send('b');
      to_child.wait();
      w.append("loss", 300, row(300, 1));  // queued only: not visible yet
      to_parent.send('c');
      to_child.wait();
      w.set_status("finished");
      w.close();
      to_parent.send('d');
    } catch (const std::exception& e) {
      std::fprintf(stderr, "writer: %s\n", e.what());
      code = 1;
      to_parent.send('x');
    }
    ::_exit(code);
  }
  ASSERT_EQ(to_parent.wait(), 'a');
  RunReader r = RunReader::open(path);
  EXPECT_TRUE(r.writer_alive());
  EXPECT_EQ(r.status(), "created");
  EXPECT_EQ(r.config_json(), "{\"a\": 1}");
  expect_steps(r.read("loss"), 0, 9);
  expect_steps(r.read("resid_var"), 0, 9);
  to_child.send('1');

  ASSERT_EQ(to_parent.wait(), 'b');
  EXPECT_EQ(r.status(), "running");
  r.refresh();
  expect_steps(r.read("loss"), 0, 299);
  expect_steps(r.read("resid_var"), 0, 299);
  to_child.send('2');

  ASSERT_EQ(to_parent.wait(), 'c');
  r.refresh();
  expect_steps(r.read("loss"), 0, 299);  // row 300 is not flushed
  to_child.send('3');

  ASSERT_EQ(to_parent.wait(), 'd');
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  r.refresh();
  expect_steps(r.read("loss"), 0, 300);
  EXPECT_EQ(r.status(), "finished");
  EXPECT_FALSE(r.writer_alive());
}

// Resuming repairs a copy and renames it over run.h5, so a reader that has the
// file open (the GUI on a stopped run) neither blocks the resume nor sees a
// half-rewritten file: it keeps reading the file as it was, and a reader that
// opens afterwards sees the resumed one.
TEST(RunSwmr, ResumeDoesNotDisturbAnOpenReader) {
  const fs::path path = test::test_dir("resume_reader") / "run.h5";
  {
    RunWriter w = RunWriter::create(path, "{}", kSpecs);
    for (int64_t s = 0; s < 10; ++s) w.append("loss", s, row(s, 1));
  }
  Pipe to_parent, to_child;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 0;
    try {
      RunReader r = RunReader::open(path);
      code = r.read("loss").steps.size() == 10 ? 0 : 2;
      to_parent.send('r');
      to_child.wait();  // the resume happens now
      r.refresh();
      if (r.read("loss").steps.size() != 10) code = 3;  // its file is the old one, whole
    } catch (const std::exception& e) {
      std::fprintf(stderr, "reader: %s\n", e.what());
      code = 1;
    }
    to_parent.send('d');
    ::_exit(code);
  }
  ASSERT_EQ(to_parent.wait(), 'r');
  {
    RunWriter w = RunWriter::open_resume(path, 4, kSpecs);
    w.append("loss", 5, row(5, 1));
  }
  to_child.send('q');
  EXPECT_EQ(to_parent.wait(), 'd');
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(RunReader::open(path).read("loss").steps, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
}

// The writer dies without closing (after flushing 100 steps and queueing 50
// more); the file opens and holds every flushed row. Then the run resumes.
void crash_then_resume(const std::string& name, bool abort_writer) {
  const fs::path path = test::test_dir(name) / "run.h5";
  const int status = test::run_in_child([&] {
    RunWriter w = RunWriter::create(path, "{}", kSpecs);
    w.set_status("running");
    for (int64_t s = 0; s < 150; ++s) {
      w.append("loss", s, row(s, 1));
      w.append("resid_var", s, row(s, 24));
      if (s == 99) w.flush();
    }
    if (abort_writer) std::abort();
    ::_exit(0);
  });
  if (abort_writer) {
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) << status;
  } else {
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  {
    const RunReader r = RunReader::open(path);
    EXPECT_FALSE(r.writer_alive());
    EXPECT_EQ(r.status(), "running");  // the writer died: status says running, no writer
    for (const char* series : {"loss", "resid_var"}) {
      const SeriesData d = r.read(series);
      ASSERT_GE(d.steps.size(), 100u) << series;
      SeriesData flushed = d;
      flushed.steps.resize(100);
      flushed.values.resize(100 * size_t(d.width));
      expect_steps(flushed, 0, 99);
    }
  }
  {  // the resume from a checkpoint at step 49 reopens the crashed file
    RunWriter w = RunWriter::open_resume(path, 49, kSpecs);
    for (int64_t s = 50; s < 60; ++s) {
      w.append("loss", s, row(s, 1));
      w.append("resid_var", s, row(s, 24));
    }
    w.set_status("finished");
  }
  const RunReader r = RunReader::open(path);
  expect_steps(r.read("loss"), 0, 59);
  expect_steps(r.read("resid_var"), 0, 59);
  EXPECT_EQ(r.status(), "finished");
}

TEST(RunSwmr, CrashedWriterExitKeepsFlushedRows) { crash_then_resume("crash_exit", false); }
TEST(RunSwmr, CrashedWriterAbortKeepsFlushedRows) { crash_then_resume("crash_abort", true); }

// A training step appends about 25 rows (scalars and per-layer rows) and
// flushes once. Appends must cost far less than a millisecond; the flush is
// measured and printed, and bounded loosely (the machine is shared).
TEST(RunSwmr, AppendAndFlushCost) {
  using Clock = std::chrono::steady_clock;
  const fs::path path = test::test_dir("perf") / "run.h5";
  const int L = 32;
  std::vector<SeriesSpec> specs;
  for (int i = 0; i < 8; ++i) specs.push_back({"scalar_" + std::to_string(i), 1, ""});
  for (int i = 0; i < 16; ++i) specs.push_back({"layer_" + std::to_string(i), L, ""});
  specs.push_back({"expert_fraction", L * 16, ""});
  RunWriter w = RunWriter::create(path, "{}", specs);
  const int steps = 2000;
  double append_s = 0, flush_s = 0, per_layer_s = 0;
  int64_t appends = 0, per_layer = 0;
  for (int64_t step = 0; step < steps; ++step) {
    for (const SeriesSpec& s : specs) {
      const std::vector<float> v = row(step, s.width);
      const Clock::time_point t0 = Clock::now();
      w.append(s.name, step, v);
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
      append_s += dt;
      ++appends;
      if (s.width == L) {
        per_layer_s += dt;
        ++per_layer;
      }
    }
    const Clock::time_point t0 = Clock::now();
    w.flush();
    flush_s += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  w.close();
  const double append_us = 1e6 * append_s / double(appends);
  const double per_layer_us = 1e6 * per_layer_s / double(per_layer);
  const double flush_ms = 1e3 * flush_s / steps;
  std::printf(
      "[ perf ] append: %.2f us/row (per-layer rows: %.2f us); flush of a %zu-series "
      "step: %.3f ms; file %.1f MB after %d steps\n",
      append_us, per_layer_us, specs.size(), flush_ms, double(fs::file_size(path)) / 1e6, steps);
  EXPECT_LT(per_layer_us, 100.0);  // the requirement is "well under 1 ms"
  EXPECT_LT(flush_ms, 20.0);
  const RunReader r = RunReader::open(path);
  expect_steps(r.read("layer_15"), 0, steps - 1);
  expect_steps(r.read("expert_fraction"), 0, steps - 1);
}

}  // namespace
}  // namespace dlab
