// Device discovery without LibTorch (gpu/cuda_probe.h): on a machine with GPUs
// it lists them; without, it says why, and it never crashes on a driver that
// is missing or refuses.
#include <gtest/gtest.h>

#include "gpu/cuda_probe.h"

namespace dlab::gpu {
namespace {

TEST(GpuProbe, ListsTheGpusOrSaysWhyThereAreNone) {
  const GpuProbe p = gpu_probe();
  if (p.gpus.empty()) {
    EXPECT_FALSE(p.problem.empty());
    std::printf("no GPU here: %s\n", p.problem.c_str());
    return;
  }
  EXPECT_TRUE(p.problem.empty()) << p.problem;
  EXPECT_GT(p.driver_version, 0);
  for (size_t i = 0; i < p.gpus.size(); ++i) {
    const GpuInfo& g = p.gpus[i];
    EXPECT_EQ(g.index, int(i));
    EXPECT_FALSE(g.name.empty());
    EXPECT_GE(g.cc_major, 3);
    EXPECT_GT(g.memory_total, 0u);
    if (g.memory_free_known) EXPECT_LE(g.memory_free, g.memory_total);
    std::printf("cuda:%d %s\n", g.index, gpu_describe(g).c_str());
  }
}

TEST(GpuProbe, AMissingDriverIsNamed) {
  const GpuProbe p = gpu_probe("libcuda-that-does-not-exist.so.1");
  EXPECT_TRUE(p.gpus.empty());
  EXPECT_NE(p.problem.find("no NVIDIA driver: libcuda-that-does-not-exist.so.1"), std::string::npos)
      << p.problem;
}

TEST(GpuProbe, ALibraryWithoutTheDriverApiIsRefused) {
  const GpuProbe p = gpu_probe("libm.so.6");
  EXPECT_TRUE(p.gpus.empty());
  EXPECT_NE(p.problem.find("lacks the CUDA driver API"), std::string::npos) << p.problem;
}

TEST(GpuProbe, TheToolkitStubDriverReportsItsError) {
#ifndef DEPTHLAB_CUDA_STUB_DRIVER
  GTEST_SKIP() << "no CUDA toolkit stub driver (lib64/stubs/libcuda.so) on this machine";
#else
  const GpuProbe p = gpu_probe(DEPTHLAB_CUDA_STUB_DRIVER);
  EXPECT_TRUE(p.gpus.empty());
  // The stub answers every call with CUDA_ERROR_STUB_LIBRARY (34).
  EXPECT_NE(p.problem.find("cuInit failed"), std::string::npos) << p.problem;
  EXPECT_NE(p.problem.find("(34)"), std::string::npos) << p.problem;
#endif
}

TEST(GpuProbe, DescribesAGpu) {
  GpuInfo g;
  g.name = "NVIDIA H200";
  g.cc_major = 9;
  g.memory_total = uint64_t(143771) << 20;
  EXPECT_EQ(gpu_describe(g), "NVIDIA H200, compute capability 9.0, 140.4 GiB");
  g.memory_free_known = true;
  g.memory_free = uint64_t(1) << 30;
  EXPECT_EQ(gpu_describe(g), "NVIDIA H200, compute capability 9.0, 140.4 GiB (1.0 GiB free)");
}

}  // namespace
}  // namespace dlab::gpu
