// Tensors to and from the store's typed byte arrays (store/checkpoint_file.h),
// the one bridge between LibTorch and the files: checkpoints (core/train) and
// the analyses that load them (core/analysis) both go through it.
#pragma once

#include <torch/types.h>

#include <string>

#include "store/checkpoint_file.h"

namespace dlab {

// A copy of `t` (moved to the CPU; float32, float64, int64 or uint8), named.
Array array_from_tensor(const std::string& name, const torch::Tensor& t);
// A fresh CPU tensor owning a copy; dlab::Error when the bytes do not fit the shape.
torch::Tensor tensor_from_array(const Array& a);

}  // namespace dlab
