// run.device resolution (model/device.h): auto falls back to the CPU, and a
// CUDA device that cannot work is refused with the field and the reason.
#include "model/device.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "common/error.h"

namespace dlab {
namespace {

bool cuda_usable() { return device_torch_has_cuda() && torch::cuda::device_count() > 0; }

TEST(Device, CpuAlwaysWorks) {
  EXPECT_EQ(device_problem("cpu"), "");
  EXPECT_TRUE(device_resolve("cpu").is_cpu());
}

TEST(Device, AutoIsTheFirstGpuWhereOneIsUsableElseTheCpu) {
  EXPECT_EQ(device_problem("auto"), "");
  const torch::Device d = device_resolve("auto");
  if (cuda_usable()) {
    EXPECT_EQ(d, torch::Device(torch::kCUDA, 0));
  } else {
    EXPECT_TRUE(d.is_cpu());
  }
}

TEST(Device, CudaWhereItCannotWorkIsRefusedNamingTheFieldAndTheReason) {
  if (cuda_usable()) GTEST_SKIP() << "CUDA is usable here";
  for (const std::string spec : {"cuda", "cuda:0", "cuda:3"}) {
    const std::string why = device_problem(spec);
    EXPECT_EQ(why.rfind("run.device=" + spec + " cannot be used: ", 0), 0u) << why;
    if (!device_torch_has_cuda()) {
      EXPECT_NE(why.find("was built without CUDA"), std::string::npos) << why;
    } else {
      EXPECT_NE(why.find("no GPU is visible"), std::string::npos) << why;
    }
    EXPECT_THROW(device_resolve(spec), Error);
  }
}

TEST(Device, AGpuNumberBeyondTheMachineIsRefused) {
  if (!cuda_usable()) GTEST_SKIP() << "no usable GPU here";
  const int n = int(torch::cuda::device_count());
  const std::string spec = "cuda:" + std::to_string(n);
  EXPECT_NE(device_problem(spec).find("this machine has " + std::to_string(n)), std::string::npos);
  EXPECT_EQ(device_resolve("cuda"), torch::Device(torch::kCUDA, 0));
}

TEST(Device, NotADeviceIsRefused) {
  for (const std::string spec : {"gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:123456", "CPU"}) {
    EXPECT_NE(device_problem(spec).find("is not a device"), std::string::npos) << spec;
    EXPECT_THROW(device_resolve(spec), Error) << spec;
  }
}

}  // namespace
}  // namespace dlab
