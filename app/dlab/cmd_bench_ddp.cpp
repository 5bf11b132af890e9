// dlab bench ddp: training throughput on 1, 2, ... local ranks (dlab launch,
// c10d Gloo over 127.0.0.1) and the gradient all-reduce time per step. Each
// configuration is a real run of `dlab launch --nproc N -- train ...` whose
// rank 0 writes --summary-json; the figures go to docs/performance.md.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "commands.h"
#include "common/error.h"

namespace dlab::cli {
namespace {

struct BenchDdpArgs {
  std::string preset = "demo";
  int64_t steps = 30;
  std::vector<int> nproc{1, 2};
  int threads = 0;  // per rank; 0: cores / ranks
  std::vector<std::string> sets;
};

int bench_ddp_main(const BenchDdpArgs& args) {
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("dlab-bench-ddp-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::cout << "dlab bench ddp: preset " << args.preset << ", " << args.steps
            << " steps per configuration, " << cores << " cores\n";
  std::printf("%6s %13s %12s %16s %12s %10s\n", "ranks", "threads/rank", "tokens/s",
              "all-reduce/step", "of the step", "speed-up");
  double base = 0;
  for (int n : args.nproc) {
    if (n < 1) throw Error("--nproc " + std::to_string(n) + " must be >= 1");
    const int threads = args.threads > 0 ? args.threads : std::max(1, cores / n);
    const std::filesystem::path summary = dir / ("nproc-" + std::to_string(n) + ".json");
    std::ostringstream cmd;
    cmd << "/proc/" << ::getpid() << "/exe launch --nproc " << n << " -- train --preset "
        << args.preset << " --set train.steps=" << args.steps << " --set train.threads=" << threads
        << " --set run.dir=" << (dir / "runs").string() << " --set run.name=nproc-" << n
        << " --summary-json " << summary.string() << " --quiet";
    for (const std::string& s : args.sets) cmd << " --set " << s;
    cmd << " 2>" << (dir / ("nproc-" + std::to_string(n) + ".log")).string();
    if (std::system(cmd.str().c_str()) != 0) {
      throw Error("bench ddp: the " + std::to_string(n) + "-rank run failed; see " +
                  (dir / ("nproc-" + std::to_string(n) + ".log")).string());
    }
    const nlohmann::json j = nlohmann::json::parse(std::ifstream(summary));
    const double tps = j["tokens_per_s_median"].get<double>();
    const double comm = j["comm_s_median"].get<double>();
    if (base == 0) base = tps;
    // tokens/s is the global batch over the step's time, so the step takes B*T/tps;
    // the share of it spent in the all-reduce is comm * tps / (B*T).
    const double tokens_per_step = j["tokens_per_step"].get<double>();
    const double share = tokens_per_step > 0 ? comm * tps / tokens_per_step : 0;
    std::printf("%6d %13d %12.0f %13.1f ms %11.1f%% %9.2fx\n", n, threads, tps, comm * 1e3,
                share * 100, tps / base);
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

Command bench_ddp_register(CLI::App& app) {
  auto args = std::make_shared<BenchDdpArgs>();
  app.description(
      "Data-parallel training throughput: the same run on 1, 2, ... local ranks (dlab launch,\n"
      "Gloo over 127.0.0.1), median tokens/s and the median gradient all-reduce time per step.\n"
      "Example: dlab bench ddp --preset demo --steps 30 --nproc 1,2");
  app.add_option("--preset", args->preset, "the run to time")->capture_default_str();
  app.add_option("--steps", args->steps, "steps per configuration")
      ->check(CLI::Range(int64_t(3), int64_t(1000000)))
      ->capture_default_str();
  app.add_option("--nproc", args->nproc, "rank counts to time, e.g. 1,2")->delimiter(',');
  app.add_option("--threads", args->threads, "intra-op threads per rank (default: cores / ranks)");
  app.add_option("--set", args->sets, "extra config overrides for every run (repeatable)");
  return [args] { return bench_ddp_main(*args); };
}

}  // namespace dlab::cli
