// What the CPU can do, read once: the vector instruction set the fused kernels
// run with and the number of cores a process should use for its intra-op
// threads. No torch.
#pragma once

#include <string>

namespace dlab::kernels {

// The instruction sets the kernels of core/kernels/cpu are compiled for.
enum class CpuCapability { Default, Avx2, Avx512 };

struct CpuFeatures {
  bool avx2 = false;         // with FMA
  bool avx512 = false;       // F, BW, VL, DQ (what at::vec's AVX-512 code needs)
  bool avx512_bf16 = false;  // vdpbf16ps: bf16 dot products at the fp32 FMA rate
  bool amx_bf16 = false;     // AMX tiles usable by this process (oneDNN's fastest bf16 path)
  std::string model_name;    // /proc/cpuinfo "model name", "" if unknown
};

const CpuFeatures& cpu_features();

// The best capability this CPU supports, unless DEPTHLAB_CPU_CAPABILITY
// (default | avx2 | avx512) asks for a lower one; asking for more than the CPU
// has is an error naming the variable (dlab::Error).
CpuCapability cpu_capability();
const char* cpu_capability_name(CpuCapability c);  // "default", "avx2", "avx512"

// Cores this process may run on (its affinity mask), counting each physical
// core once: simultaneous-multithreading siblings share one core's vector
// units, so a second intra-op thread per core only adds contention.
int cpu_cores_usable();

}  // namespace dlab::kernels
