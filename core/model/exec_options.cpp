#include "model/exec_options.h"

#include "common/error.h"

namespace dlab {

ExecOptions exec_options_from(const std::string& kernels, const std::string& precision) {
  ExecOptions e;
  if (kernels == "fused") {
    e.kernels = Kernels::Fused;
  } else if (kernels == "reference") {
    e.kernels = Kernels::Reference;
  } else {
    throw Error("train.kernels = '" + kernels + "': allowed fused, reference");
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
