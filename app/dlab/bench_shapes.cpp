#include "bench_shapes.h"

#include "common/error.h"

namespace dlab::cli {

namespace {

BenchShape make_shape(const char* name, int L, int d, int H, int G, int d_ff, int V, int T, int B) {
  BenchShape s;
  s.name = name;
  s.model.n_layers = L;
  s.model.d_model = d;
  s.model.n_heads = H;
  s.model.n_kv_heads = G;
  s.model.d_ff = d_ff;
  s.model.vocab_size = V;
  s.seq_len = T;
  s.batch_size = B;
  s.description = "L " + std::to_string(L) + ", d " + std::to_string(d) + ", H " +
                  std::to_string(H) + ", G " + std::to_string(G) + ", d_ff " +
                  std::to_string(d_ff) + ", V " + std::to_string(V) + ", T " + std::to_string(T) +
                  ", batch " + std::to_string(B);
  return s;
}

}  // namespace

const std::vector<BenchShape>& bench_shapes() {
  static const std::vector<BenchShape> shapes = {
      make_shape("reference", /*L=*/8, /*d=*/256, /*H=*/8, /*G=*/8, /*d_ff=*/688, /*V=*/4096,
                 /*T=*/256, /*B=*/16),
      make_shape("tiny", /*L=*/4, /*d=*/64, /*H=*/4, /*G=*/4, /*d_ff=*/172, /*V=*/512, /*T=*/64,
                 /*B=*/8),
      // GPU-sized (issue 12's device check): a 0.2B-parameter Llama-style model.
      make_shape("gpu", /*L=*/16, /*d=*/1024, /*H=*/16, /*G=*/16, /*d_ff=*/2816, /*V=*/32768,
                 /*T=*/1024, /*B=*/16),
  };
  return shapes;
}

const BenchShape& bench_shape(const std::string& name) {
  std::string names;
  for (const BenchShape& s : bench_shapes()) {
    if (s.name == name) return s;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  throw Error("--shape " + name + ": no such shape; use " + names);
}

double train_flops_per_token(const ModelConfig& m, int seq_len) {
  const double d = m.d_model, L = m.n_layers, dh = m.head_dim();
  const double attn = d * dh * (m.n_heads + 2.0 * m.n_kv_heads) + dh * m.n_heads * d;
  double ffn = 3.0 * d * m.d_ff;
  if (m.is_moe()) {
    const double d_expert = m.moe.d_expert > 0 ? m.moe.d_expert : m.d_ff;
    ffn = 3.0 * d * d_expert * (m.moe.top_k + m.moe.n_shared_experts) + d * m.moe.n_experts;
  }
  const double weights = L * (attn + ffn) + d * m.vocab_size;
  return 6.0 * weights + 12.0 * L * seq_len * d;
}

}  // namespace dlab::cli
