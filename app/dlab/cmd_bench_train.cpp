// dlab bench train: training throughput of a named shape (or any config), with
// the matrix-product ceilings and, optionally, the PyTorch eager peer measured
// in the same invocation (docs/performance.md#training-throughput).
//
// Every measured run is a child process: `dlab train --summary-json` for
// DepthLab, tests/bench/peer_train.py under the Python that has Debian's
// python3-torch for the peer. Their peak RSS comes from wait4(). Repeats
// alternate DepthLab and the peer, so that load from other jobs on a shared
// machine hits both alike; each figure is the median of its repeats.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench_shapes.h"
#include "commands.h"
#include "common/config_io.h"
#include "common/error.h"
#include "common/presets.h"
#include "data/corpus.h"
#include "kernels/blas_setup.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm.h"
#include "kernels/threads.h"
#include "model/device.h"
#include "model/exec_options.h"

extern char** environ;

namespace dlab::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct BenchTrainArgs {
  std::string shape = "reference";
  std::string preset, config_file;
  std::vector<std::string> sets;
  std::vector<std::string> precisions{"fp32"};
  std::string kernels = "auto";
  std::string device = "cpu";
  int steps = 20;
  int warmup = 3;
  int threads = 0;
  int repeats = 3;
  bool peer = false;
  std::vector<int> peer_threads;  // empty: the same as dlab's
  std::string json_path;
  bool keep = false;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---- children -----------------------------------------------------------------

struct ChildResult {
  int status = -1;
  int64_t peak_rss_bytes = 0;  // ru_maxrss of the child
  double wall_s = 0;
};

// Runs argv with extra environment entries, stdout and stderr to log; waits.
ChildResult run_child(const std::vector<std::string>& argv, const std::vector<std::string>& env_add,
                      const fs::path& log) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  for (const std::string& a : env_add) {
    const std::string key = a.substr(0, a.find('='));
    env.erase(std::remove_if(env.begin(), env.end(),
                             [&](const std::string& s) { return s.rfind(key + "=", 0) == 0; }),
              env.end());
    env.push_back(a);
  }
  std::vector<std::string> args = argv;
  std::vector<char*> av, ev;
  for (std::string& s : args) av.push_back(s.data());
  av.push_back(nullptr);
  for (std::string& s : env) ev.push_back(s.data());
  ev.push_back(nullptr);
  const std::string log_path = log.string();
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("bench train: fork() failed");
  if (pid == 0) {
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::execve(av[0], av.data(), ev.data());
    ::_exit(127);
  }
  ChildResult r;
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  r.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.peak_rss_bytes = int64_t(usage.ru_maxrss) * 1024;
  return r;
}

std::string log_tail(const fs::path& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::string out;
  for (size_t i = lines.size() > 6 ? lines.size() - 6 : 0; i < lines.size(); ++i) {
    out += "\n    " + lines[i];
  }
  return out;
}

// ---- the matrix-product ceiling --------------------------------------------------

struct Ceiling {
  double libtorch = 0, onednn = 0;  // GFLOP/s, best over the shapes
  double best() const { return std::max(libtorch, onednn); }
};

double gflops(const std::function<void()>& f, double flops) {
  f();
  std::vector<double> t;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return flops / median(t) / 1e9;
}

// C (M, N) = A (M, K) B (K, N) for M = 4096 and K = N in {1024, 2048}, through
// LibTorch's torch::mm (OpenBLAS for fp32) and through oneDNN (the fused kernels).
// On CUDA: torch::mm of 8192 x 8192 x 8192 (LibTorch's cuBLAS), synchronised.
Ceiling ceiling_measure_cuda(bool bf16, const torch::Device& device) {
  Ceiling c;
  torch::manual_seed(3);
  const int64_t n = 8192;
  const auto options =
      torch::TensorOptions().device(device).dtype(bf16 ? torch::kBFloat16 : torch::kFloat32);
  const torch::Tensor a = torch::randn({n, n}, options), b = torch::randn({n, n}, options);
  c.libtorch = gflops(
      [&] {
        torch::mm(a, b);
        torch::cuda::synchronize();
      },
      2.0 * n * n * n);
  return c;
}

