#include "metrics/row_stats.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "common/error.h"
#include "gpu/stats_math.h"
#if DEPTHLAB_GPU_KERNELS_LINKED
#include "gpu/stats_kernels.h"
#endif

namespace dlab {
namespace {

// CUDA tensors go to the kernels where this build links them; anything else
// on a device other than the CPU is refused with the reason.
bool on_cuda(const torch::Tensor& t, const char* who) {
  if (t.device().is_cpu()) return false;
#if DEPTHLAB_GPU_KERNELS_LINKED
  if (t.device().is_cuda()) return true;
#endif
  throw Error(std::string(who) + ": a tensor on " + t.device().str() +
              "; this build runs these statistics on the CPU only (configure with "
              "-DDEPTHLAB_CUDA=ON against a CUDA LibTorch for the CUDA kernels)");
}

#if DEPTHLAB_GPU_KERNELS_LINKED
void check_cuda(int status, const char* who) {
  if (status != 0) throw Error(std::string(who) + ": " + gpu::cuda_error_text(status));
}
#endif

}  // namespace

bool row_stats_on_kernels(const torch::Tensor& t) {
#if DEPTHLAB_GPU_KERNELS_LINKED
  return t.defined() && t.device().is_cuda();
#else
  (void)t;
  return false;
#endif
}

TokenMoments token_moments(const torch::Tensor& h) {
  torch::NoGradGuard no_grad;
  if (!h.defined() || h.dim() < 2 || h.size(-1) < 2 || h.numel() == 0) {
    throw Error("token_moments: expected a (B, T, d) or (N, d) tensor with d >= 2, got " +
                (h.defined() ? c10::str(h.sizes()) : std::string("an undefined tensor")));
  }
  const int64_t d = h.size(-1);
  const torch::Tensor x = h.detach().to(torch::kFloat32).contiguous();  // (N, d)
  const int64_t N = x.numel() / d;
  TokenMoments out;
  if (on_cuda(x, "token_moments")) {
#if DEPTHLAB_GPU_KERNELS_LINKED
    torch::Tensor sums = torch::empty({2}, x.options().dtype(torch::kFloat64));
    const float* rows = x.data_ptr<float>();
    check_cuda(gpu::token_moment_sums(&rows, /*n_probes=*/1, N, d, sums.data_ptr<double>(),
                                      /*stream=*/nullptr),
               "token_moments");
    const torch::Tensor s = sums.to(torch::kCPU);
    out.variance = s[0].item<double>() / double(N);
    out.kurtosis = s[1].item<double>() / double(N);
#endif
    return out;
  }
  const float* p = x.data_ptr<float>();
  // Per-row results summed in row order: the same total for any thread count.
  std::vector<double> var(static_cast<size_t>(N)), kurt(static_cast<size_t>(N));
  at::parallel_for(0, N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = p + r * d;
      gpu::PowerSums ps;
      for (int64_t c = 0; c < d; ++c) gpu::power_sums_add(ps, double(row[c]) - double(row[0]));
      gpu::row_moments_finish(ps, &var[size_t(r)], &kurt[size_t(r)]);
    }
  });
  for (int64_t r = 0; r < N; ++r) {
    out.variance += var[size_t(r)];
    out.kurtosis += kurt[size_t(r)];
  }
  out.variance /= double(N);
  out.kurtosis /= double(N);
  return out;
}

torch::Tensor attention_stat_sums_qk(const torch::Tensor& q, const torch::Tensor& k, double scale,
                                     const std::vector<double>& eps) {
  torch::NoGradGuard no_grad;
  if (!q.defined() || !k.defined() || q.dim() != 4 || k.dim() != 4 || q.size(0) != k.size(0) ||
      q.size(2) != k.size(2) || q.size(3) != k.size(3) || k.size(1) < 1 ||
      q.size(1) % k.size(1) != 0 || q.size(2) < 2) {
    throw Error(
        "attention_stat_sums_qk: expected q (B, H, T, dh) and k (B, G, T, dh) with "
        "H % G == 0 and T >= 2, got q " +
        (q.defined() ? c10::str(q.sizes()) : std::string("undefined")) + ", k " +
        (k.defined() ? c10::str(k.sizes()) : std::string("undefined")));
  }
  const int n_eps = int(eps.size());
  if (n_eps > gpu::kMaxAttnEps) {
    throw Error("attention_stat_sums_qk: " + std::to_string(n_eps) + " thresholds; at most " +
                std::to_string(gpu::kMaxAttnEps));
  }
  const int64_t B = q.size(0), H = q.size(1), G = k.size(1), T = q.size(2), dh = q.size(3);
  const int64_t width = gpu::kAttnStatFixed + n_eps;
  const torch::Tensor qc = q.detach().to(torch::kFloat32).contiguous();
  const torch::Tensor kc = k.detach().to(torch::kFloat32).contiguous();
  std::vector<double> log_eps(static_cast<size_t>(n_eps));
  for (int e = 0; e < n_eps; ++e) log_eps[size_t(e)] = std::log(eps[size_t(e)]);

  if (on_cuda(qc, "attention_stat_sums_qk")) {
#if DEPTHLAB_GPU_KERNELS_LINKED
    torch::Tensor sums = torch::empty({H, width}, qc.options().dtype(torch::kFloat64));
    check_cuda(gpu::attention_stat_sums(qc.data_ptr<float>(), kc.data_ptr<float>(), B, H, G, T, dh,
                                        scale, log_eps.data(), n_eps, sums.data_ptr<double>(),
                                        /*stream=*/nullptr),
               "attention_stat_sums_qk");
    return sums.to(torch::kCPU);
#endif
  }
  const float* Q = qc.data_ptr<float>();
  const float* K = kc.data_ptr<float>();
  // One (sequence, head) per task; each writes its own row of `part`, and the
  // rows are added in order afterwards (deterministic for any thread count).
  std::vector<double> part(size_t(B * H * width), 0.0);
  at::parallel_for(0, B * H, 1, [&](int64_t t0, int64_t t1) {
    std::vector<double> s(static_cast<size_t>(T));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / H, h = t % H, g = h / (H / G);
      const float* qh = Q + (b * H + h) * T * dh;  // (T, dh)
      const float* kh = K + (b * G + g) * T * dh;  // (T, dh)
      double* rec = part.data() + t * width;
      for (int64_t i = 1; i < T; ++i) {  // query 0 says nothing (METRICS.md §2)
        gpu::SoftmaxState st;
        for (int64_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < dh; ++c) dot += double(qh[i * dh + c]) * double(kh[j * dh + c]);
          s[size_t(j)] = scale * dot;
          gpu::softmax_state_add(st, s[size_t(j)]);
        }
        const double entropy = gpu::softmax_state_entropy(st);
        rec[0] += entropy;
        rec[1] += entropy / std::log(double(i + 1));
        const double lse = gpu::softmax_state_lse(st);
        for (int e = 0; e < n_eps; ++e) {
          const double cut = lse + log_eps[size_t(e)];
          int64_t count = 0;
          for (int64_t j = 0; j <= i; ++j) count += s[size_t(j)] < cut ? 1 : 0;
          rec[gpu::kAttnStatFixed + e] += double(count);
        }
      }
    }
  });
  torch::Tensor sums = torch::zeros({H, width}, torch::kFloat64);
  double* out = sums.data_ptr<double>();
  for (int64_t t = 0; t < B * H; ++t) {
    for (int64_t c = 0; c < width; ++c) out[(t % H) * width + c] += part[size_t(t * width + c)];
  }
  return sums;
}

}  // namespace dlab
