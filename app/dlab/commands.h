// Sub-commands of dlab. Each registers its options on the CLI11 app and
// returns the function that runs it (after parsing) and yields the exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace dlab::cli {

using Command = std::function<int()>;

Command command_train_register(CLI::App& app);
Command command_inspect_register(CLI::App& app);
Command command_analyze_register(CLI::App& app);
Command command_eval_register(CLI::App& app);
Command command_launch_register(CLI::App& app);
Command command_serve_register(CLI::App& app);
Command command_devices_register(CLI::App& app);
// `dlab bench <topic>`: the group, and one register function per sub-benchmark
// (listed in kBenches in cmd_bench.cpp).
Command command_bench_register(CLI::App& app);
Command bench_analyze_register(CLI::App& app);
Command bench_ddp_register(CLI::App& app);
Command bench_kernels_register(CLI::App& app);
Command bench_train_register(CLI::App& app);
Command bench_serve_register(CLI::App& app);

}  // namespace dlab::cli
