#include "analysis/analyzer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "common/error.h"

namespace dlab {

namespace F = torch::nn::functional;

namespace {

// Sum of the per-token cross-entropies of each row: logits (B, T, V), targets
// (B, T) -> (B) float64. Every loss of this file goes through here, so the
// cached and the naive paths add up exactly the same numbers.
torch::Tensor row_loss_sums(const torch::Tensor& logits, const torch::Tensor& targets) {
  const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  const torch::Tensor flat = logits.reshape({B * T, V}).to(torch::kFloat32);
  const torch::Tensor ce = F::cross_entropy(flat, targets.reshape({B * T}),
                                            F::CrossEntropyFuncOptions().reduction(torch::kNone));
  return ce.view({B, T}).to(torch::kFloat64).sum(1);
}

// Sum over tokens of ||x||_2 across channels: (B, T, d) -> double.
double norm_sum(const torch::Tensor& x) {
  return x.norm(2, /*dim=*/-1).to(torch::kFloat64).sum().item<double>();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Calls progress(stage, done/total) at most ~100 times.
struct Ticker {
  const AnalysisProgress& progress;
  std::string stage;
  int64_t total;
  int64_t done = 0;
  int64_t last = -1;
  void tick(int64_t n = 1) {
    done += n;
    if (!progress || total <= 0) return;
    const int64_t pct = done * 100 / total;
    if (pct != last) {
      last = pct;
      progress(stage, std::min(1.0, double(done) / double(total)));
    }
  }
};

}  // namespace

Analyzer::Analyzer(Transformer model, EvalSet eval, AnalyzerOptions options)
    : model_(std::move(model)), eval_(std::move(eval)), options_(std::move(options)) {
  if (!model_) throw Error("Analyzer: no model");
  const ModelConfig& cfg = model_->config();
  L_ = cfg.n_layers;
  d_ = cfg.d_model;
  if (options_.batch_size < 1) {
    throw Error("analysis batch size " + std::to_string(options_.batch_size) + " must be >= 1");
  }
  if (!eval_.inputs.defined() || eval_.inputs.dim() != 2 || eval_.inputs.size(0) < 1) {
    throw Error("Analyzer: the evaluation set is empty");
  }
  const int64_t max_id =
      std::max(eval_.inputs.max().item<int64_t>(), eval_.targets.max().item<int64_t>());
  if (max_id >= cfg.vocab_size) {
    throw Error("the evaluation set holds token " + std::to_string(max_id) +
                ", which is >= model.vocab_size=" + std::to_string(cfg.vocab_size));
  }
  options_.base_plan.check(L_);
  model_->eval();
  for (torch::Tensor& p : model_->parameters()) p.set_requires_grad(false);

  const int64_t N = eval_.inputs.size(0);
  for (int64_t r = 0; r < N; r += options_.batch_size) {
    const int64_t rows = std::min<int64_t>(options_.batch_size, N - r);
    batches_.push_back(Batch{r, eval_.inputs.narrow(0, r, rows), eval_.targets.narrow(0, r, rows)});
  }
}

int64_t Analyzer::cache_bytes() const {
  return int64_t(L_ + 1) * eval_.inputs.numel() * d_ * int64_t(sizeof(float));
}

bool Analyzer::cache_enabled() const {
  return !options_.naive && cache_bytes() <= options_.cache_budget_bytes;
}

LayerPlan Analyzer::compose(const LayerPlan& overlay) const {
  LayerPlan full = LayerPlan::intact(L_);
  for (int p = 0; p < L_; ++p) {
    const PlanEntry& e =
        overlay.at(p).kind != PlanEntry::Kind::Own ? overlay.at(p) : options_.base_plan.at(p);
    switch (e.kind) {
      case PlanEntry::Kind::Own:
        break;
      case PlanEntry::Kind::Skip:
        full.skip(p);
        break;
      case PlanEntry::Kind::Block:
        full.use_block(p, e.block);
        break;
      case PlanEntry::Kind::Linear:
        full.linear(p, *e.linear);
        break;
    }
  }
  return full;
}

ForwardOutput Analyzer::forward_tokens(size_t b, const LayerPlan& plan, uint32_t probes, int64_t r0,
                                       int64_t r1) {
  const torch::Tensor inputs = batches_[b].inputs.narrow(0, r0, r1 - r0);
  return model_->forward(inputs, plan,
                         ProbeRequest{probes, /*detach=*/true, /*attn_stats_eps=*/{}});
}

std::vector<torch::Tensor> Analyzer::intact_hidden(size_t b) {
  if (use_cache_) return cache_[b];
  return forward_tokens(b, options_.base_plan, kProbeResidPost, 0, batch_rows(b)).hidden;
}

void Analyzer::prepare(const AnalysisProgress& progress) {
  if (prepared_) return;
  torch::NoGradGuard no_grad;
  const int64_t N = eval_.inputs.size(0);
  use_cache_ = cache_enabled();
  row_loss_ = torch::zeros({N}, torch::kFloat64);
  const ModelConfig& cfg = model_->config();
  expert_load_.clear();
  if (cfg.is_moe())
    expert_load_.assign(size_t(L_), std::vector<double>(size_t(cfg.moe.n_experts), 0.0));
  if (options_.naive) {
    prepared_ = true;  // the naive path keeps nothing
    return;
  }
  Ticker ticker{progress, "intact pass", int64_t(batches_.size())};
  for (size_t b = 0; b < batches_.size(); ++b) {
    const int64_t B = batch_rows(b);
    ForwardOutput out =
        forward_tokens(b, options_.base_plan, use_cache_ ? kProbeResidPost : kProbeNone, 0, B);
    row_loss_.narrow(0, batches_[b].row0, B).copy_(row_loss_sums(out.logits, batches_[b].targets));
    for (int p = 0; p < L_ && cfg.is_moe(); ++p) {
      const torch::Tensor& f = out.moe[size_t(p)].expert_fraction;
      if (!f.defined()) continue;
      const torch::Tensor fd = f.to(torch::kFloat64);
      for (int e = 0; e < cfg.moe.n_experts; ++e) {
        expert_load_[size_t(p)][size_t(e)] += fd[e].item<double>() * double(B) / double(N);
      }
    }
    if (use_cache_) cache_.push_back(std::move(out.hidden));
    ticker.tick();
  }
  prepared_ = true;
}

double Analyzer::intact_loss_sum(int64_t row0, int64_t row1) {
  prepare();
  if (!options_.naive) return row_loss_.slice(0, row0, row1).sum().item<double>();
  torch::NoGradGuard no_grad;
  double sum = 0;
  for (size_t b = 0; b < batches_.size(); ++b) {
    const int64_t lo = std::max(row0, batches_[b].row0) - batches_[b].row0;
    const int64_t hi = std::min(row1, batches_[b].row0 + batch_rows(b)) - batches_[b].row0;
    if (hi <= lo) continue;
    const ForwardOutput out = forward_tokens(b, options_.base_plan, kProbeNone, lo, hi);
    sum +=
        row_loss_sums(out.logits, batches_[b].targets.narrow(0, lo, hi - lo)).sum().item<double>();
  }
  return sum;
}

double Analyzer::loss() {
  const int64_t N = eval_.inputs.size(0);
  return intact_loss_sum(0, N) / double(eval_.inputs.numel());
}

Analyzer::PlanSums Analyzer::plan_sums(const LayerPlan& overlay, int64_t row0, int64_t row1,
                                       bool change, const std::function<void(double)>& tick) {
  prepare();
  torch::NoGradGuard no_grad;
  overlay.check(L_);
  const LayerPlan full = compose(overlay);
  const int s = std::min(overlay.first_change(), L_);
  const uint32_t probes = change ? kProbeResidPost : kProbeNone;
  PlanSums sums;
  sums.change.assign(size_t(L_) + 1, 0.0);
  sums.norm.assign(size_t(L_) + 1, 0.0);
  for (size_t b = 0; b < batches_.size(); ++b) {
    const int64_t lo = std::max(row0, batches_[b].row0) - batches_[b].row0;
    const int64_t hi = std::min(row1, batches_[b].row0 + batch_rows(b)) - batches_[b].row0;
    if (hi <= lo) continue;
    ForwardOutput out;
    std::vector<torch::Tensor> ref;  // intact h_0..h_L of these rows
    if (options_.naive) {
      out = forward_tokens(b, full, probes, lo, hi);
      if (change) ref = forward_tokens(b, options_.base_plan, kProbeResidPost, lo, hi).hidden;
    } else {
      std::vector<torch::Tensor> H = intact_hidden(b);
      for (torch::Tensor& h : H) h = h.narrow(0, lo, hi - lo);
      out = model_->forward_from(H[size_t(s)], s, full,
                                 ProbeRequest{probes, /*detach=*/true, /*attn_stats_eps=*/{}});
      if (change) ref = std::move(H);
    }
    sums.loss +=
        row_loss_sums(out.logits, batches_[b].targets.narrow(0, lo, hi - lo)).sum().item<double>();
    sums.tokens += (hi - lo) * eval_.inputs.size(1);
    if (change) {
      for (int l = 0; l <= L_; ++l) {
        sums.norm[size_t(l)] += norm_sum(ref[size_t(l)]);
        const torch::Tensor& h = out.hidden[size_t(l)];
        if (h.defined()) sums.change[size_t(l)] += norm_sum(h - ref[size_t(l)]);
      }
    }
    if (tick) tick(double(hi - lo));
  }
  return sums;
}

EvalResult Analyzer::evaluate(const LayerPlan& plan) {
  const int64_t N = eval_.inputs.size(0);
  const PlanSums sums = plan_sums(plan, 0, N, /*change=*/true);
  EvalResult r;
  r.plan = plan.describe();
  r.loss = sums.loss / double(sums.tokens);
  r.delta_loss = r.loss - loss();
  r.hidden_change.assign(size_t(L_) + 1, 0.0);
  for (int l = 0; l <= L_; ++l) {
    const double mean_norm = sums.norm[size_t(l)] / double(sums.tokens);
    if (mean_norm > 1e-8) {
      r.hidden_change[size_t(l)] = sums.change[size_t(l)] / sums.norm[size_t(l)];
    }
  }
  return r;
}

CausalResult Analyzer::causal(const AnalysisProgress& progress) {
  prepare(progress);
  torch::NoGradGuard no_grad;
  const size_t L = size_t(L_);
  Matrix num(L, std::vector<double>(L, 0.0));
  std::vector<double> den(L, 0.0);
  const LayerPlan base = compose(LayerPlan{});
  Ticker ticker{progress, "causal", int64_t(batches_.size()) * L_};
  for (size_t b = 0; b < batches_.size(); ++b) {
    const int64_t B = batch_rows(b);
    if (options_.naive) {
      // Row s from scratch: the intact pass and the pass with block s skipped.
      for (int s = 0; s < L_; ++s) {
        const std::vector<torch::Tensor> H =
            forward_tokens(b, options_.base_plan, kProbeResidPost, 0, B).hidden;
        const std::vector<torch::Tensor> Hs =
            forward_tokens(b, compose(LayerPlan().skip(s)), kProbeResidPost, 0, B).hidden;
        if (s == 0) {
          for (size_t l = 0; l < L; ++l) den[l] += norm_sum(H[l + 1] - H[l]);
        }
        for (int l = s + 1; l < L_; ++l) {
          const torch::Tensor d_intact = H[size_t(l) + 1] - H[size_t(l)];
          const torch::Tensor d_skip = Hs[size_t(l) + 1] - Hs[size_t(l)];
          num[size_t(s)][size_t(l)] += norm_sum(d_skip - d_intact);
        }
        ticker.tick();
      }
      continue;
    }
    const std::vector<torch::Tensor> H = intact_hidden(b);
    std::vector<torch::Tensor> delta(L);  // Δ_l = h_{l+1} - h_l, (B, T, d)
    for (size_t l = 0; l < L; ++l) {
      delta[l] = H[l + 1] - H[l];
      den[l] += norm_sum(delta[l]);
    }
    const AttentionContext ctx = model_->block_context(H[0].size(1), H[0].options());
    for (int s = 0; s < L_; ++s) {
      // Block s skipped: h̄_{s+1} = h_s; later positions run as in the base plan.
      torch::Tensor h = H[size_t(s)];
      for (int l = s + 1; l < L_; ++l) {
        const torch::Tensor next = model_->position_step(base, l, h, ctx).h_next;
        num[size_t(s)][size_t(l)] += norm_sum((next - h) - delta[size_t(l)]);
        h = next;
      }
      ticker.tick();
    }
  }
  CausalResult r;
  r.matrix.assign(L, std::vector<double>(L, 0.0));
  const double tokens = double(eval_.inputs.numel());
  double total = 0;
  for (size_t s = 0; s < L; ++s) {
    for (size_t l = s + 1; l < L; ++l) {
      if (den[l] / tokens > 1e-8) r.matrix[s][l] = num[s][l] / den[l];
      total += r.matrix[s][l];
    }
  }
  r.score = L > 1 ? total / double(L * (L - 1) / 2) : 0.0;
  return r;
}

PermutationResult Analyzer::permutation(const AnalysisProgress& progress) {
  prepare(progress);
  torch::NoGradGuard no_grad;
  const size_t L = size_t(L_);
  const int64_t N = eval_.inputs.size(0);
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < L_; ++i) {
    for (int j = i + 1; j < L_; ++j) pairs.emplace_back(i, j);
  }
  PermutationResult r;
  r.matrix.assign(L, std::vector<double>(L, 0.0));
  Ticker ticker{progress, "permutation", int64_t(pairs.size()) * N};
  double total = 0;
  for (const auto& [i, j] : pairs) {
    // Cached: L(M) from the intact pass. Naive: recomputed for every pair.
    const double base = intact_loss_sum(0, N);
    const PlanSums s = plan_sums(LayerPlan().swap(i, j), 0, N, /*change=*/false,
                                 [&](double rows) { ticker.tick(int64_t(rows)); });
    const double p = std::abs(s.loss - base) / base;  // sums over the same tokens
    r.matrix[size_t(i)][size_t(j)] = p;
    total += p;
  }
  r.score = pairs.empty() ? 0.0 : total / double(pairs.size());
  return r;
}

torch::Tensor Analyzer::intact_hidden_rows(int l, int64_t row0, int64_t row1) {
  prepare();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (size_t b = 0; b < batches_.size(); ++b) {
    const int64_t lo = std::max(row0, batches_[b].row0) - batches_[b].row0;
    const int64_t hi = std::min(row1, batches_[b].row0 + batch_rows(b)) - batches_[b].row0;
    if (hi <= lo) continue;
    const std::vector<torch::Tensor> H =
        options_.naive
            ? forward_tokens(b, options_.base_plan, kProbeResidPost, 0, batch_rows(b)).hidden
            : intact_hidden(b);
    parts.push_back(H[size_t(l)].narrow(0, lo, hi - lo));
  }
  return torch::cat(parts, 0).contiguous();
}

LinearFit Analyzer::linear_fit(int position, int64_t row0, int64_t row1) {
  prepare();
  if (position < 0 || position >= L_) {
    throw Error("linear fit: position " + std::to_string(position) + " is outside 0.." +
                std::to_string(L_ - 1));
  }
  if (row1 < 0) row1 = eval_.inputs.size(0);
  torch::NoGradGuard no_grad;
  LinearFitAccumulator acc(d_);
  for (size_t b = 0; b < batches_.size(); ++b) {
    const int64_t lo = std::max(row0, batches_[b].row0) - batches_[b].row0;
    const int64_t hi = std::min(row1, batches_[b].row0 + batch_rows(b)) - batches_[b].row0;
    if (hi <= lo) continue;
    const std::vector<torch::Tensor> H =
        options_.naive
            ? forward_tokens(b, options_.base_plan, kProbeResidPost, 0, batch_rows(b)).hidden
            : intact_hidden(b);
    acc.add(H[size_t(position)].narrow(0, lo, hi - lo),
            H[size_t(position) + 1].narrow(0, lo, hi - lo));
  }
  return acc.solve();
}

UsefulnessResult Analyzer::usefulness(const UsefulnessOptions& options,
                                      const AnalysisProgress& progress) {
  prepare(progress);
  torch::NoGradGuard no_grad;
  const int64_t N = eval_.inputs.size(0);
  int64_t fit0 = 0, fit1 = N, eval0 = 0, eval1 = N;
  if (options.heldout_fit) {
    if (N < 2) {
      throw Error("--heldout-fit needs at least 2 evaluation windows (--samples " +
                  std::to_string(N) + ")");
    }
    fit1 = N / 2;
    eval0 = N / 2;
  }
  UsefulnessResult r;
  r.options = options;
  const size_t L = size_t(L_);
  r.ratio.assign(L, 0.0);
  r.linear_loss.assign(L, 0.0);
  r.ridge.assign(L, 0.0);
  Ticker ticker{progress, "usefulness", int64_t(L_) * ((fit1 - fit0) + (eval1 - eval0))};

  std::vector<LinearMap> maps(L);
  if (options_.naive) {
    for (int l = 0; l < L_; ++l) {
      const LinearFit fit = linear_fit(l, fit0, fit1);  // recomputes the hidden states
      maps[size_t(l)] = fit.map(options.transpose_quirk);
      r.ridge[size_t(l)] = fit.ridge;
      ticker.tick(fit1 - fit0);
    }
  } else {
    // One pass over the cached pairs feeds all L accumulators.
    // One accumulator each (copies of one would share their tensors).
    std::vector<LinearFitAccumulator> acc;
    for (size_t l = 0; l < L; ++l) acc.emplace_back(d_);
    for (size_t b = 0; b < batches_.size(); ++b) {
      const int64_t lo = std::max(fit0, batches_[b].row0) - batches_[b].row0;
      const int64_t hi = std::min(fit1, batches_[b].row0 + batch_rows(b)) - batches_[b].row0;
      if (hi <= lo) continue;
      const std::vector<torch::Tensor> H = intact_hidden(b);
      for (size_t l = 0; l < L; ++l) {
        acc[l].add(H[l].narrow(0, lo, hi - lo), H[l + 1].narrow(0, lo, hi - lo));
      }
      ticker.tick(int64_t(L) * (hi - lo));
    }
    for (size_t l = 0; l < L; ++l) {
      const LinearFit fit = acc[l].solve();
      maps[l] = fit.map(options.transpose_quirk);
      r.ridge[l] = fit.ridge;
    }
  }
  const double tokens = double((eval1 - eval0) * eval_.inputs.size(1));
  double base_sum = intact_loss_sum(eval0, eval1);
  r.base_loss = base_sum / tokens;
  for (int l = 0; l < L_; ++l) {
    if (options_.naive) base_sum = intact_loss_sum(eval0, eval1);  // nothing is kept
    const PlanSums s =
        plan_sums(LayerPlan().linear(l, maps[size_t(l)]), eval0, eval1,
                  /*change=*/false, [&](double rows) { ticker.tick(int64_t(rows)); });
    r.linear_loss[size_t(l)] = s.loss / tokens;
    r.ratio[size_t(l)] = s.loss / base_sum;
    if (r.ratio[size_t(l)] > 1.0 + options.tau) ++r.useful_layers;
  }
  r.score = double(r.useful_layers) / double(L_);
  return r;
}

DepthSummaries Analyzer::summaries(const AnalysisProgress& progress) {
  prepare(progress);
  torch::NoGradGuard no_grad;
  const size_t L = size_t(L_);
  const int64_t N = eval_.inputs.size(0);
  const double tokens = double(eval_.inputs.numel());
  std::vector<double> bi(L, 0.0), var(L + 1, 0.0), lens(L + 1, 0.0);
  Matrix ang(L + 1, std::vector<double>(L + 1, 0.0));
  std::vector<torch::Tensor> mean_h(L + 1);
  const ModelConfig& cfg = model_->config();
  Matrix load = expert_load_;
  if (options_.naive && cfg.is_moe()) {
    load.assign(L, std::vector<double>(size_t(cfg.moe.n_experts), 0.0));
  }
  Ticker ticker{progress, "summaries", int64_t(batches_.size()) + int64_t(L) - 1};
  for (size_t b = 0; b < batches_.size(); ++b) {
    const int64_t B = batch_rows(b);
    std::vector<torch::Tensor> H;
    if (options_.naive) {
      ForwardOutput out = forward_tokens(b, options_.base_plan, kProbeResidPost, 0, B);
      H = std::move(out.hidden);
      for (size_t p = 0; p < L && cfg.is_moe(); ++p) {
        if (!out.moe[p].expert_fraction.defined()) continue;
        const torch::Tensor fd = out.moe[p].expert_fraction.to(torch::kFloat64);
        for (int e = 0; e < cfg.moe.n_experts; ++e) {
          load[p][size_t(e)] += fd[e].item<double>() * double(B) / double(N);
        }
      }
    } else {
      H = intact_hidden(b);
    }
    for (size_t l = 0; l < L; ++l) {
      bi[l] += F::cosine_similarity(H[l], H[l + 1], F::CosineSimilarityFuncOptions().dim(-1))
                   .to(torch::kFloat64)
                   .sum()
                   .item<double>();
    }
    for (size_t a = 0; a <= L; ++a) {
      var[a] += H[a].var(/*dim=*/-1, /*unbiased=*/true).to(torch::kFloat64).sum().item<double>();
      const torch::Tensor hsum = H[a].to(torch::kFloat64).sum(torch::IntArrayRef{0, 1});  // (d)
      mean_h[a] = mean_h[a].defined() ? mean_h[a] + hsum : hsum;
      for (size_t c = a + 1; c <= L; ++c) {
        const torch::Tensor cos =
            F::cosine_similarity(H[a], H[c], F::CosineSimilarityFuncOptions().dim(-1));
        ang[a][c] +=
            (torch::acos(cos.clamp(-1.0, 1.0)) / M_PI).to(torch::kFloat64).sum().item<double>();
      }
      const torch::Tensor logits = model_->lm_head(model_->model->norm(H[a]));
      lens[a] += row_loss_sums(logits, batches_[b].targets).sum().item<double>();
    }
    ticker.tick();
  }
  DepthSummaries s;
  s.block_influence.resize(L);
  for (size_t l = 0; l < L; ++l) s.block_influence[l] = 1.0 - bi[l] / tokens;
  s.residual_variance.resize(L + 1);
  s.logit_lens_loss.resize(L + 1);
  s.angular_distance.assign(L + 1, std::vector<double>(L + 1, 0.0));
  s.layer_similarity.assign(L + 1, std::vector<double>(L + 1, 1.0));
  for (size_t a = 0; a <= L; ++a) {
    s.residual_variance[a] = var[a] / tokens;
    s.logit_lens_loss[a] = lens[a] / tokens;
    for (size_t c = a + 1; c <= L; ++c) {
      s.angular_distance[a][c] = s.angular_distance[c][a] = ang[a][c] / tokens;
      const double dot = (mean_h[a] * mean_h[c]).sum().item<double>();
      const double na = mean_h[a].norm().item<double>(), nc = mean_h[c].norm().item<double>();
      const double cos = na > 0 && nc > 0 ? dot / (na * nc) : 0.0;
      s.layer_similarity[a][c] = s.layer_similarity[c][a] = cos;
    }
  }
  s.expert_load = load;

  // Loss after removing the k blocks of lowest block influence.
  s.removal_order.resize(L);
  std::iota(s.removal_order.begin(), s.removal_order.end(), 0);
  std::stable_sort(s.removal_order.begin(), s.removal_order.end(), [&](int a, int c) {
    return s.block_influence[size_t(a)] < s.block_influence[size_t(c)];
  });
  LayerPlan removed;
  for (size_t k = 1; k < L; ++k) {
    removed.skip(s.removal_order[k - 1]);
    const PlanSums sums = plan_sums(removed, 0, N, /*change=*/false);
    s.loss_after_removal.push_back(sums.loss / double(sums.tokens));
    ticker.tick();
  }
  return s;
}

JacobianLayers Analyzer::jacobians(int samples, const AnalysisProgress& progress) {
  prepare(progress);
  const int64_t N = eval_.inputs.size(0);
  if (samples < 1 || samples > N) {
    throw Error("--jacobian-samples " + std::to_string(samples) + ": must be in 1..--samples (" +
                std::to_string(N) + ")");
  }
  JacobianLayers r;
  r.samples = samples;
  Ticker ticker{progress, "jacobian", L_};
  for (int l = 0; l < L_; ++l) {
    const PlanEntry& e = options_.base_plan.at(l);
    torch::Tensor J;
    if (e.kind == PlanEntry::Kind::Own) {
      const torch::Tensor h = intact_hidden_rows(l, 0, samples);  // (S, T, d)
      J = jacobian_rowwise(model_, l, h, options_.jacobian_vjp_batch).matrix;
    } else if (e.kind == PlanEntry::Kind::Skip) {
      J = torch::eye(d_, torch::kFloat32);
    } else if (e.kind == PlanEntry::Kind::Linear) {
      // y = x W (+ b): dy_i/dx_j = W[j][i], so J = W; the transposed map gives Wᵀ.
      const torch::Tensor W = e.linear->weight.to(torch::kFloat32);
      J = (e.linear->transposed ? W.t() : W).contiguous();
    } else {
      throw Error("Jacobian of position " + std::to_string(l) +
                  ": the base plan runs another block there, which the Jacobian does not support");
    }
    r.summary.push_back(jacobian_summarize(J));
    r.matrix.push_back(J);
    ticker.tick();
  }
  return r;
}

TokenJacobians Analyzer::token_jacobians(int sequence, int token,
                                         const AnalysisProgress& progress) {
  prepare(progress);
  const int64_t N = eval_.inputs.size(0), T = eval_.inputs.size(1);
  if (sequence < 0 || sequence >= N) {
    throw Error("--token-jacobian: sequence " + std::to_string(sequence) + " is outside 0.." +
                std::to_string(N - 1));
  }
  if (token < 0 || token >= T) {
    throw Error("--token-jacobian: token " + std::to_string(token) + " is outside 0.." +
                std::to_string(T - 1));
  }
  TokenJacobians r;
  r.sequence = sequence;
  r.token = token;
  Ticker ticker{progress, "token jacobian", L_};
  for (int l = 0; l < L_; ++l) {
    const PlanEntry& e = options_.base_plan.at(l);
    if (e.kind != PlanEntry::Kind::Own) {
      throw Error("per-token Jacobian of position " + std::to_string(l) +
                  ": only positions that run their own block are supported");
    }
    const torch::Tensor h = intact_hidden_rows(l, sequence, sequence + 1);  // (1, T, d)
    JacobianResult j = jacobian_token(model_, l, h, /*b=*/0, token);
    r.summary.push_back(j.summary);
    r.matrix.push_back(j.matrix);
    ticker.tick();
  }
  return r;
}

AnalysisResult Analyzer::analyze(const AnalysisRequest& request, const AnalysisProgress& progress) {
  using clock = std::chrono::steady_clock;
  AnalysisResult r;
  r.n_layers = L_;
  r.d_model = int(d_);
  r.eval = eval_set_info(eval_);
  auto t0 = clock::now();
  prepare(progress);
  r.loss = loss();
  r.seconds["intact"] = seconds_since(t0);
  if (request.summaries) {
    t0 = clock::now();
    r.summaries = summaries(progress);
    r.seconds["summaries"] = seconds_since(t0);
  }
  if (request.causal) {
    t0 = clock::now();
    r.causal = causal(progress);
    r.seconds["causal"] = seconds_since(t0);
  }
  if (request.permutation) {
    t0 = clock::now();
    r.permutation = permutation(progress);
    r.seconds["permutation"] = seconds_since(t0);
  }
  if (request.usefulness) {
    t0 = clock::now();
    r.usefulness = usefulness(request.usefulness_options, progress);
    r.seconds["usefulness"] = seconds_since(t0);
  }
  if (request.jacobian) {
    t0 = clock::now();
    r.jacobian = jacobians(request.jacobian_samples, progress);
    r.seconds["jacobian"] = seconds_since(t0);
  }
  if (request.token_sequence >= 0) {
    t0 = clock::now();
    r.token_jacobian = token_jacobians(request.token_sequence, request.token_position, progress);
    r.seconds["token_jacobian"] = seconds_since(t0);
  }
  return r;
}

}  // namespace dlab
