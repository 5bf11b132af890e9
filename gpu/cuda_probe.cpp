#include "gpu/cuda_probe.h"

#include <dlfcn.h>

#include <cstdio>

namespace dlab::gpu {
namespace {

// The few driver API and NVML entry points used, declared by hand (the
// toolkit's headers are not needed to build this file). Types as in cuda.h
// and nvml.h: CUresult / nvmlReturn_t are int enums, CUdevice an int.
using CuInit = int (*)(unsigned);
using CuDriverGetVersion = int (*)(int*);
using CuDeviceGetCount = int (*)(int*);
using CuDeviceGet = int (*)(int*, int);
using CuDeviceGetName = int (*)(char*, int, int);
using CuDeviceGetAttribute = int (*)(int*, int, int);
using CuDeviceTotalMem = int (*)(size_t*, int);
using CuDeviceGetPCIBusId = int (*)(char*, int, int);
using CuGetErrorName = int (*)(int, const char**);

constexpr int kAttrComputeCapabilityMajor = 75;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttrComputeCapabilityMinor = 76;

struct NvmlMemory {  // nvmlMemory_t
  unsigned long long total, free, used;
};
using NvmlInit = int (*)();
using NvmlShutdown = int (*)();
using NvmlGetHandleByPciBusId = int (*)(const char*, void**);
using NvmlGetMemoryInfo = int (*)(void*, NvmlMemory*);

// A library handle closed when the probe is done.
struct Library {
  void* handle = nullptr;
  explicit Library(const std::string& name) : handle(dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) {}
  ~Library() {
    if (handle) dlclose(handle);
  }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  template <typename F>
  F symbol(const char* name) const {
    return handle ? reinterpret_cast<F>(dlsym(handle, name)) : nullptr;
  }
};

std::string driver_error(const Library& cuda, int code) {
  const char* name = nullptr;
  if (auto get_name = cuda.symbol<CuGetErrorName>("cuGetErrorName")) get_name(code, &name);
  return std::string(name ? name : "CUDA error") + " (" + std::to_string(code) + ")";
}

// Free memory from NVML, matched to the CUDA ordinals by PCI bus id (NVML's
// own order can differ from CUDA's).
void nvml_fill_free(const std::string& library, std::vector<GpuInfo>& gpus) {
  Library nvml(library);
  const auto init = nvml.symbol<NvmlInit>("nvmlInit_v2");
  const auto shutdown = nvml.symbol<NvmlShutdown>("nvmlShutdown");
  const auto by_bus = nvml.symbol<NvmlGetHandleByPciBusId>("nvmlDeviceGetHandleByPciBusId_v2");
  const auto memory = nvml.symbol<NvmlGetMemoryInfo>("nvmlDeviceGetMemoryInfo");
  if (!init || !shutdown || !by_bus || !memory || init() != 0) return;
  for (GpuInfo& g : gpus) {
    void* device = nullptr;
    NvmlMemory m{};
    if (!g.pci_bus_id.empty() && by_bus(g.pci_bus_id.c_str(), &device) == 0 &&
        memory(device, &m) == 0) {
      g.memory_free = m.free;
      g.memory_free_known = true;
    }
  }
  shutdown();
}

std::string gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GiB", double(bytes) / double(1ull << 30));
  return buf;
}

}  // namespace

GpuProbe gpu_probe(const std::string& driver_library, const std::string& nvml_library) {
  GpuProbe probe;
  Library cuda(driver_library);
  if (!cuda.handle) {
    const char* why = dlerror();
    probe.problem = "no NVIDIA driver: " + driver_library + " cannot be loaded (" +
                    (why ? why : "unknown reason") + ")";
    return probe;
  }
  const auto init = cuda.symbol<CuInit>("cuInit");
  const auto version = cuda.symbol<CuDriverGetVersion>("cuDriverGetVersion");
  const auto count = cuda.symbol<CuDeviceGetCount>("cuDeviceGetCount");
  const auto get = cuda.symbol<CuDeviceGet>("cuDeviceGet");
  const auto name = cuda.symbol<CuDeviceGetName>("cuDeviceGetName");
  const auto attribute = cuda.symbol<CuDeviceGetAttribute>("cuDeviceGetAttribute");
  const auto total = cuda.symbol<CuDeviceTotalMem>("cuDeviceTotalMem_v2");
  const auto bus_id = cuda.symbol<CuDeviceGetPCIBusId>("cuDeviceGetPCIBusId");
  if (!init || !version || !count || !get || !name || !attribute || !total || !bus_id) {
    probe.problem = driver_library + " lacks the CUDA driver API entry points (not a CUDA driver?)";
    return probe;
  }
  if (const int rc = init(0); rc != 0) {
    probe.problem = "the NVIDIA driver is installed but cuInit failed: " + driver_error(cuda, rc);
    return probe;
  }
  version(&probe.driver_version);
  int n = 0;
  if (const int rc = count(&n); rc != 0) {
    probe.problem = "cuDeviceGetCount failed: " + driver_error(cuda, rc);
    return probe;
  }
  for (int i = 0; i < n; ++i) {
    int device = 0;
    if (get(&device, i) != 0) continue;
    GpuInfo g;
    g.index = i;
    char text[256] = {};
    if (name(text, int(sizeof(text)), device) == 0) g.name = text;
    attribute(&g.cc_major, kAttrComputeCapabilityMajor, device);
    attribute(&g.cc_minor, kAttrComputeCapabilityMinor, device);
    size_t bytes = 0;
    if (total(&bytes, device) == 0) g.memory_total = bytes;
    char bus[32] = {};
    if (bus_id(bus, int(sizeof(bus)), device) == 0) g.pci_bus_id = bus;
    probe.gpus.push_back(g);
  }
  if (probe.gpus.empty()) {
    probe.problem = "the NVIDIA driver sees no GPU (CUDA_VISIBLE_DEVICES may hide them)";
    return probe;
  }
  nvml_fill_free(nvml_library, probe.gpus);
  return probe;
}

std::string gpu_describe(const GpuInfo& gpu) {
  std::string s = gpu.name + ", compute capability " + std::to_string(gpu.cc_major) + "." +
                  std::to_string(gpu.cc_minor) + ", " + gib(gpu.memory_total);
  if (gpu.memory_free_known) s += " (" + gib(gpu.memory_free) + " free)";
  return s;
}

}  // namespace dlab::gpu
