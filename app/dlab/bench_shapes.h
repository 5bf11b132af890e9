// The named model shapes of `dlab bench train` and `dlab bench kernels`
// (docs/performance.md): one place for their sizes.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace dlab::cli {

struct BenchShape {
  std::string name;
  std::string description;
  ModelConfig model;
  int seq_len = 0;
  int batch_size = 0;
};

// "reference": 8 blocks, d 256, 8 query / 8 KV heads, d_ff 688, V 4096, T 256, batch 16.
// "tiny":      4 blocks, d 64, 4 heads, d_ff 172, V 512, T 64, batch 8.
// "gpu":       16 blocks, d 1024, 16 heads, d_ff 2816, V 32768, T 1024, batch 16.
const std::vector<BenchShape>& bench_shapes();
// dlab::Error listing the names when there is no such shape.
const BenchShape& bench_shape(const std::string& name);

// Model FLOPs per trained token (PaLM's count): 6 x (the Linear weights a token
// passes through: attention, FFN or the top-k of its experts, LM head) +
// 12 L T d for attention's two products, forward and backward.
double train_flops_per_token(const ModelConfig& m, int seq_len);

}  // namespace dlab::cli
