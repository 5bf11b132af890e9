// Owner of the shared LibTorch precompiled header (see DepthlabTorch.cmake).
#include <torch/torch.h>