Ceiling ceiling_measure(bool bf16, const torch::Device& device) {
  if (device.is_cuda()) return ceiling_measure_cuda(bf16, device);
  Ceiling c;
  torch::manual_seed(3);
  for (int64_t n : {1024, 2048}) {
    const int64_t M = 4096;
    const double flops = 2.0 * M * n * n;
    torch::Tensor a = torch::randn({M, n}), b = torch::randn({n, n});
    torch::Tensor out = torch::empty({M, n});
    if (bf16) {
      const torch::Tensor ab = a.to(torch::kBFloat16), bb = b.to(torch::kBFloat16);
      c.libtorch = std::max(c.libtorch, gflops([&] { torch::mm(ab, bb); }, flops));
      if (kernels::gemm_bf16_supported()) {
        const auto* pa = reinterpret_cast<const uint16_t*>(ab.data_ptr<at::BFloat16>());
        const auto* pb = reinterpret_cast<const uint16_t*>(bb.data_ptr<at::BFloat16>());
        c.onednn = std::max(c.onednn, gflops(
                                          [&] {
                                            kernels::gemm_bf16(false, false, M, n, n, pa, n, pb, n,
                                                               out.data_ptr<float>(), n);
                                          },
                                          flops));
      }
    } else {
      c.libtorch = std::max(c.libtorch, gflops([&] { torch::mm(a, b); }, flops));
      c.onednn = std::max(
          c.onednn, gflops(
                        [&] {
                          kernels::gemm_f32(false, false, M, n, n, 1.0f, a.data_ptr<float>(), n,
                                            b.data_ptr<float>(), n, 0.0f, out.data_ptr<float>(), n);
                        },
                        flops));
    }
  }
  return c;
}

// ---- one measured run ------------------------------------------------------------

struct RunFigures {
  double tokens_per_s = 0;
  int64_t peak_rss_bytes = 0;
  // dlab only: per-phase medians over the timed steps (seconds) and the statistics' share
  std::map<std::string, double> phases;
  double stats_share = 0;
  bool attention_separable = true;  // steps with and without attention statistics were timed
  double loss_last = 0;
};

// The timed steps of a dlab summary: after the warm-up, not evaluating.
RunFigures dlab_figures(const json& j, int warmup, double tokens_per_step) {
  RunFigures f;
  std::vector<double> interval;
  std::map<std::string, std::vector<double>> phase;
  double stats_sum = 0, step_sum = 0, fwd_attn = 0, fwd_plain = 0;
  int n_attn = 0, n_plain = 0, n = 0;
  for (const json& s : j["steps"]) {
    if (s["step"].get<int64_t>() <= warmup || s["evaluated"].get<bool>()) continue;
    interval.push_back(s["interval_s"].get<double>());
    for (const char* k : {"data_s", "forward_s", "backward_s", "allreduce_s", "optimizer_s",
                          "statistics_s", "step_s", "interval_s"}) {
      phase[k].push_back(s[k].get<double>());
    }
    stats_sum += s["statistics_s"].get<double>();
    step_sum += s["step_s"].get<double>();
    ++n;
    if (s["attention_stats"].get<bool>()) {
      fwd_attn += s["forward_s"].get<double>();
      ++n_attn;
    } else {
      fwd_plain += s["forward_s"].get<double>();
      ++n_plain;
    }
  }
  if (interval.empty()) throw Error("bench train: no timed steps; raise --steps");
  f.tokens_per_s = tokens_per_step / median(interval);
  for (auto& [k, v] : phase) f.phases[k] = median(v);
  // Statistics: the rows' own phase, plus what the attention statistics add
  // to the forward pass of the steps that take them (reduced in the kernel).
  double in_forward = 0;
  if (n_attn > 0 && n_plain > 0) {
    in_forward = std::max(0.0, fwd_attn / n_attn - fwd_plain / n_plain) * n_attn;
  }
  f.attention_separable = n_attn == 0 || n_plain > 0;
  f.stats_share = n > 0 ? (stats_sum + in_forward) / step_sum : 0;
  f.loss_last = j["loss"].get<double>();
  return f;
}

