// dlab devices: where this engine can run (run.device values), from the same
// list server_info sends.
#include <iostream>

#include "commands.h"
#include "devices.h"
#include "model/device.h"

namespace dlab::cli {
namespace {

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GiB", bytes / double(1ull << 30));
  return buf;
}

}  // namespace

Command command_devices_register(CLI::App& app) {
  auto json_out = std::make_shared<bool>(false);
  app.add_flag("--json", *json_out, "print the list as JSON (the server_info \"devices\" shape)");
  app.footer(
      "\nEach line is a value for run.device (--set run.device=cuda:0). run.device=auto, the\n"
      "default, takes cuda:0 where it is usable and the CPU otherwise. A GPU that the driver\n"
      "sees but this build cannot use is listed with the reason (a CPU-only LibTorch, say).\n"
      "Nothing here allocates GPU memory.");
  return [json_out]() {
    const DeviceList list = devices_list();
    if (*json_out) {
      std::cout
          << nlohmann::json{{"devices", list.devices}, {"cuda_problem", list.cuda_problem}}.dump(2)
          << "\n";
      return 0;
    }
    for (const auto& d : list.devices) {
      std::string line = d["name"].get<std::string>();
      line.resize(std::max<size_t>(line.size() + 2, 8), ' ');
      if (d["kind"] == "cpu") {
        line += std::to_string(d["threads"].get<int>()) + " threads, " +
                gib(double(d["memory_bytes"].get<int64_t>())) + " memory";
      } else {
        line += d["model"].get<std::string>() + ", compute capability " +
                d["compute_capability"].get<std::string>() + ", " +
                gib(double(d["memory_bytes"].get<uint64_t>()));
        if (d.contains("memory_free_bytes"))
          line += " (" + gib(double(d["memory_free_bytes"].get<uint64_t>())) + " free)";
        if (!d["usable"].get<bool>())
          line += "\n        not usable: " + d["problem"].get<std::string>();
      }
      std::cout << line << "\n";
    }
    if (!list.cuda_problem.empty()) std::cout << "no CUDA device: " << list.cuda_problem << "\n";
    std::cout << "run.device=auto means " << device_resolve("auto").str() << " here\n";
    return 0;
  };
}

}  // namespace dlab::cli
