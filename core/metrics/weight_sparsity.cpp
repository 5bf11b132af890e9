#include "metrics/weight_sparsity.h"

#include <torch/torch.h>

#include <cctype>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "kernels/fused_ops.h"

namespace dlab {
namespace {

constexpr char kLayerPrefix[] = "model.layers.";
constexpr size_t kLayerPrefixLen = sizeof(kLayerPrefix) - 1;

// Length of "model.layers.{i}." at the start of name, or 0 when it is not there.
size_t layer_prefix_length(const std::string& name, int* index) {
  if (name.compare(0, kLayerPrefixLen, kLayerPrefix) != 0) return 0;
  size_t pos = kLayerPrefixLen;
  int64_t value = 0;
  while (pos < name.size() && std::isdigit(static_cast<unsigned char>(name[pos]))) {
    value = value * 10 + (name[pos] - '0');
    if (value > std::numeric_limits<int>::max()) return 0;
    ++pos;
  }
  if (pos == kLayerPrefixLen || pos >= name.size() || name[pos] != '.') return 0;
  *index = int(value);
  return pos + 1;
}

bool starts_with(const std::string& s, size_t at, const std::string& prefix) {
  return s.compare(at, prefix.size(), prefix) == 0;
}

// Entries of one matrix are processed in chunks so the temporaries (|w|,
// log10 |w|, bin indices as int64) stay small even for a 45M-entry FFN.
constexpr int64_t kChunk = int64_t(1) << 20;

}  // namespace

int block_index(const std::string& hf_name) {
  int index = -1;
  return layer_prefix_length(hf_name, &index) > 0 ? index : -1;
}

bool is_block_weight(const std::string& hf_name) {
  int index = -1;
  const size_t at = layer_prefix_length(hf_name, &index);
  if (at == 0) return false;
  size_t body = 0;  // length of "self_attn." or "mlp."
  if (starts_with(hf_name, at, "self_attn.")) {
    body = at + 10;
  } else if (starts_with(hf_name, at, "mlp.")) {
    body = at + 4;
  } else {
    return false;
  }
  // At least one character of module name between the prefix and ".weight".
  const std::string suffix = ".weight";
  return hf_name.size() > body + suffix.size() &&
         hf_name.compare(hf_name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

WeightSparsity weight_sparsity(
    const std::vector<std::pair<std::string, torch::Tensor>>& named_params, int n_layers,
    const std::vector<double>& eps, int hist_bins, double hist_lo, double hist_hi, bool fused) {
  torch::NoGradGuard no_grad;
  if (n_layers < 0) {
    throw Error("weight_sparsity: n_layers is " + std::to_string(n_layers) + "; must be >= 0");
  }
  if (hist_bins < 1 || !std::isfinite(hist_lo) || !std::isfinite(hist_hi) || hist_lo >= hist_hi) {
    throw Error("weight_sparsity: histogram of " + std::to_string(hist_bins) + " bins over [" +
                std::to_string(hist_lo) + ", " + std::to_string(hist_hi) +
                "]; needs >= 1 bin and a finite range with lo < hi");
  }
  const size_t E = eps.size();
  std::vector<std::vector<double>> below(n_layers, std::vector<double>(E, 0.0));  // counts
  std::vector<double> entries(n_layers, 0.0);
  torch::Tensor hist = torch::zeros({hist_bins}, torch::kInt64);
  const double bins_per_unit = double(hist_bins) / (hist_hi - hist_lo);

  for (const auto& [name, param] : named_params) {
    if (!param.defined() || param.dim() != 2 || !is_block_weight(name)) continue;
    const int b = block_index(name);
    if (b >= n_layers) {
      throw Error("weight_sparsity: tensor '" + name + "' belongs to block " + std::to_string(b) +
                  " but the model has n_layers = " + std::to_string(n_layers) + " (blocks 0.." +
                  std::to_string(n_layers - 1) + ")");
    }
    if (fused && E <= size_t(kernels::kMaxThresholds)) {  // else the ATen path below
      const kernels::MagnitudeCounts m =
          kernels::magnitude_counts(param, eps, hist_bins, hist_lo, hist_hi);
      for (size_t e = 0; e < E; ++e) below[b][e] += double(m.below[e]);
      int64_t* h = hist.data_ptr<int64_t>();
      for (int k = 0; k < hist_bins; ++k) h[k] += m.hist[size_t(k)];
      entries[b] += double(m.entries);
      continue;
    }
    const torch::Tensor flat = param.detach().reshape({-1});
    for (int64_t start = 0; start < flat.numel(); start += kChunk) {
      const int64_t len = std::min(kChunk, flat.numel() - start);
      torch::Tensor a = flat.narrow(0, start, len).to(torch::kFloat32).abs();  // |w|, own copy
      for (size_t e = 0; e < E; ++e) {
        below[b][e] += double(a.lt(eps[e]).sum().item<int64_t>());
      }
      // Bin k holds lo + k/bins_per_unit <= log10|w| < lo + (k+1)/bins_per_unit; log10 0 =
      // -inf and anything below lo land in bin 0, anything above hi in the last bin.
      torch::Tensor pos = a.log10_().sub_(hist_lo).mul_(bins_per_unit).floor_();
      pos.clamp_(0, hist_bins - 1);
      // NaN weights (a diverged run) stay NaN through clamp: they go to an extra
      // bin that is dropped, so they count as entries but in no histogram bin.
      pos.masked_fill_(pos.isnan(), double(hist_bins));
      hist += torch::bincount(pos.to(torch::kInt64), /*weights=*/{}, /*minlength=*/hist_bins + 1)
                  .narrow(0, 0, hist_bins)
                  .to(torch::kCPU);
      entries[b] += double(len);
    }
  }

  WeightSparsity w;
  w.eps = eps;
  w.per_block.assign(n_layers, std::vector<double>(E, std::numeric_limits<double>::quiet_NaN()));
  w.overall.assign(E, std::numeric_limits<double>::quiet_NaN());
  double total_entries = 0;
  std::vector<double> total_below(E, 0.0);
  for (int b = 0; b < n_layers; ++b) {
    total_entries += entries[b];
    for (size_t e = 0; e < E; ++e) {
      total_below[e] += below[b][e];
      if (entries[b] > 0) w.per_block[b][e] = below[b][e] / entries[b];
    }
  }
  if (total_entries > 0) {
    for (size_t e = 0; e < E; ++e) w.overall[e] = total_below[e] / total_entries;
  }
  w.hist_edges.resize(hist_bins + 1);
  for (int k = 0; k <= hist_bins; ++k) {
    w.hist_edges[k] = hist_lo + (hist_hi - hist_lo) * double(k) / double(hist_bins);
  }
  const int64_t* h = hist.data_ptr<int64_t>();
  w.hist_counts.assign(h, h + hist_bins);
  return w;
}

}  // namespace dlab