// The argv prefix of a Python that imports torch (Debian's python3-torch belongs
// to /usr/bin/python3, which a pyenv or venv python3 first on PATH may hide),
// or empty.
std::vector<std::string> python_with_torch() {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0) {
    return {"/usr/bin/python3"};
  }
  if (std::system("python3 -c 'import torch' >/dev/null 2>&1") == 0) {
    return {"/usr/bin/env", "python3"};
  }
  return {};
}

fs::path peer_script() {
  const fs::path p = fs::path(DEPTHLAB_SOURCE_DIR) / "tests" / "bench" / "peer_train.py";
  if (!fs::is_regular_file(p)) {
    throw Error("bench train --peer: the peer script " + p.string() +
                " is not there (it ships with the source tree, not the installed programs)");
  }
  return p;
}

// ---- the bench -----------------------------------------------------------------

Config bench_config(const BenchTrainArgs& a, std::string* description) {
  Config c;
  if (!a.preset.empty() || !a.config_file.empty()) {
    c = !a.config_file.empty() ? config_from_file(a.config_file) : preset_load(a.preset);
    *description = !a.config_file.empty() ? "config " + a.config_file : "preset " + a.preset;
  } else {
    const BenchShape& s = bench_shape(a.shape);
    c.model = s.model;
    c.data.seq_len = s.seq_len;
    c.train.batch_size = s.batch_size;
    c.data.tokenizer = "bpe";
    // The demo corpus when it is installed (as the figures), else generated text.
    try {
      DataConfig demo = c.data;
      demo.corpus = "@demo";
      corpus_resolve(demo);
      c.data.corpus = "@demo";
    } catch (const Error&) {
      c.data.corpus = "@synthetic";
    }
    *description = "shape " + s.name + " (" + s.description + "), corpus " + c.data.corpus;
  }
  for (const std::string& s : a.sets) config_set(c, s);
  c.train.steps = a.warmup + a.steps;
  c.train.tokens = 0;
  c.train.warmup_steps = std::min<int64_t>(c.train.warmup_steps, c.train.steps);
  c.train.eval_every = 1000000000;  // evaluations are not training throughput
  c.train.checkpoint_every = 0;
  c.train.threads = a.threads;
  c.train.kernels = a.kernels;
  c.run.device = a.device;
  return c;
}

