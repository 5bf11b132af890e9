// How the model computes, as opposed to what (ModelConfig): which kernels run
// it and in which precision its matrix products are. Both are run-time choices
// (train.kernels, train.precision): they never change a checkpoint, and every
// combination computes the same function up to rounding (tests/core/model).
#pragma once

#include <string>

#include "kernels/fused_ops.h"

namespace dlab {

enum class Kernels {
  Fused,      // core/kernels: fused RMSNorm, RoPE, SwiGLU, tiled attention, chunked LM head
  Reference,  // the plain ATen modules of core/model, one operation at a time
};

struct ExecOptions {
  Kernels kernels = Kernels::Fused;
  kernels::Precision precision = kernels::Precision::Fp32;  // of the matrix products
};

// From the config strings ("auto" | "fused" | "reference", "fp32" | "bf16")
// for a run on the CPU or on CUDA: auto is fused on the CPU and reference on
// CUDA; fused on CUDA is refused (they are CPU kernels). dlab::Error naming the
// field otherwise.
ExecOptions exec_options_from(const std::string& kernels, const std::string& precision,
                              bool on_cuda = false);
const char* kernels_name(Kernels k);
const char* precision_name(kernels::Precision p);

}  // namespace dlab
