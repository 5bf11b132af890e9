// dlab: DepthLab's headless engine. `dlab --help` lists the sub-commands.
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>

#include "commands.h"
#include "common/error.h"
#include "kernels/blas_setup.h"

int main(int argc, char** argv) {
  // Past a file-size limit (ulimit -f) a write fails with EFBIG instead of the
  // process dying of SIGXFSZ, so a run reports the failed write (exit 2) and its
  // files keep their last complete state, as on a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
  // Before any thread runs a matrix product: OpenBLAS's kernels for this CPU.
  dlab::kernels::blas_configure();
  CLI::App app{
      "dlab: DepthLab's headless engine. Train decoder LMs, record per-layer statistics to\n"
      "runs/<name>/run.h5 and checkpoints, and inspect what a run holds.",
      // Named, not taken from argv[0]: usage lines (and the man pages made from
      // them) say "dlab train", not the path it was started by.
      "dlab"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dlab " DEPTHLAB_VERSION);
  std::map<CLI::App*, dlab::cli::Command> commands;
  CLI::App* train =
      app.add_subcommand("train", "train a model (or a sweep of models) from a preset or config");
  commands[train] = dlab::cli::command_train_register(*train);
  CLI::App* inspect =
      app.add_subcommand("inspect", "print what a run directory, run.h5 or checkpoint holds");
  commands[inspect] = dlab::cli::command_inspect_register(*inspect);
  CLI::App* analyze = app.add_subcommand("analyze",
                                         "layer-effectiveness analyses of a checkpoint (causal, "
                                         "permutation, usefulness, Jacobians, ...)");
  commands[analyze] = dlab::cli::command_analyze_register(*analyze);
  CLI::App* eval = app.add_subcommand(
      "eval", "multiple-choice accuracy of a checkpoint on a JSONL task (acc, acc_norm)");
  commands[eval] = dlab::cli::command_eval_register(*eval);
  CLI::App* launch = app.add_subcommand(
      "launch",
      "start N local data-parallel ranks of a command (dlab launch --nproc 2 -- train ...)");
  commands[launch] = dlab::cli::command_launch_register(*launch);
  CLI::App* serve = app.add_subcommand(
      "serve", "serve the session protocol over WebSocket (runs, telemetry, analyses)");
  commands[serve] = dlab::cli::command_serve_register(*serve);
  CLI::App* devices = app.add_subcommand(
      "devices",
      "list the devices run.device can name here (CPU, GPUs and why one cannot be used)");
  commands[devices] = dlab::cli::command_devices_register(*devices);
  CLI::App* bench =
      app.add_subcommand("bench", "performance measurements (dlab bench analyze, ...)");
  commands[bench] = dlab::cli::command_bench_register(*bench);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : commands) {
      if (sub->parsed()) return run();
    }
  } catch (const dlab::Error& e) {
    std::cerr << "dlab: " << e.what() << "\n";
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // A path the system refused (too long, not a directory, permission, disk full).
    std::cerr << "dlab: " << e.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "dlab: out of memory (an allocation failed); make the model, the batch or the "
                 "evaluation set smaller\n";
    return 2;
  } catch (const c10::Error& e) {
    // A LibTorch check that DepthLab's own validation missed: a bug to report,
    // said in one line (the message without LibTorch's stack trace).
    std::cerr << "dlab: internal error (LibTorch): " << e.what_without_backtrace() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "dlab: internal error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