int bench_train(const BenchTrainArgs& a) {
  std::string what;
  Config base = bench_config(a, &what);
  const torch::Device device = device_resolve(base.run.device);  // refused here if unusable
  const int threads = kernels::threads_set(a.threads);
  const double flops_per_token = train_flops_per_token(base.model, base.data.seq_len);
  const double tokens_per_step = double(base.train.batch_size) * base.data.seq_len;
  const fs::path dir =
      fs::temp_directory_path() / ("dlab-bench-train-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const kernels::BlasInfo& blas = kernels::blas_configure();

  std::printf("# dlab bench train: %s\n", what.c_str());
  std::printf(
      "# %.1f MFLOP per token (6 x Linear weights + 12 L T d), %d timed steps after %d, "
      "%d repeat(s), %d intra-op threads\n",
      flops_per_token / 1e6, a.steps, a.warmup, a.repeats, threads);
  std::printf("# CPU %s (%s kernels); %s; oneDNN %s\n", kernels::cpu_features().model_name.c_str(),
              kernels::cpu_capability_name(kernels::cpu_capability()),
              kernels::blas_describe().c_str(), kernels::gemm_isa_name());
  std::fflush(stdout);

  json out;
  out["what"] = what;
  out["flops_per_token"] = flops_per_token;
  out["threads"] = threads;
  out["cpu"] = kernels::cpu_features().model_name;
  out["blas"] = kernels::blas_describe();
  out["onednn_isa"] = kernels::gemm_isa_name();
  out["config"] = config_to_toml(base);

  // ceilings first: the machine as it is right now
  std::map<std::string, Ceiling> ceilings;
  for (const std::string& p : a.precisions) {
    ceilings[p] = ceiling_measure(p == "bf16", device);
    std::printf("ceiling %s on %s (%s): LibTorch mm %.0f GFLOP/s, oneDNN %.0f GFLOP/s\n", p.c_str(),
                device.str().c_str(),
                device.is_cuda() ? "M = K = N 8192" : "M 4096, K = N 1024 | 2048",
                ceilings[p].libtorch, ceilings[p].onednn);
    out["ceiling"][p] = {{"libtorch_gflops", ceilings[p].libtorch},
                         {"onednn_gflops", ceilings[p].onednn},
                         {"best_gflops", ceilings[p].best()}};
  }
  if (ceilings.find("fp32") == ceilings.end()) {
    ceilings["fp32"] = ceiling_measure(false, device);
    out["ceiling"]["fp32"] = {{"libtorch_gflops", ceilings["fp32"].libtorch},
                              {"onednn_gflops", ceilings["fp32"].onednn},
                              {"best_gflops", ceilings["fp32"].best()}};
  }

  // peer set-up
  std::vector<std::string> python;
  fs::path script;
  std::vector<int> peer_threads =
      a.peer_threads.empty() ? std::vector<int>{threads} : a.peer_threads;
  std::vector<std::string> peer_env;
  if (a.peer) {
    python = python_with_torch();
    if (python.empty()) {
      throw Error("bench train --peer: no Python with torch (Debian's python3-torch) found");
    }
    script = peer_script();
    // The peer's LibTorch gets the same BLAS kernels as dlab's own (blas_setup.h).
    if (blas.corrected) peer_env.push_back("OPENBLAS_CORETYPE=" + blas.core);
  }
  auto peer_argv = [&](int t) {
    const ModelConfig& m = base.model;
    const std::vector<std::pair<const char*, int64_t>> flags = {{"--layers", m.n_layers},
                                                                {"--d-model", m.d_model},
                                                                {"--heads", m.n_heads},
                                                                {"--kv-heads", m.n_kv_heads},
                                                                {"--d-ff", m.d_ff},
                                                                {"--vocab", m.vocab_size},
                                                                {"--seq-len", base.data.seq_len},
                                                                {"--batch", base.train.batch_size},
                                                                {"--steps", a.steps},
                                                                {"--warmup", a.warmup},
                                                                {"--threads", t}};
    std::vector<std::string> v = python;
    v.push_back(script.string());
    for (const auto& [flag, value] : flags) {
      v.push_back(flag);
      v.push_back(std::to_string(value));
    }
    return v;
  };
  if (a.peer && (base.model.is_moe() || base.model.norm_scaling != "none")) {
    throw Error("bench train --peer: the peer is a dense model without LayerNorm scaling");
  }

  std::map<std::string, std::vector<RunFigures>> runs;  // by label
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  for (int r = 0; r < a.repeats; ++r) {
    for (const std::string& p : a.precisions) {
      Config c = base;
      c.train.precision = p;
      c.run.dir = (dir / "runs").string();
      c.run.name = "bench-" + p + "-" + std::to_string(r);
      const fs::path cfg = dir / (c.run.name + ".toml");
      const fs::path summary = dir / (c.run.name + ".json");
      std::ofstream(cfg) << config_to_toml(c);
      const fs::path log = dir / (c.run.name + ".log");
      const ChildResult child = run_child(
          {self, "train", "--config", cfg.string(), "--summary-json", summary.string(), "--quiet"},
          {}, log);
      if (child.status != 0) {
        throw Error("bench train: `dlab train` (" + p + ") exited with " +
                    std::to_string(child.status) + ":" + log_tail(log));
      }
      RunFigures f = dlab_figures(json::parse(std::ifstream(summary)), a.warmup, tokens_per_step);
      f.peak_rss_bytes = child.peak_rss_bytes;
      // The kernels the run really uses (auto: fused on the CPU, reference on CUDA).
      const std::string label =
          std::string("dlab ") +
          kernels_name(exec_options_from(a.kernels, p, device.is_cuda()).kernels) + " " + p;
      std::printf("  repeat %d  %-24s %8.0f tokens/s\n", r + 1, label.c_str(), f.tokens_per_s);
      std::fflush(stdout);
      runs[label].push_back(f);
      fs::remove_all(dir / "runs" / c.run.name);
    }
    for (int t : peer_threads) {
      if (!a.peer) break;
      const fs::path log = dir / ("peer-" + std::to_string(t) + "-" + std::to_string(r) + ".log");
      const ChildResult child = run_child(peer_argv(t), peer_env, log);
      if (child.status != 0) {
        throw Error("bench train: the peer exited with " + std::to_string(child.status) + ":" +
                    log_tail(log));
      }
      std::ifstream in(log);
      json j;
      for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line[0] == '{') j = json::parse(line);
      }
      if (j.is_null()) throw Error("bench train: the peer printed no result:" + log_tail(log));
      RunFigures f;
      f.tokens_per_s = j["tokens_per_s_median"].get<double>();
      f.peak_rss_bytes = child.peak_rss_bytes;
      f.loss_last = j["loss_last"].get<double>();
      const std::string label = "peer fp32 " + std::to_string(t) + " thread" + (t == 1 ? "" : "s");
      std::printf("  repeat %d  %-24s %8.0f tokens/s\n", r + 1, label.c_str(), f.tokens_per_s);
      std::fflush(stdout);
      runs[label].push_back(f);
    }
  }

  // ---- the table
  double peer_best = 0;
  int64_t peer_rss = 0;
  for (auto& [label, v] : runs) {
    if (label.rfind("peer", 0) != 0) continue;
    std::vector<double> t;
    for (const RunFigures& f : v) t.push_back(f.tokens_per_s);
    if (median(t) > peer_best) {
      peer_best = median(t);
      peer_rss = v.front().peak_rss_bytes;
    }
  }
  std::printf("\n%-26s %10s %10s %8s %9s %10s %10s\n", "run", "tokens/s", "range", "MFU", "vs peer",
              "peak RSS", "RSS/peer");
  for (auto& [label, v] : runs) {
    std::vector<double> t, rss;
    for (const RunFigures& f : v) {
      t.push_back(f.tokens_per_s);
      rss.push_back(double(f.peak_rss_bytes));
    }
    const double tps = median(t);
    const bool is_peer = label.rfind("peer", 0) == 0;
    const std::string prec = label.find("bf16") != std::string::npos ? "bf16" : "fp32";
    const double mfu = tps * flops_per_token / (ceilings[prec].best() * 1e9);
    const auto [lo, hi] = std::minmax_element(t.begin(), t.end());
    char range[64];
    std::snprintf(range, sizeof(range), "%.0f-%.0f", *lo, *hi);
    std::printf("%-26s %10.0f %10s %8.3f", label.c_str(), tps, range, mfu);
    if (peer_best > 0 && !is_peer) {
      std::printf(" %8.2fx %8.2f GB %9.2fx", tps / peer_best, median(rss) / 1e9,
                  median(rss) / double(peer_rss));
    } else {
      std::printf(" %9s %8.2f GB %10s", "", median(rss) / 1e9, "");
    }
    std::printf("\n");
    json& j = out["runs"][label];
    j["tokens_per_s"] = tps;
    j["tokens_per_s_runs"] = t;
    j["mfu"] = mfu;
    j["mfu_ceiling_gflops"] = ceilings[prec].best();
    j["peak_rss_bytes"] = median(rss);
    if (peer_best > 0 && !is_peer) {
      j["vs_peer_best"] = tps / peer_best;
      j["rss_vs_peer"] = median(rss) / double(peer_rss);
    }
    if (!is_peer) {
      std::map<std::string, std::vector<double>> ph;
      std::vector<double> share;
      bool separable = true;
      for (const RunFigures& f : v) {
        for (const auto& [k, s] : f.phases) ph[k].push_back(s);
        share.push_back(f.stats_share);
        separable = separable && f.attention_separable;
      }
      for (auto& [k, s] : ph) j["phases_s"][k] = median(s);
      j["statistics_share"] = median(share);
      j["statistics_share_includes_attention_kernel"] = separable;
      j["loss_last"] = v.back().loss_last;
    }
  }
  if (peer_best > 0) out["peer_best_tokens_per_s"] = peer_best;
  std::printf("\nwhere a step goes (median of the timed steps, ms and share of the step):\n");
  for (auto& [label, v] : runs) {
    if (label.rfind("peer", 0) == 0) continue;
    const json& j = out["runs"][label];
    const double step = j["phases_s"]["step_s"].get<double>();
    std::printf("  %-22s", label.c_str());
    for (const char* k :
         {"data_s", "forward_s", "backward_s", "allreduce_s", "optimizer_s", "statistics_s"}) {
      const double s = j["phases_s"][k].get<double>();
      std::printf("  %s %.1f (%.0f%%)", std::string(k).substr(0, std::string(k).size() - 2).c_str(),
                  s * 1e3, 100 * s / step);
    }
    std::printf(
        "  | step %.1f ms; statistics %.1f%% of the step (incl. in-kernel attention "
        "statistics)\n",
        step * 1e3, 100 * j["statistics_share"].get<double>());
  }
  if (!a.json_path.empty()) {
    std::ofstream(a.json_path) << out.dump(2) << "\n";
    std::printf("\nwrote %s\n", a.json_path.c_str());
  }
  if (!a.keep) fs::remove_all(dir);
  return 0;
}

}  // namespace

