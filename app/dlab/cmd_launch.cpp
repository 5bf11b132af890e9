// dlab launch: start N local ranks of a dlab command with the torchrun
// environment contract (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT),
// forward Ctrl-C / SIGTERM to them, and report how each one ended.
//
// The children get their own process group so that a terminal's Ctrl-C reaches
// them once (forwarded by us) and not twice (a second SIGINT kills a rank
// instead of letting it checkpoint).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "common/error.h"
#include "dist/rank_process.h"

namespace dlab::cli {
namespace {

struct LaunchArgs {
  int nproc = 2;
  int master_port = 0;  // 0: a free port
  double grace_s = 90;  // after one rank fails, how long the others get to stop
  std::vector<std::string> command;
};

std::vector<pid_t> g_children;

void forward_signal(int sig) {
  for (pid_t pid : g_children) {
    if (pid > 0) ::kill(pid, sig);
  }
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return std::string("was killed by signal ") + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "ended with status " + std::to_string(status);
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

pid_t rank_spawn(const LaunchArgs& args, int rank, int port) {
  DistEnv env;
  env.rank = rank;
  env.local_rank = rank;
  env.world_size = args.nproc;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  RankProcessOptions options;
  options.new_process_group = true;
  // A launcher killed with SIGKILL cannot forward anything: the kernel sends
  // each rank SIGTERM instead, which stops it at the next step with a checkpoint.
  options.die_with_parent = true;
  return rank_process_spawn("/proc/self/exe", "dlab", args.command, env, options);
}

int launch_main(const LaunchArgs& args) {
  if (args.command.empty()) {
    throw Error(
        "dlab launch: give the command after --, e.g. dlab launch --nproc 2 -- train "
        "--preset tiny");
  }
  // Only training has ranks that cooperate; N copies of anything else would
  // just do the same work N times.
  if (args.command[0] != "train") {
    throw Error("dlab launch starts ranks of `dlab train`, not `dlab " + args.command[0] +
                "`; e.g. dlab launch --nproc 2 -- train --preset tiny");
  }
  const int port = args.master_port > 0 ? args.master_port : dist_free_port();
  std::cerr << "dlab launch: " << args.nproc << " ranks, rendezvous 127.0.0.1:" << port << "\n";
  g_children.assign(size_t(args.nproc), -1);
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  for (int r = 0; r < args.nproc; ++r) g_children[size_t(r)] = rank_spawn(args, r, port);

  std::map<pid_t, int> rank_of;
  for (int r = 0; r < args.nproc; ++r) rank_of[g_children[size_t(r)]] = r;
  int result = 0;
  int running = args.nproc;
  std::chrono::steady_clock::time_point failed_at{};
  bool failed = false, terminated = false;
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      --running;
      const int rank = rank_of[pid];
      g_children[size_t(rank)] = -1;
      if (status != 0) {
        std::cerr << "dlab launch: rank " << rank << " " << exit_text(status) << "\n";
        if (!failed) {
          failed = true;
          failed_at = std::chrono::steady_clock::now();
          result = exit_code(status);
        }
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    // The other ranks notice a lost peer by themselves (within --dist-timeout);
    // whoever is still there after the grace period is terminated.
    if (failed && !terminated &&
        std::chrono::steady_clock::now() - failed_at >
            std::chrono::duration<double>(args.grace_s)) {
      std::cerr << "dlab launch: terminating the ranks still running " << args.grace_s
                << " s after the first failure\n";
      forward_signal(SIGKILL);
      terminated = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return result;
}

}  // namespace

Command command_launch_register(CLI::App& app) {
  auto args = std::make_shared<LaunchArgs>();
  app.description(
      "Start N local ranks of a data-parallel dlab command (torchrun's contract: each rank gets\n"
      "RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT). Ctrl-C and SIGTERM\n"
      "are forwarded to every rank. Exit code: 0, or the first failing rank's.\n"
      "Examples:\n"
      "  dlab launch --nproc 2 -- train --preset demo --set train.threads=1\n"
      "  dlab launch --nproc 2 -- train --resume runs/demo");
  app.add_option("--nproc", args->nproc, "number of local ranks")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--master-port", args->master_port,
                 "rendezvous port on 127.0.0.1 (default: a free one)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--grace", args->grace_s,
                 "seconds the other ranks get to stop by themselves after one fails")
      ->capture_default_str();
  app.add_option("command", args->command, "the dlab command and its arguments, after --")
      ->required();
  return [args] { return launch_main(*args); };
}

}  // namespace dlab::cli
