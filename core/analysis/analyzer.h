// The layer-effectiveness analyses of METRICS.md §3 on one model and one
// evaluation set, with the intact model's hidden states cached.
//
// Caching (docs/analysis.md): the first call runs the (base-plan) model once over
// the evaluation set in batches of `batch_size` sequences and keeps, per batch,
// h_0..h_L and the per-token losses. That takes (L+1) * N * T * d * 4 bytes
// (demo model, N 64, T 128: 29 MB; L 16, d 128, N 32, T 256: 71 MB). When this
// exceeds `cache_budget_bytes` nothing is kept and every analysis recomputes the
// intact hidden states of a batch when it reaches that batch (one extra forward
// pass per batch per analysis; the same numbers come out). Either way the
// memory in flight is one batch: (L+1) * B * T * d floats of hidden states plus
// B * T * V floats of logits.
//
// Every analysis loops over batches; within a batch it reuses the intact
// states: a plan whose first change is at position s restarts from the cached
// h_s (forward_from); the causal rows restart from h_s with block s skipped and
// stop before the LM head; the least-squares fits accumulate their normal
// equations from the cached (h_l, h_{l+1}) pairs; the summaries read the cache.
//
// The cache assumes the weights do not change: build a new Analyzer for other
// weights. An Analyzer is not thread-safe (one per thread, or a lock around it).
//
// `naive` switches all of that off (tests, `dlab bench analyze`): every number
// is computed from the tokens with full forward passes, and every matrix entry
// re-runs the intact pass it compares against.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/eval_set.h"
#include "analysis/jacobian.h"
#include "analysis/linear_fit.h"
#include "analysis/result.h"
#include "model/layer_plan.h"
#include "model/transformer.h"

namespace dlab {

struct AnalyzerOptions {
  int batch_size = 8;                             // sequences per forward pass
  int64_t cache_budget_bytes = int64_t(2) << 30;  // hidden-state cache limit; 0 = never cache
  bool naive = false;                             // recompute everything (no reuse at all)
  int jacobian_vjp_batch = 32;                    // output channels per batched VJP
  // The model analysed is the model under this plan ("intact" = the base plan);
  // plans given to evaluate() are applied on top of it (their non-Own entries win).
  LayerPlan base_plan;
};

// What evaluate() returns: the loss under a plan and how far each hidden state
// moved from the intact (base-plan) model.
struct EvalResult {
  double loss = 0;                    // mean token cross-entropy under the plan
  double delta_loss = 0;              // loss - L(M)
  std::vector<double> hidden_change;  // (L+1) mean_tokens ||h_l(plan) - h_l|| / mean_tokens ||h_l||
  std::string plan;                   // plan.describe()
};

// What analyze() computes.
struct AnalysisRequest {
  bool causal = true;
  bool permutation = true;
  bool usefulness = true;
  bool jacobian = true;
  bool summaries = true;
  UsefulnessOptions usefulness_options;
  int jacobian_samples = 4;  // sequences (the first ones of the evaluation set)
  int token_sequence = -1;   // >= 0: also the per-token Jacobians of (sequence, token)
  int token_position = -1;
};

// stage ("intact pass", "causal", ...), fraction within the stage in [0, 1].
using AnalysisProgress = std::function<void(const std::string& stage, double fraction)>;

class Analyzer {
 public:
  // Puts the model in eval mode and turns requires_grad off on its parameters.
  // Throws dlab::Error when the evaluation set does not fit the model (token
  // ids >= vocab_size) or the base plan is invalid.
  Analyzer(Transformer model, EvalSet eval, AnalyzerOptions options = {});

  // Runs the intact pass (and fills the cache) now instead of at first use.
  void prepare(const AnalysisProgress& progress = {});

  const EvalSet& eval_set() const { return eval_; }
  const AnalyzerOptions& options() const { return options_; }
  Transformer& model() { return model_; }
  int n_layers() const { return L_; }
  // Bytes the hidden-state cache takes ((L+1) N T d 4), and whether it is used.
  int64_t cache_bytes() const;
  bool cache_enabled() const;

  double loss();  // L(M): the base-plan model's mean token loss on the evaluation set

  // Loss under `plan` (on top of the base plan) and the hidden-state change
  // per layer. The GUI's interactive primitive.
  EvalResult evaluate(const LayerPlan& plan);

  CausalResult causal(const AnalysisProgress& progress = {});
  PermutationResult permutation(const AnalysisProgress& progress = {});
  // The least-squares map of the block at `position` over windows [row0, row1)
  // (all windows when row1 < 0), from (h_l, h_{l+1}) of the base-plan model.
  LinearFit linear_fit(int position, int64_t row0 = 0, int64_t row1 = -1);
  UsefulnessResult usefulness(const UsefulnessOptions& options = {},
                              const AnalysisProgress& progress = {});
  DepthSummaries summaries(const AnalysisProgress& progress = {});
  // Row-wise Jacobians of every position over the first `samples` sequences.
  JacobianLayers jacobians(int samples, const AnalysisProgress& progress = {});
  // dy_t/dx_t of token `token` of sequence `sequence`, every position.
  TokenJacobians token_jacobians(int sequence, int token, const AnalysisProgress& progress = {});

  // Everything the request asks for, with wall times.
  AnalysisResult analyze(const AnalysisRequest& request, const AnalysisProgress& progress = {});

 private:
  struct Batch {
    int64_t row0 = 0;               // first evaluation window of the batch
    torch::Tensor inputs, targets;  // (B, T)
  };
  // Sums over a set of tokens, combined into means at the end.
  struct PlanSums {
    double loss = 0;
    int64_t tokens = 0;
    std::vector<double> change;  // (L+1) sum_tokens ||h_l(plan) - h_l||
    std::vector<double> norm;    // (L+1) sum_tokens ||h_l||
  };

  LayerPlan compose(const LayerPlan& overlay) const;  // base entries where overlay is Own
  int64_t batch_rows(size_t b) const { return batches_[b].inputs.size(0); }
  // Intact (base-plan) hidden states h_0..h_L of batch b, (B, T, d) each.
  std::vector<torch::Tensor> intact_hidden(size_t b);
  // Full forward from the tokens of batch b, rows [r0, r1) of the batch.
  ForwardOutput forward_tokens(size_t b, const LayerPlan& plan, uint32_t probes, int64_t r0,
                               int64_t r1);
  // Loss sums (and, with `change`, hidden-change sums) of `overlay` over windows [row0, row1).
  PlanSums plan_sums(const LayerPlan& overlay, int64_t row0, int64_t row1, bool change,
                     const std::function<void(double)>& tick = {});
  // Sum of the intact per-token losses over windows [row0, row1).
  double intact_loss_sum(int64_t row0, int64_t row1);
  // h_l of the intact model for windows [row0, row1), (rows, T, d).
  torch::Tensor intact_hidden_rows(int l, int64_t row0, int64_t row1);

  Transformer model_;
  EvalSet eval_;
  AnalyzerOptions options_;
  int L_ = 0;
  int64_t d_ = 0;
  std::vector<Batch> batches_;
  bool prepared_ = false;
  bool use_cache_ = false;
  std::vector<std::vector<torch::Tensor>> cache_;  // [batch][l] (B, T, d)
  torch::Tensor row_loss_;                         // (N) float64 per-window loss sums
  Matrix expert_load_;                             // (L, E)
};

}  // namespace dlab
