// Results of the layer-effectiveness analyses of one checkpoint, and their two
// serialisations: JSON (stable keys, docs/analysis.md) and the analysis file
// runs/<name>/analysis/step-<N>.h5 (store/analysis_file.h).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analysis/eval_set.h"
#include "analysis/jacobian.h"
#include "store/analysis_file.h"

namespace dlab {

using Matrix = std::vector<std::vector<double>>;  // row-major, rows of equal length

// The evaluation set as described in results (JSON keys samples, seq_len, seed | first, source).
struct EvalSetInfo {
  int samples = 0;
  int seq_len = 0;
  EvalWindows windows = EvalWindows::First;
  uint64_t seed = 0;
  std::string source;
};
EvalSetInfo eval_set_info(const EvalSet& set);
bool operator==(const EvalSetInfo& a, const EvalSetInfo& b);

struct CausalResult {
  Matrix matrix;     // (L, L) C[s][l], zero for l <= s
  double score = 0;  // mean over the L(L-1)/2 pairs s < l (0 when L = 1)
};

struct PermutationResult {
  Matrix matrix;     // (L, L) P[i][j] for i < j, zero elsewhere
  double score = 0;  // mean over pairs i < j (0 when L = 1)
};

struct UsefulnessOptions {
  double tau = 0.1;              // useful when ratio > 1 + tau
  bool transpose_quirk = false;  // evaluate x Wᵀ + b as the published script does
  bool heldout_fit = false;      // fit on the first half of the windows, evaluate on the rest
};

struct UsefulnessResult {
  std::vector<double> ratio;        // (L) L(M_lin) / L(M)
  std::vector<double> linear_loss;  // (L) L(M_lin)
  std::vector<double> ridge;        // (L) ridge the fit needed (0 = none)
  double base_loss = 0;             // L(M) on the evaluated windows
  int useful_layers = 0;
  double score = 0;  // useful_layers / L
  UsefulnessOptions options;
};

struct JacobianLayers {
  int samples = 0;                       // sequences the Jacobians were averaged over
  std::vector<JacobianSummary> summary;  // (L)
  std::vector<torch::Tensor> matrix;     // (L) x (d, d) float32, J[j][i]
};

// Per-position Jacobian dy_t/dx_t of one token, every layer.
struct TokenJacobians {
  int sequence = 0;
  int token = 0;
  std::vector<JacobianSummary> summary;  // (L)
  std::vector<torch::Tensor> matrix;     // (L) x (d, d)
};

struct DepthSummaries {
  std::vector<double> block_influence;  // (L)   1 - mean_tokens cos(h_l, h_{l+1})
  Matrix angular_distance;              // (L+1, L+1) mean_tokens arccos(cos(h_a, h_b)) / pi
  std::vector<double> logit_lens_loss;  // (L+1) loss of LMHead(RMSNorm_f(h_l))
  std::vector<int> removal_order;       // (L)   blocks by increasing BI (ties: lower index)
  std::vector<double>
      loss_after_removal;   // (L-1) loss with the k lowest-BI blocks skipped, k=1..L-1
  Matrix layer_similarity;  // (L+1, L+1) cosine of the token-mean hidden states
  std::vector<double> residual_variance;  // (L+1) mean_tokens unbiased variance across channels
  Matrix expert_load;  // (L, E) fraction of routed slots per expert; empty if dense
};

struct AnalysisResult {
  std::string checkpoint;  // "" when not from a file
  int64_t step = -1;
  int n_layers = 0;
  int d_model = 0;
  EvalSetInfo eval;
  double loss = 0;  // L(M) of the (base-plan) model on the evaluation set
  std::optional<CausalResult> causal;
  std::optional<PermutationResult> permutation;
  std::optional<UsefulnessResult> usefulness;
  std::optional<JacobianLayers> jacobian;
  std::optional<TokenJacobians> token_jacobian;
  std::optional<DepthSummaries> summaries;
  std::map<std::string, double> seconds;  // wall time per analysis ("causal", ...), informative
};

// JSON text with the keys of docs/analysis.md; keys of analyses that were not
// run are absent. The d x d matrices go to the analysis file only.
std::string analysis_to_json(const AnalysisResult& r, int indent = 2);

// The analysis file content: one dataset per numeric key, the eval-set
// description and options as attributes, Jacobians under /jacobian/<l> and
// /jacobian_token/<l>.
AnalysisFileData analysis_to_file(const AnalysisResult& r);
// The inverse; dlab::Error naming the key when an array has the wrong shape.
AnalysisResult analysis_from_file(const AnalysisFileData& f);

// Copies into `r` each analysis that `older` has and `r` lacks, when both were
// computed on the same checkpoint step and evaluation set (returns whether
// anything was copied). Lets `dlab analyze --what jacobian` add to a file that
// already holds the scores.
bool analysis_merge(AnalysisResult& r, const AnalysisResult& older);

}  // namespace dlab
