#include "kernels/cpu_features.h"

#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "common/error.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#endif

namespace dlab::kernels {
namespace {

#if defined(__x86_64__)
// AMX needs the kernel's permission for the tile state (Linux >= 5.16).
bool amx_permitted() {
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = f.avx512 && (a & (1u << 5));
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    const bool amx_tile = d & (1u << 24), amx_bf16 = d & (1u << 22);
    f.amx_bf16 = amx_tile && amx_bf16 && amx_permitted();
  }
#endif
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) f.model_name = line.substr(colon + 2);
      break;
    }
  }
  return f;
}

CpuCapability best(const CpuFeatures& f) {
  if (f.avx512) return CpuCapability::Avx512;
  if (f.avx2) return CpuCapability::Avx2;
  return CpuCapability::Default;
}

CpuCapability capability_from_env() {
  const CpuCapability have = best(cpu_features());
  const char* env = std::getenv("DEPTHLAB_CPU_CAPABILITY");
  if (!env || !*env) return have;
  const std::string v = env;
  CpuCapability want;
  if (v == "default") {
    want = CpuCapability::Default;
  } else if (v == "avx2") {
    want = CpuCapability::Avx2;
  } else if (v == "avx512") {
    want = CpuCapability::Avx512;
  } else {
    throw Error("DEPTHLAB_CPU_CAPABILITY = '" + v + "': allowed default, avx2, avx512");
  }
  if (int(want) > int(have)) {
    throw Error("DEPTHLAB_CPU_CAPABILITY = '" + v + "': this CPU supports at most " +
                cpu_capability_name(have));
  }
  return want;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

CpuCapability cpu_capability() {
  static const CpuCapability c = capability_from_env();
  return c;
}

const char* cpu_capability_name(CpuCapability c) {
  switch (c) {
    case CpuCapability::Avx512:
      return "avx512";
    case CpuCapability::Avx2:
      return "avx2";
    case CpuCapability::Default:
      break;
  }
  return "default";
}

int cpu_cores_usable() {
  static const int n = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
      return int(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    }
    // One entry per physical core: (package, core id) of each allowed CPU.
    const int cpus = CPU_COUNT(&set);
    std::set<std::pair<std::string, std::string>> cores;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &set)) continue;
      const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
      std::ifstream pkg(dir + "physical_package_id"), core(dir + "core_id");
      std::string p, c;
      if (!(pkg >> p) || !(core >> c)) return std::max(1, cpus);  // no topology: count CPUs
      cores.emplace(p, c);
    }
    return std::max(1, int(cores.size()));
  }();
  return n;
}

}  // namespace dlab::kernels
