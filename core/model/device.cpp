#include "model/device.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "common/error.h"
#include "gpu/cuda_probe.h"

namespace dlab {
namespace {

const std::string kAllowed = "; use auto, cpu, cuda or cuda:N";

std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

// What the driver sees, for the message: "this machine's driver sees 1 GPU
// (cuda:0 NVIDIA H200)" or "no GPU: <why>".
std::string driver_view() {
  const gpu::GpuProbe p = gpu::gpu_probe();
  if (p.gpus.empty()) return "and this machine has no usable GPU either (" + p.problem + ")";
  std::string s = "although this machine's driver sees " + std::to_string(p.gpus.size()) +
                  (p.gpus.size() == 1 ? " GPU (" : " GPUs (");
  for (size_t i = 0; i < p.gpus.size(); ++i)
    s += (i ? ", cuda:" : "cuda:") + std::to_string(i) + " " + p.gpus[i].name;
  return s + ")";
}

// -1 for "cpu", the ordinal for "cuda" / "cuda:N", -2 for "auto". The syntax
// was checked by config_validate; anything else is refused here as well.
int parse_ordinal(const std::string& spec) {
  if (spec == "auto") return -2;
  if (spec == "cpu") return -1;
  if (spec == "cuda") return 0;
  const std::string prefix = "cuda:";
  if (spec.compare(0, prefix.size(), prefix) == 0 && spec.size() > prefix.size() &&
      spec.size() <= prefix.size() + 4 &&
      spec.find_first_not_of("0123456789", prefix.size()) == std::string::npos) {
    return std::stoi(spec.substr(prefix.size()));
  }
  return -3;
}

}  // namespace

bool device_torch_has_cuda() { return c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA); }

std::string device_problem(const std::string& spec) {
  const int ordinal = parse_ordinal(spec);
  const std::string field = "run.device=" + spec + " ";
  if (ordinal == -3) return field + "is not a device" + kAllowed + " with N = 0, 1, ...";
  if (ordinal < 0) return "";  // cpu always works; auto falls back to it
  if (!device_torch_has_cuda()) {
    return field + "cannot be used: this LibTorch (" + torch_version() +
           ") was built without CUDA, " + driver_view() +
           "; use run.device=cpu or auto, or build DepthLab against a CUDA LibTorch with "
           "-DDEPTHLAB_CUDA=ON (docs/gpu.md)";
  }
  const int count = int(torch::cuda::device_count());
  if (count == 0) {
    const gpu::GpuProbe p = gpu::gpu_probe();
    return field + "cannot be used: no GPU is visible (" +
           (p.problem.empty() ? std::string("LibTorch sees none") : p.problem) +
           "); use run.device=cpu or auto";
  }
  if (ordinal >= count) {
    return field + "cannot be used: this machine has " + std::to_string(count) +
           (count == 1 ? " GPU (cuda:0)"
                       : " GPUs (cuda:0 to cuda:" + std::to_string(count - 1) + ")") +
           "; use one of those, or auto";
  }
  return "";
}

torch::Device device_resolve(const std::string& spec) {
  const int ordinal = parse_ordinal(spec);
  if (ordinal == -2) {
    const bool gpu = device_torch_has_cuda() && torch::cuda::device_count() > 0;
    return gpu ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  if (const std::string why = device_problem(spec); !why.empty()) throw Error(why);
  return ordinal == -1 ? torch::Device(torch::kCPU)
                       : torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(ordinal));
}

}  // namespace dlab
