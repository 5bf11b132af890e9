#include "model/exec_options.h"

#include "common/error.h"

namespace dlab {

ExecOptions exec_options_from(const std::string& kernels, const std::string& precision,
                              bool on_cuda) {
  ExecOptions e;
  if (kernels == "auto") {
    e.kernels = on_cuda ? Kernels::Reference : Kernels::Fused;
  } else if (kernels == "fused") {
    if (on_cuda) {
      throw Error(
          "train.kernels=fused are DepthLab's CPU kernels and this run is on CUDA; use "
          "train.kernels=auto or reference (LibTorch's CUDA kernels), or run.device=cpu");
    }
    e.kernels = Kernels::Fused;
  } else if (kernels == "reference") {
    e.kernels = Kernels::Reference;
  } else {
    throw Error("train.kernels = '" + kernels + "': allowed auto, fused, reference");
  }
  if (precision == "fp32") {
    e.precision = kernels::Precision::Fp32;
  } else if (precision == "bf16") {
    e.precision = kernels::Precision::Bf16;
  } else {
    throw Error("train.precision = '" + precision + "': allowed fp32, bf16");
  }
  return e;
}

const char* kernels_name(Kernels k) { return k == Kernels::Fused ? "fused" : "reference"; }

const char* precision_name(kernels::Precision p) {
  return p == kernels::Precision::Bf16 ? "bf16" : "fp32";
}

}  // namespace dlab
