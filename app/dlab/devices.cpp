#include "devices.h"

#include <unistd.h>

#include <thread>

#include "gpu/cuda_probe.h"
#include "model/device.h"

namespace dlab::cli {
namespace {

int64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? int64_t(pages) * int64_t(page) : 0;
}

}  // namespace

DeviceList devices_list() {
  DeviceList out;
  out.devices.push_back({{"kind", "cpu"},
                         {"name", "cpu"},
                         {"threads", int(std::max(1u, std::thread::hardware_concurrency()))},
                         {"memory_bytes", physical_memory_bytes()},
                         {"usable", true}});
  const gpu::GpuProbe probe = gpu::gpu_probe();
  bool any_usable = false;
  for (const gpu::GpuInfo& g : probe.gpus) {
    const std::string name = "cuda:" + std::to_string(g.index);
    nlohmann::json d = {
        {"kind", "cuda"},
        {"name", name},
        {"index", g.index},
        {"model", g.name},
        {"compute_capability", std::to_string(g.cc_major) + "." + std::to_string(g.cc_minor)},
        {"memory_bytes", g.memory_total}};
    if (g.memory_free_known) d["memory_free_bytes"] = g.memory_free;
    const std::string problem = device_problem(name);
    d["usable"] = problem.empty();
    if (!problem.empty()) d["problem"] = problem;
    any_usable = any_usable || problem.empty();
    out.devices.push_back(std::move(d));
  }
  if (!any_usable) {
    // The driver's reason where it sees nothing, else LibTorch's (run.device=cuda says it).
    out.cuda_problem = probe.gpus.empty() ? probe.problem : device_problem("cuda");
  }
  return out;
}

}  // namespace dlab::cli