Command bench_train_register(CLI::App& app) {
  auto a = std::make_shared<BenchTrainArgs>();
  app.description(
      "Training throughput: tokens/s (median over the timed steps), model FLOPs per token, the\n"
      "fp32 and bf16 matrix-product ceilings and MFU against them, the time of each phase of a\n"
      "step, the statistics' share and peak RSS; with --peer the PyTorch eager peer\n"
      "(tests/bench/peer_train.py) in the same invocation, repeats alternating.");
  app.footer(
      "Examples:\n"
      "  dlab bench train --shape reference --peer\n"
      "  dlab bench train --shape tiny --precision fp32,bf16 --peer --peer-threads 1,2\n"
      "  dlab bench train --preset demo --set train.attn_stats_every=1 --json out.json\n"
      "Shapes: reference (L 8, d 256, H 8, G 8, d_ff 688, V 4096, T 256, batch 16) and tiny\n"
      "(L 4, d 64, H 4, d_ff 172, V 512, T 64, batch 8), on the demo corpus when installed.\n"
      "Statistics are taken as the config says (train.stats_every, train.attn_stats_every).");
  app.add_option("--shape", a->shape, "named shape (ignored with --preset or --config)")
      ->capture_default_str();
  app.add_option("--preset", a->preset, "time this preset instead of a shape");
  app.add_option("--config", a->config_file, "time this TOML config instead of a shape");
  app.add_option("--set", a->sets, "override a config key (repeatable)");
  app.add_option("--precision", a->precisions, "fp32, bf16 or both (fp32,bf16)")
      ->delimiter(',')
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  app.add_option("--kernels", a->kernels,
                 "auto (fused on the CPU, reference on CUDA), fused or reference")
      ->check(CLI::IsMember({"auto", "fused", "reference"}))
      ->capture_default_str();
  app.add_option("--device", a->device,
                 "run.device of the timed runs: cpu, cuda or cuda:N (`dlab devices`); the "
                 "ceilings are measured on it too")
      ->capture_default_str();
  app.add_option("--steps", a->steps, "timed steps per run")
      ->check(CLI::Range(3, 100000))
      ->capture_default_str();
  app.add_option("--warmup", a->warmup, "untimed steps first")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  app.add_option("--threads", a->threads, "intra-op threads (0: one per physical core)")
      ->capture_default_str();
  app.add_option("--repeats", a->repeats, "runs of each, alternating")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_flag("--peer", a->peer, "also time the PyTorch eager peer (needs python3-torch)");
  app.add_option("--peer-threads", a->peer_threads,
                 "the peer's torch threads, e.g. 1,2 (default: dlab's); the best is compared")
      ->delimiter(',');
  app.add_option("--json", a->json_path, "write every figure to this file");
  app.add_flag("--keep", a->keep, "keep the runs, logs and summaries (in $TMPDIR)");
  return [a] { return bench_train(*a); };
}

}  // namespace dlab::cli
