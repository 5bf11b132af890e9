#include "kernels/gemm.h"

#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "common/error.h"

namespace dlab::kernels {
namespace {

char trans_char(bool t) { return t ? 'T' : 'N'; }

using Dims = dnnl::memory::dims;
using DataType = dnnl::memory::data_type;

// A strided plain (rows, cols) matrix, transposed when stored (cols, rows).
dnnl::memory::desc matrix_desc(int64_t rows, int64_t cols, bool transposed, int64_t ld,
                               DataType type) {
  return dnnl::memory::desc(Dims{rows, cols}, type, transposed ? Dims{1, ld} : Dims{ld, 1});
}

struct MatmulKey {
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  bool operator<(const MatmulKey& o) const {
    return std::tie(ta, tb, M, N, K, lda, ldb, ldc) <
           std::tie(o.ta, o.tb, o.M, o.N, o.K, o.lda, o.ldb, o.ldc);
  }
};

struct Bf16Matmul {
  dnnl::matmul prim;
  dnnl::memory::desc a, b, c;
};

// Creating a primitive costs far more than running a small one, and a training
// run asks for the same few shapes every step.
class MatmulCache {
 public:
  static MatmulCache& instance() {
    static MatmulCache cache;
    return cache;
  }
  const dnnl::engine& engine() const { return engine_; }

  Bf16Matmul get(const MatmulKey& k) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cache_.find(k);
    if (it != cache_.end()) return it->second;
    Bf16Matmul m;
    m.a = matrix_desc(k.M, k.K, k.ta, k.lda, DataType::bf16);
    m.b = matrix_desc(k.K, k.N, k.tb, k.ldb, DataType::bf16);
    m.c = matrix_desc(k.M, k.N, false, k.ldc, DataType::f32);
    const dnnl::matmul::desc desc(m.a, m.b, m.c);
    m.prim = dnnl::matmul(dnnl::matmul::primitive_desc(desc, engine_));
    if (cache_.size() > 256) cache_.clear();  // shapes that change all the time: keep it bounded
    cache_.emplace(k, m);
    return m;
  }

 private:
  MatmulCache() : engine_(dnnl::engine::kind::cpu, 0) {}
  dnnl::engine engine_;
  std::mutex mutex_;
  std::map<MatmulKey, Bf16Matmul> cache_;
};

}  // namespace

void gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
              int64_t ldc) {
  if (M == 0 || N == 0) return;
  const dnnl_status_t s = dnnl_sgemm(trans_char(trans_a), trans_char(trans_b), M, N, K, alpha, A,
                                     lda, B, ldb, beta, C, ldc);
  if (s != dnnl_success) {
    throw Error("oneDNN sgemm failed (status " + std::to_string(int(s)) + ") for M=" +
                std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
  }
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A,
               int64_t lda, const uint16_t* B, int64_t ldb, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  try {
    MatmulCache& cache = MatmulCache::instance();
    const Bf16Matmul m = cache.get(MatmulKey{trans_a, trans_b, M, N, K, lda, ldb, ldc});
    dnnl::stream stream(cache.engine());
    dnnl::memory a(m.a, cache.engine(), const_cast<uint16_t*>(A));
    dnnl::memory b(m.b, cache.engine(), const_cast<uint16_t*>(B));
    dnnl::memory c(m.c, cache.engine(), C);
    m.prim.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    stream.wait();
  } catch (const dnnl::error& e) {
    throw Error(std::string("oneDNN bf16 matmul failed (") + e.what() + ") for M=" +
                std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
  }
}

bool gemm_bf16_supported() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core || isa == dnnl::cpu_isa::avx512_core_vnni ||
         isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

const char* gemm_isa_name() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::sse41:
      return "sse41";
    default:
      return "other";
  }
}

}  // namespace dlab::kernels
