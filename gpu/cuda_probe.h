// Which NVIDIA GPUs this machine has, without LibTorch and without linking
// CUDA: the driver (libcuda.so.1) and NVML (libnvidia-ml.so.1) are opened at
// run time, so a binary built here starts on a machine without either and
// reports why there is no device. Nothing here creates a CUDA context (no
// memory is taken on the GPUs, nothing is slow): names, compute capability and
// total memory come from the driver API, free memory from NVML.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlab::gpu {

struct GpuInfo {
  int index = 0;  // CUDA's ordinal, as cuda:N names it (CUDA_VISIBLE_DEVICES applies)
  std::string name;
  int cc_major = 0, cc_minor = 0;  // compute capability
  uint64_t memory_total = 0;       // bytes
  uint64_t memory_free = 0;        // bytes; 0 with memory_free_known = false
  bool memory_free_known = false;  // NVML answered for this GPU
  std::string pci_bus_id;          // "0000:3B:00.0"
};

struct GpuProbe {
  std::vector<GpuInfo> gpus;
  int driver_version = 0;  // CUDA driver API version, e.g. 13000 for 13.0; 0 = no driver
  // Why `gpus` is empty: "no NVIDIA driver: libcuda.so.1 not found (...)",
  // "cuInit failed: CUDA_ERROR_NO_DEVICE (100)", ...; "" when GPUs were found.
  std::string problem;
};

// Asks the driver now (each call is fresh: free memory changes). The library
// names are parameters so tests can point the probe at the toolkit's stub
// driver; programs use the defaults.
GpuProbe gpu_probe(const std::string& driver_library = "libcuda.so.1",
                   const std::string& nvml_library = "libnvidia-ml.so.1");

// "NVIDIA H200, compute capability 9.0, 139.8 GiB (137.2 GiB free)".
std::string gpu_describe(const GpuInfo& gpu);

}  // namespace dlab::gpu
