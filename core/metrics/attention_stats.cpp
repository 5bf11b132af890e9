#include "metrics/attention_stats.h"

#include <torch/torch.h>

#include <string>

#include "common/error.h"

namespace dlab {
namespace {

// The causal entries that count, as flat indices into a (T, T) matrix: j <= i
// for queries i >= 1, row-major (M = T(T+1)/2 - 1 of them), and for each the
// weight 1/log(i+1) that turns an entry's -A log A into its share of the
// normalised entropy. Cached per T: the trainer calls this for every layer
// with the same T.
struct CausalIndex {
  int64_t T = -1;
  torch::Tensor flat;     // (M) int64
  torch::Tensor weights;  // (M, 2) float64: columns 1 and 1 / log(i+1)
};

const CausalIndex& causal_index(int64_t T) {
  thread_local CausalIndex cache;
  if (cache.T != T) {
    torch::Tensor mask = torch::ones({T, T}, torch::kBool).tril();
    mask[0][0] = false;  // query 0: one entry, probability 1, excluded
    cache.flat = mask.reshape({-1}).nonzero().squeeze(1);
    const torch::Tensor row = torch::div(cache.flat, T, /*rounding_mode=*/"floor");  // i
    const torch::Tensor norm = (row.to(torch::kFloat64) + 1).log().reciprocal();
    cache.weights = torch::stack({torch::ones_like(norm), norm}, /*dim=*/1);
    cache.T = T;
  }
  return cache;
}

}  // namespace

AttentionStats attention_stats(const torch::Tensor& probs, const std::vector<double>& eps) {
  torch::NoGradGuard no_grad;
  if (!probs.defined() || probs.dim() != 4 || probs.size(2) != probs.size(3)) {
    throw Error("attention_stats: expected probabilities of shape (B, H, T, T), got " +
                (probs.defined() ? c10::str(probs.sizes()) : std::string("an undefined tensor")));
  }
  const int64_t B = probs.size(0), H = probs.size(1), T = probs.size(2);
  if (T < 2 || B < 1 || H < 1) {
    throw Error("attention_stats: got B=" + std::to_string(B) + ", H=" + std::to_string(H) +
                ", T=" + std::to_string(T) + "; the statistics need B >= 1, H >= 1 and T >= 2");
  }
  const CausalIndex& ci = causal_index(T);
  const int64_t M = ci.flat.size(0);

  // (B, H, M): only the causal entries of queries i >= 1, whatever sits above the diagonal.
  const torch::Tensor a = probs.detach()
                              .to(torch::kFloat32)
                              .reshape({B, H, T * T})
                              .index_select(2, ci.flat.to(probs.device()));

  AttentionStats s;
  s.eps = eps;
  s.head_sparsity.assign(H, std::vector<double>(eps.size()));
  s.sparsity.assign(eps.size(), 0.0);
  const double per_head = double(B) * double(M);
  for (size_t e = 0; e < eps.size(); ++e) {
    const torch::Tensor count =
        a.lt(eps[e]).sum(std::vector<int64_t>{0, 2}).to(torch::kCPU);  // (H) int64
    const int64_t* c = count.data_ptr<int64_t>();
    int64_t total = 0;
    for (int64_t h = 0; h < H; ++h) {
      s.head_sparsity[h][e] = double(c[h]) / per_head;
      total += c[h];
    }
    s.sparsity[e] = double(total) / (per_head * double(H));
  }

  // -A log A per entry (0 log 0 = 0), summed over sequences: (H, M). The row
  // sums over j are the H_i; summing every entry (weighted by 1/log(i+1) for
  // the normalised version) and dividing by the B*(T-1) queries per head gives
  // the per-head means without materialising the (B, H, T-1) row entropies.
  const torch::Tensor plogp =
      torch::special::xlogy(a, a).sum(0).to(torch::kCPU).to(torch::kFloat64);
  const torch::Tensor head_sums = -plogp.matmul(ci.weights);  // (H, 2)
  const double queries = double(B) * double(T - 1);
  const double* hs = head_sums.data_ptr<double>();
  s.head_entropy.resize(H);
  s.head_entropy_normalized.resize(H);
  for (int64_t h = 0; h < H; ++h) {
    s.head_entropy[h] = hs[2 * h] / queries;
    s.head_entropy_normalized[h] = hs[2 * h + 1] / queries;
    s.entropy += s.head_entropy[h] / double(H);
    s.entropy_normalized += s.head_entropy_normalized[h] / double(H);
  }
  return s;
}

AttentionStats attention_stats_from_sums(const torch::Tensor& sums, int64_t B, int64_t T,
                                         const std::vector<double>& eps) {
  const size_t n_eps = eps.size();
  if (!sums.defined() || sums.dim() != 2 || sums.size(1) != int64_t(2 + n_eps) || T < 2 || B < 1) {
    throw Error("attention_stats_from_sums: expected (H, " + std::to_string(2 + n_eps) +
                ") sums over B >= 1 sequences of T >= 2 tokens, got " +
                (sums.defined() ? c10::str(sums.sizes()) : std::string("an undefined tensor")) +
                ", B=" + std::to_string(B) + ", T=" + std::to_string(T));
  }
  const torch::Tensor s64 = sums.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const double* p = s64.data_ptr<double>();
  const int64_t H = s64.size(0);
  const double entries = double(B) * double(T * (T + 1) / 2 - 1);  // per head, as causal_index
  const double queries = double(B) * double(T - 1);
  AttentionStats s;
  s.eps = eps;
  s.sparsity.assign(n_eps, 0.0);
  s.head_sparsity.assign(size_t(H), std::vector<double>(n_eps));
  s.head_entropy.resize(size_t(H));
  s.head_entropy_normalized.resize(size_t(H));
  for (int64_t h = 0; h < H; ++h) {
    const double* r = p + h * int64_t(2 + n_eps);
    s.head_entropy[size_t(h)] = r[0] / queries;
    s.head_entropy_normalized[size_t(h)] = r[1] / queries;
    s.entropy += s.head_entropy[size_t(h)] / double(H);
    s.entropy_normalized += s.head_entropy_normalized[size_t(h)] / double(H);
    for (size_t e = 0; e < n_eps; ++e) {
      s.head_sparsity[size_t(h)][e] = r[2 + e] / entries;
      s.sparsity[e] += r[2 + e] / (entries * double(H));
    }
  }
  return s;
}

}  // namespace dlab
