// Helpers of the GUI app tests: real run directories written with the store
// library (RunWriter, analysis_file_write; no torch) and waiting on signals.
#pragma once

#include <QEventLoop>
#include <QTimer>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "store/analysis_file.h"
#include "store/run_file.h"
#include "test_dir.h"

namespace dlab::test {

inline std::filesystem::path gui_test_dir(const std::string& name) {
  return test_dir_fresh("gui", name);
}

// A run of `n_layers` layers and `steps` steps, values known in closed form:
//   loss = 5 - 0.01 * step,  resid_var[l] = (l + 1) * (1 + step),
//   resid_var_final_norm = 1, weight_sparsity_1e-4[l] = 0.1 * l (overall 0.5).
inline std::filesystem::path write_run(const std::filesystem::path& dir, int n_layers, int steps,
                                       bool with_analysis, int d_model = 4) {
  std::filesystem::create_directories(dir);
  const int L = n_layers;
  const std::string config = "{\"model\":{\"n_layers\":" + std::to_string(L) +
                             ",\"d_model\":" + std::to_string(d_model) +
                             "},\"train\":{\"lr\":0.001}}";
  RunWriter w = RunWriter::create(dir / "run.h5", config,
                                  {{"loss", 1, "loss"},
                                   {"val_loss", 1, "val"},
                                   {"resid_var", L, "rv"},
                                   {"resid_var_final_norm", 1, "fn"},
                                   {"kurtosis_token", L, "k"},
                                   {"attn_entropy", L, "e"},
                                   {"attn_sparsity_1e-2", L, "s"},
                                   {"weight_sparsity_1e-4", L + 1, "ws"}});
  for (int s = 1; s <= steps; ++s) {
    w.append("loss", s, {float(5 - 0.01 * s)});
    std::vector<float> rv(static_cast<size_t>(L)), k(static_cast<size_t>(L)), ws(size_t(L) + 1);
    for (int l = 0; l < L; ++l) {
      rv[size_t(l)] = float((l + 1) * (1 + s));
      k[size_t(l)] = float(3 + l);
      ws[size_t(l)] = float(0.1 * l);
    }
    ws[size_t(L)] = 0.5f;
    w.append("resid_var", s, rv);
    w.append("kurtosis_token", s, k);
    w.append("attn_entropy", s, k);
    w.append("attn_sparsity_1e-2", s, k);
    w.append("resid_var_final_norm", s, {1.0f});
    w.append("weight_sparsity_1e-4", s, ws);
    if (s % 5 == 0) w.append("val_loss", s, {float(5.1 - 0.01 * s)});
  }
  w.set_status("finished");
  w.close();
  if (with_analysis) {
    AnalysisFileData a;
    a.step = steps;
    a.checkpoint = "checkpoints/step-" + std::to_string(steps) + ".h5";
    a.ints["n_layers"] = L;
    a.reals["tau"] = 0.1;
    const int d = 4;
    for (int l = 0; l < L; ++l) {
      std::vector<float> j(size_t(d * d), 0.0f);
      for (int i = 0; i < d; ++i) j[size_t(i * d + i)] = 1.0f + 0.1f * float(l);
      a.arrays.push_back(Array::from_f32("jacobian/" + std::to_string(l), {d, d}, j.data()));
    }
    std::vector<double> dev(static_cast<size_t>(L)), useful(static_cast<size_t>(L)),
        cm(static_cast<size_t>(L * L));
    for (int l = 0; l < L; ++l) {
      dev[size_t(l)] = 0.1 * l;
      useful[size_t(l)] = 0.05 * (l + 1);
      for (int m = 0; m < L; ++m) cm[size_t(l * L + m)] = m > l ? 0.2 * (m - l) : 0.0;
    }
    a.arrays.push_back(Array::from_f64("jacobian_deviation", {L}, dev.data()));
    a.arrays.push_back(Array::from_f64("usefulness_ratio", {L}, useful.data()));
    a.arrays.push_back(Array::from_f64("block_influence", {L}, useful.data()));
    a.arrays.push_back(Array::from_f64("causal_matrix", {L, L}, cm.data()));
    a.arrays.push_back(Array::from_f64("permutation_matrix", {L, L}, cm.data()));
    const double loss = 4.5;
    a.arrays.push_back(Array::from_f64("loss", {}, &loss));
    analysis_file_write(analysis_file_path(dir, steps), a);
  }
  return dir;
}

// Runs the event loop until `done()` or the timeout; returns done().
template <class F>
bool wait_until(F done, int timeout_ms = 20000) {
  QEventLoop loop;
  QTimer poll;
  QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
    if (done()) loop.quit();
  });
  poll.start(10);
  QTimer::singleShot(timeout_ms, &loop, &QEventLoop::quit);
  if (!done()) loop.exec();
  return done();
}

}  // namespace dlab::test
