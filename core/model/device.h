// run.device turned into the one torch::Device a run uses (DESIGN.md,
// "Devices and precision"), or refused before anything starts with the reason:
// this LibTorch has no CUDA, no GPU is visible, cuda:N names a GPU that is not
// there. Asks LibTorch (can it use CUDA?) and gpu/cuda_probe.h (which GPUs
// does the driver see?), so the reason is the real one on every machine.
#pragma once

#include <torch/types.h>

#include <string>

namespace dlab {

// "auto" -> cuda:0 where this LibTorch has CUDA and sees a GPU, else cpu;
// "cpu"; "cuda" = "cuda:0"; "cuda:N". Throws dlab::Error with
// device_problem()'s message when the device cannot be used here.
torch::Device device_resolve(const std::string& spec);

// "" when `spec` can be used here, else one message naming the field:
// "run.device=cuda: this LibTorch (1.13.1) was built without CUDA; ..." (the
// form of config_validate's messages, so dlab serve reports it as a field error).
std::string device_problem(const std::string& spec);

// Whether this LibTorch was built with CUDA (its CUDA library is linked in).
bool device_torch_has_cuda();

}  // namespace dlab
