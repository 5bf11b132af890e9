#include "kernels/blas_setup.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "kernels/cpu_features.h"

namespace dlab::kernels {
namespace {

template <typename Fn>
Fn symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

// A coarse order of OpenBLAS's x86-64 kernel families by the instruction set
// their GEMM kernels use: 0 SSE, 1 AVX, 2 AVX2, 3 AVX-512.
int core_rank(const std::string& core) {
  static const char* avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
  static const char* avx2[] = {"Haswell", "Zen"};
  for (const char* c : avx512) {
    if (core == c) return 3;
  }
  for (const char* c : avx2) {
    if (core == c) return 2;
  }
  if (core == "Sandybridge" || core == "Bulldozer" || core == "Piledriver" ||
      core == "Steamroller" || core == "Excavator") {
    return 1;
  }
  return 0;
}

BlasInfo configure() {
  BlasInfo info;
  using CharFn = char* (*)();
  using IntFn = int (*)();
  using VoidFn = void (*)();
  const auto get_config = symbol<CharFn>("openblas_get_config");
  const auto get_core = symbol<CharFn>("openblas_get_corename");
  if (!get_config || !get_core) return info;
  info.openblas = true;
  info.config = get_config();
  info.core_detected = info.core = get_core();
  if (const auto parallel = symbol<IntFn>("openblas_get_parallel")) {
    const int p = parallel();
    info.threading = p == 0 ? "sequential" : p == 1 ? "pthread" : p == 2 ? "openmp" : "unknown";
  }

  const CpuFeatures& cpu = cpu_features();
  const char* want = cpu.avx512 ? "SkylakeX" : cpu.avx2 ? "Haswell" : nullptr;
  const bool dynamic = info.config.find("DYNAMIC_ARCH") != std::string::npos;
  const bool user_choice = std::getenv("OPENBLAS_CORETYPE") != nullptr;
  if (!want || !dynamic || user_choice || core_rank(info.core) >= core_rank(want)) return info;
  const auto quit = symbol<VoidFn>("gotoblas_dynamic_quit");
  const auto init = symbol<VoidFn>("gotoblas_dynamic_init");
  if (!quit || !init) return info;
  // gotoblas_dynamic_init() reads OPENBLAS_CORETYPE and fills the kernel table;
  // quit() clears the table so that init() runs again.
  setenv("OPENBLAS_CORETYPE", want, /*overwrite=*/0);
  quit();
  init();
  info.core = get_core();
  info.corrected = info.core != info.core_detected;
  return info;
}

}  // namespace

const BlasInfo& blas_configure() {
  static const BlasInfo info = configure();
  return info;
}

void blas_threads_set(int n) {
  using SetFn = void (*)(int);
  if (const auto set = symbol<SetFn>("openblas_set_num_threads")) set(n);
}

std::string blas_describe() {
  const BlasInfo& b = blas_configure();
  if (!b.openblas) return "BLAS: not OpenBLAS (no openblas_get_config)";
  std::string version = b.config.substr(0, b.config.find(' ', b.config.find(' ') + 1));
  std::string out = version + " (" + b.threading + "), kernels " + b.core;
  if (b.corrected) out += " (corrected from " + b.core_detected + ")";
  return out;
}

}  // namespace dlab::kernels
