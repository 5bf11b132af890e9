// Run file: round trips, validation, status, resume truncation, the writer lock.
#include "store/run_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "common/error.h"
#include "store_test_util.h"

namespace dlab {
namespace {

namespace fs = std::filesystem;

// A value that depends on series, step and column, so any misplaced row shows.
float cell(int series, int64_t step, int col) {
  return float(series * 1000 + step) + 0.001f * float(col) + 0.5f;
}

std::vector<float> row(int series, int64_t step, int width) {
  std::vector<float> v(static_cast<size_t>(width));
  for (int c = 0; c < width; ++c) v[size_t(c)] = cell(series, step, c);
  return v;
}

void expect_rows(const SeriesData& d, int series, const std::vector<int64_t>& steps) {
  ASSERT_EQ(d.steps, steps) << d.name;
  ASSERT_EQ(d.values.size(), steps.size() * size_t(d.width)) << d.name;
  for (size_t r = 0; r < steps.size(); ++r) {
    for (int c = 0; c < d.width; ++c) {
      ASSERT_EQ(d.values[r * size_t(d.width) + size_t(c)], cell(series, steps[r], c))
          << d.name << " row " << r << " col " << c;
    }
  }
}

std::vector<int64_t> range(int64_t first, int64_t last, int64_t stride = 1) {
  std::vector<int64_t> v;
  for (int64_t s = first; s <= last; s += stride) v.push_back(s);
  return v;
}

const std::vector<SeriesSpec> kSpecs = {
    {"loss", 1, "training loss"},
    {"resid_var", 12, "residual variance per layer"},
    {"moe_expert_fraction", 12 * 512, "wide: L x E"},  // chunks of 2 rows
    {"val_loss", 1, "held-out loss"},
};

TEST(RunFile, RoundTripScalarAndPerLayerSeries) {
  const fs::path path = test::test_dir("roundtrip") / "run.h5";
  const std::string config = R"({"model": {"n_layers": 12}, "name": "ünïcode"})";
  {
    RunWriter w = RunWriter::create(path, config, kSpecs);
    for (int64_t step = 0; step < 700; ++step) {  // crosses several 256-row chunks
      for (int s = 0; s < 3; ++s)
        w.append(kSpecs[size_t(s)].name, step, row(s, step, kSpecs[size_t(s)].width));
      if (step % 100 == 0) w.append("val_loss", step, row(3, step, 1));
      if (step % 50 == 0) w.flush();
    }
    w.close();
    w.close();  // idempotent
  }
  const RunReader r = RunReader::open(path);
  EXPECT_EQ(r.format_version(), 1);
  EXPECT_EQ(r.config_json(), config);
  EXPECT_EQ(r.status(), "created");
  EXPECT_EQ(r.created().size(), 20u) << r.created();  // 2025-01-31T12:34:56Z
  const std::vector<SeriesSpec> specs = r.series();
  ASSERT_EQ(specs.size(), kSpecs.size());
  for (size_t i = 0; i < specs.size(); ++i) {  // creation order, not name order
    EXPECT_EQ(specs[i].name, kSpecs[i].name);
    EXPECT_EQ(specs[i].width, kSpecs[i].width);
    EXPECT_EQ(specs[i].description, kSpecs[i].description);
  }
  for (int s = 0; s < 3; ++s) expect_rows(r.read(kSpecs[size_t(s)].name), s, range(0, 699));
  expect_rows(r.read("val_loss"), 3, range(0, 600, 100));
  EXPECT_FALSE(r.writer_alive());
}

TEST(RunFile, EmptySeriesAndNoSeries) {
  const fs::path dir = test::test_dir("empty");
  RunWriter::create(dir / "a.h5", "{}", kSpecs).close();
  const RunReader a = RunReader::open(dir / "a.h5");
  const SeriesData d = a.read("resid_var");
  EXPECT_EQ(d.width, 12);
  EXPECT_TRUE(d.steps.empty());
  EXPECT_TRUE(d.values.empty());

  RunWriter::create(dir / "b.h5", "", {}).close();
  const RunReader b = RunReader::open(dir / "b.h5");
  EXPECT_TRUE(b.series().empty());
  EXPECT_EQ(b.config_json(), "");
}

TEST(RunFile, UnknownSeriesNamesWhatExists) {
  const fs::path path = test::test_dir("unknown") / "run.h5";
  RunWriter::create(path, "{}", kSpecs).close();
  const RunReader r = RunReader::open(path);
  try {
    r.read("los");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'los'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("loss, resid_var, moe_expert_fraction, val_loss"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  }
}

TEST(RunFile, AppendValidatesRows) {
  const fs::path path = test::test_dir("validate") / "run.h5";
  RunWriter w = RunWriter::create(path, "{}", kSpecs);
  EXPECT_THROW(w.append("nope", 0, {1.0f}), Error);
  EXPECT_THROW(w.append("resid_var", 0, {1.0f, 2.0f}), Error);  // width 12
  w.append("loss", 5, {1.0f});
  w.append("loss", 5, {2.0f});  // equal steps are fine
  EXPECT_THROW(w.append("loss", 4, {3.0f}), Error);
  w.close();
  EXPECT_THROW(w.append("loss", 6, {3.0f}), Error);  // closed
  const SeriesData d = RunReader::open(path).read("loss");
  EXPECT_EQ(d.steps, (std::vector<int64_t>{5, 5}));
  EXPECT_EQ(d.values, (std::vector<float>{1.0f, 2.0f}));
}

TEST(RunFile, CreateValidatesSpecs) {
  const fs::path dir = test::test_dir("specs");
  EXPECT_THROW(RunWriter::create(dir / "a.h5", "{}", {{"a", 1, ""}, {"a", 2, ""}}), Error);
  EXPECT_THROW(RunWriter::create(dir / "b.h5", "{}", {{"a", 0, ""}}), Error);
  EXPECT_THROW(RunWriter::create(dir / "c.h5", "{}", {{"a/b", 1, ""}}), Error);
  EXPECT_THROW(RunWriter::create(dir / "d.h5", "{}", {{"", 1, ""}}), Error);
}

TEST(RunFile, StatusIsOverwrittenInPlaceAndSeenByAnOpenReader) {
  const fs::path path = test::test_dir("status") / "run.h5";
  RunWriter w = RunWriter::create(path, "{}", kSpecs);
  RunReader r = RunReader::open(path);
  EXPECT_EQ(r.status(), "created");
  w.set_status("running");
  EXPECT_EQ(r.status(), "running");
  w.set_status("diverged: loss is nan at step 17");
  EXPECT_EQ(r.status(), "diverged: loss is nan at step 17");
  // 300 bytes of two-byte characters: cut at 255 bytes, never inside a character.
  std::string long_text;
  for (int i = 0; i < 150; ++i) long_text += "é";
  w.set_status(long_text);
  const std::string got = r.status();
  EXPECT_EQ(got.size(), 254u);
  EXPECT_EQ(got, long_text.substr(0, 254));
  w.set_status("finished");
  w.close();
  EXPECT_EQ(RunReader::open(path).status(), "finished");
}

TEST(RunFile, ResumeDropsLaterRowsSoTheRunMatchesAnUninterruptedOne) {
  const fs::path dir = test::test_dir("resume");
  const std::vector<SeriesSpec> specs = {
      {"loss", 1, "loss"}, {"resid_var", 6, "var"}, {"val_loss", 1, "val"}};
  auto write_steps = [&](RunWriter& w, int64_t first, int64_t last) {
    for (int64_t step = first; step <= last; ++step) {
      w.append("loss", step, row(0, step, 1));
      w.append("resid_var", step, row(1, step, 6));
      if (step % 10 == 0) w.append("val_loss", step, row(2, step, 1));
      w.flush();
    }
  };
  {  // the reference: 0..599 in one go
    RunWriter w = RunWriter::create(dir / "whole.h5", "{}", specs);
    write_steps(w, 0, 599);
  }
  {  // interrupted: ran to 350, the last checkpoint was at 300
    RunWriter w = RunWriter::create(dir / "parts.h5", "{}", specs);
    write_steps(w, 0, 350);
    w.set_status("stopped");
  }
  std::vector<SeriesSpec> more = specs;
  more.push_back({"grad_norm", 1, "added by a newer DepthLab"});
  {
    RunWriter w = RunWriter::open_resume(dir / "parts.h5", 300, more);
    ASSERT_EQ(w.series().size(), 4u);
    EXPECT_EQ(w.series()[3].name, "grad_norm");
    EXPECT_THROW(w.append("loss", 299, {0.0f}), Error);  // before the kept rows
    {
      const RunReader r = RunReader::open(dir / "parts.h5");
      expect_rows(r.read("loss"), 0, range(0, 300));
      expect_rows(r.read("val_loss"), 2, range(0, 300, 10));
      EXPECT_TRUE(r.read("grad_norm").steps.empty());
    }
    write_steps(w, 301, 599);
    w.set_status("finished");
  }
  const RunReader whole = RunReader::open(dir / "whole.h5");
  const RunReader parts = RunReader::open(dir / "parts.h5");
  for (const SeriesSpec& s : specs) {
    const SeriesData a = whole.read(s.name), b = parts.read(s.name);
    EXPECT_EQ(a.steps, b.steps) << s.name;
    EXPECT_EQ(a.values, b.values) << s.name;
  }
  EXPECT_EQ(parts.status(), "finished");
  EXPECT_EQ(parts.series().back().description, "added by a newer DepthLab");
}

TEST(RunFile, ResumeRefusesAWidthChangeAndAMissingFile) {
  const fs::path dir = test::test_dir("resume_bad");
  RunWriter::create(dir / "run.h5", "{}", {{"resid_var", 6, ""}}).close();
  try {
    RunWriter::open_resume(dir / "run.h5", 0, {{"resid_var", 8, ""}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("width 6"), std::string::npos) << e.what();
  }
  EXPECT_THROW(RunWriter::open_resume(dir / "missing.h5", 0, {}), Error);
  // The refused resume left the file usable.
  RunWriter w = RunWriter::open_resume(dir / "run.h5", 0, {{"resid_var", 6, ""}});
  w.append("resid_var", 1, row(0, 1, 6));
}

TEST(RunFile, OneWriterPerFile) {
  const fs::path path = test::test_dir("lock") / "run.h5";
  RunWriter w = RunWriter::create(path, "{}", kSpecs);
  w.append("loss", 0, {1.0f});
  w.flush();
  try {
    RunWriter::create(path, "{}", kSpecs);
    FAIL() << "a second writer was allowed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another DepthLab process"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(RunWriter::open_resume(path, 0, kSpecs), Error);
  EXPECT_TRUE(RunReader::open(path).writer_alive());
  // The refused writers did not truncate or disturb the file.
  w.append("loss", 1, {2.0f});
  w.close();
  const RunReader r = RunReader::open(path);
  EXPECT_EQ(r.read("loss").steps, (std::vector<int64_t>{0, 1}));
  EXPECT_FALSE(r.writer_alive());
}

TEST(RunFile, WriterIsMovable) {
  const fs::path dir = test::test_dir("move");
  std::optional<RunWriter> w;
  w.emplace(RunWriter::create(dir / "run.h5", "{}", {{"loss", 1, ""}}));
  RunWriter moved = std::move(*w);
  moved.append("loss", 3, {4.0f});
  w.reset();  // the moved-from writer closes nothing
  moved.close();
  EXPECT_EQ(RunReader::open(dir / "run.h5").read("loss").values, (std::vector<float>{4.0f}));
}

}  // namespace
}  // namespace dlab
