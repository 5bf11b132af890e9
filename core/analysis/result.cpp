#include "analysis/result.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace dlab {

using nlohmann::json;

EvalSetInfo eval_set_info(const EvalSet& set) {
  EvalSetInfo info;
  info.samples = set.samples;
  info.seq_len = set.seq_len;
  info.windows = set.windows;
  info.seed = set.seed;
  info.source = set.source;
  return info;
}

bool operator==(const EvalSetInfo& a, const EvalSetInfo& b) {
  return a.samples == b.samples && a.seq_len == b.seq_len && a.windows == b.windows &&
         (a.windows == EvalWindows::First || a.seed == b.seed) && a.source == b.source;
}

namespace {

// ---- JSON ------------------------------------------------------------------------

json summary_field(const std::vector<JacobianSummary>& s, double JacobianSummary::*field) {
  json out = json::array();
  for (const JacobianSummary& x : s) out.push_back(x.*field);
  return out;
}

void jacobian_json(json& j, const std::string& prefix, const std::vector<JacobianSummary>& s) {
  j[prefix + "deviation"] = summary_field(s, &JacobianSummary::deviation);
  j[prefix + "offdiag"] = summary_field(s, &JacobianSummary::offdiag);
  j[prefix + "diag_mean"] = summary_field(s, &JacobianSummary::diag_mean);
  j[prefix + "diag_std"] = summary_field(s, &JacobianSummary::diag_std);
  j[prefix + "spectral"] = summary_field(s, &JacobianSummary::spectral);
  j[prefix + "frobenius"] = summary_field(s, &JacobianSummary::frobenius);
}

// ---- file ------------------------------------------------------------------------

Array scalar_array(const std::string& name, double v) { return Array::from_f64(name, {}, &v); }

Array vector_array(const std::string& name, const std::vector<double>& v) {
  return Array::from_f64(name, {int64_t(v.size())}, v.data());
}

Array matrix_array(const std::string& name, const Matrix& m) {
  const int64_t rows = int64_t(m.size()), cols = rows ? int64_t(m[0].size()) : 0;
  std::vector<double> flat;
  flat.reserve(size_t(rows * cols));
  for (const auto& row : m) {
    if (int64_t(row.size()) != cols) throw Error("analysis: matrix '" + name + "' is ragged");
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return Array::from_f64(name, {rows, cols}, flat.data());
}

Array tensor_array(const std::string& name, const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return Array::from_f32(name, std::vector<int64_t>(c.sizes().begin(), c.sizes().end()),
                         c.data_ptr<float>());
}

void summaries_to_arrays(std::vector<Array>& out, const std::string& prefix,
                         const std::vector<JacobianSummary>& s) {
  auto field = [&](const char* name, double JacobianSummary::*f) {
    std::vector<double> v;
    for (const JacobianSummary& x : s) v.push_back(x.*f);
    out.push_back(vector_array(prefix + name, v));
  };
  field("deviation", &JacobianSummary::deviation);
  field("offdiag", &JacobianSummary::offdiag);
  field("diag_mean", &JacobianSummary::diag_mean);
  field("diag_std", &JacobianSummary::diag_std);
  field("spectral", &JacobianSummary::spectral);
  field("frobenius", &JacobianSummary::frobenius);
}

// Typed access to what was read.
class ArrayIndex {
 public:
  explicit ArrayIndex(const std::vector<Array>& arrays) {
    for (const Array& a : arrays) by_name_[a.name] = &a;
  }
  bool has(const std::string& name) const { return by_name_.count(name) > 0; }
  const Array& get(const std::string& name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) throw Error("analysis file lacks the dataset /" + name);
    return *it->second;
  }
  std::vector<double> values(const std::string& name, std::vector<int64_t> shape) const {
    const Array& a = get(name);
    if (a.shape != shape) {
      std::string want, got;
      for (int64_t d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (int64_t d : a.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      throw Error("analysis file: /" + name + " has shape [" + got + "], expected [" + want + "]");
    }
    std::vector<double> v(size_t(a.numel()));
    if (a.dtype == DType::F64) {
      std::memcpy(v.data(), a.f64(), v.size() * sizeof(double));
    } else if (a.dtype == DType::I64) {
      for (size_t i = 0; i < v.size(); ++i) v[i] = double(a.i64()[i]);
    } else if (a.dtype == DType::F32) {
      for (size_t i = 0; i < v.size(); ++i) v[i] = a.f32()[i];
    } else {
      throw Error("analysis file: /" + name + " is not numeric");
    }
    return v;
  }
  double scalar(const std::string& name) const { return values(name, {})[0]; }
  std::vector<double> vec(const std::string& name, int64_t n) const { return values(name, {n}); }
  Matrix mat(const std::string& name, int64_t rows, int64_t cols) const {
    const std::vector<double> flat = values(name, {rows, cols});
    Matrix m(static_cast<size_t>(rows), std::vector<double>(static_cast<size_t>(cols)));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) m[size_t(r)][size_t(c)] = flat[size_t(r * cols + c)];
    }
    return m;
  }
  Matrix mat_any_cols(const std::string& name, int64_t rows) const {
    const Array& a = get(name);
    return mat(name, rows, a.shape.size() == 2 ? a.shape[1] : -1);
  }
  torch::Tensor tensor(const std::string& name, int64_t d) const {
    const std::vector<double> flat = values(name, {d, d});
    return torch::tensor(flat, torch::kFloat64).view({d, d}).to(torch::kFloat32);
  }
  std::vector<JacobianSummary> summaries(const std::string& prefix, int64_t L) const {
    const auto dev = vec(prefix + "deviation", L), off = vec(prefix + "offdiag", L),
               dm = vec(prefix + "diag_mean", L), ds = vec(prefix + "diag_std", L),
               sp = vec(prefix + "spectral", L), fr = vec(prefix + "frobenius", L);
    std::vector<JacobianSummary> out(static_cast<size_t>(L));
    for (size_t l = 0; l < size_t(L); ++l) {
      out[l].deviation = dev[l];
      out[l].offdiag = off[l];
      out[l].diag_mean = dm[l];
      out[l].diag_std = ds[l];
      out[l].spectral = sp[l];
      out[l].frobenius = fr[l];
    }
    return out;
  }

 private:
  std::map<std::string, const Array*> by_name_;
};

template <typename M>
int64_t map_int(const M& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) throw Error("analysis file lacks the attribute '" + key + "'");
  return it->second;
}

}  // namespace

std::string analysis_to_json(const AnalysisResult& r, int indent) {
  json j;
  j["format"] = "depthlab-analysis";
  j["format_version"] = 1;
  j["checkpoint"] = r.checkpoint;
  j["step"] = r.step;
  j["n_layers"] = r.n_layers;
  j["d_model"] = r.d_model;
  j["samples"] = r.eval.samples;
  j["seq_len"] = r.eval.seq_len;
  if (r.eval.windows == EvalWindows::Random) {
    j["seed"] = r.eval.seed;
  } else {
    j["first"] = r.eval.samples;
  }
  j["source"] = r.eval.source;
  j["loss"] = r.loss;
  if (r.causal) {
    j["causal_matrix"] = r.causal->matrix;
    j["causal_score"] = r.causal->score;
  }
  if (r.permutation) {
    j["permutation_matrix"] = r.permutation->matrix;
    j["permutation_score"] = r.permutation->score;
  }
  if (r.usefulness) {
    const UsefulnessResult& u = *r.usefulness;
    j["usefulness_ratio"] = u.ratio;
    j["useful_layers"] = u.useful_layers;
    j["usefulness_score"] = u.score;
    j["linear_loss"] = u.linear_loss;
    j["usefulness_base_loss"] = u.base_loss;
    j["linear_fit_ridge"] = u.ridge;
    j["tau"] = u.options.tau;
    j["transpose_quirk"] = u.options.transpose_quirk;
    j["heldout_fit"] = u.options.heldout_fit;
  }
  if (r.jacobian) {
    jacobian_json(j, "jacobian_", r.jacobian->summary);
    j["jacobian_samples"] = r.jacobian->samples;
  }
  if (r.token_jacobian) {
    jacobian_json(j, "token_jacobian_", r.token_jacobian->summary);
    j["token_jacobian_sequence"] = r.token_jacobian->sequence;
    j["token_jacobian_token"] = r.token_jacobian->token;
  }
  if (r.summaries) {
    const DepthSummaries& s = *r.summaries;
    j["block_influence"] = s.block_influence;
    j["angular_distance"] = s.angular_distance;
    j["logit_lens_loss"] = s.logit_lens_loss;
    j["removal_order"] = s.removal_order;
    j["loss_after_removal"] = s.loss_after_removal;
    j["layer_similarity"] = s.layer_similarity;
    j["residual_variance"] = s.residual_variance;
    if (!s.expert_load.empty()) j["expert_load"] = s.expert_load;
  }
  if (!r.seconds.empty()) j["seconds"] = r.seconds;
  return j.dump(indent);
}

AnalysisFileData analysis_to_file(const AnalysisResult& r) {
  AnalysisFileData f;
  f.step = r.step;
  f.checkpoint = r.checkpoint;
  f.ints["n_layers"] = r.n_layers;
  f.ints["d_model"] = r.d_model;
  f.ints["samples"] = r.eval.samples;
  f.ints["seq_len"] = r.eval.seq_len;
  f.texts["windows"] = r.eval.windows == EvalWindows::Random ? "random" : "first";
  if (r.eval.windows == EvalWindows::Random) {
    f.ints["seed"] = int64_t(r.eval.seed);  // two's complement for seeds >= 2^63
  } else {
    f.ints["first"] = r.eval.samples;
  }
  f.texts["source"] = r.eval.source;
  std::vector<Array>& a = f.arrays;
  a.push_back(scalar_array("loss", r.loss));
  if (r.causal) {
    a.push_back(matrix_array("causal_matrix", r.causal->matrix));
    a.push_back(scalar_array("causal_score", r.causal->score));
  }
  if (r.permutation) {
    a.push_back(matrix_array("permutation_matrix", r.permutation->matrix));
    a.push_back(scalar_array("permutation_score", r.permutation->score));
  }
  if (r.usefulness) {
    const UsefulnessResult& u = *r.usefulness;
    a.push_back(vector_array("usefulness_ratio", u.ratio));
    const int64_t useful = u.useful_layers;
    a.push_back(Array::from_i64("useful_layers", {}, &useful));
    a.push_back(scalar_array("usefulness_score", u.score));
    a.push_back(vector_array("linear_loss", u.linear_loss));
    a.push_back(scalar_array("usefulness_base_loss", u.base_loss));
    a.push_back(vector_array("linear_fit_ridge", u.ridge));
    f.reals["tau"] = u.options.tau;
    f.ints["transpose_quirk"] = u.options.transpose_quirk;
    f.ints["heldout_fit"] = u.options.heldout_fit;
  }
  if (r.summaries) {
    const DepthSummaries& s = *r.summaries;
    a.push_back(vector_array("block_influence", s.block_influence));
    a.push_back(matrix_array("angular_distance", s.angular_distance));
    a.push_back(vector_array("logit_lens_loss", s.logit_lens_loss));
    const std::vector<int64_t> order(s.removal_order.begin(), s.removal_order.end());
    a.push_back(Array::from_i64("removal_order", {int64_t(order.size())}, order.data()));
    a.push_back(vector_array("loss_after_removal", s.loss_after_removal));
    a.push_back(matrix_array("layer_similarity", s.layer_similarity));
    a.push_back(vector_array("residual_variance", s.residual_variance));
    if (!s.expert_load.empty()) a.push_back(matrix_array("expert_load", s.expert_load));
  }
  if (r.jacobian) {
    summaries_to_arrays(a, "jacobian_", r.jacobian->summary);
    f.ints["jacobian_samples"] = r.jacobian->samples;
    for (size_t l = 0; l < r.jacobian->matrix.size(); ++l) {
      a.push_back(tensor_array("jacobian/" + std::to_string(l), r.jacobian->matrix[l]));
    }
  }
  if (r.token_jacobian) {
    summaries_to_arrays(a, "token_jacobian_", r.token_jacobian->summary);
    f.ints["token_jacobian_sequence"] = r.token_jacobian->sequence;
    f.ints["token_jacobian_token"] = r.token_jacobian->token;
    for (size_t l = 0; l < r.token_jacobian->matrix.size(); ++l) {
      a.push_back(tensor_array("jacobian_token/" + std::to_string(l), r.token_jacobian->matrix[l]));
    }
  }
  return f;
}

AnalysisResult analysis_from_file(const AnalysisFileData& f) {
  AnalysisResult r;
  r.step = f.step;
  r.checkpoint = f.checkpoint;
  r.n_layers = int(map_int(f.ints, "n_layers"));
  r.d_model = int(map_int(f.ints, "d_model"));
  r.eval.samples = int(map_int(f.ints, "samples"));
  r.eval.seq_len = int(map_int(f.ints, "seq_len"));
  auto windows = f.texts.find("windows");
  r.eval.windows = windows != f.texts.end() && windows->second == "random" ? EvalWindows::Random
                                                                           : EvalWindows::First;
  if (r.eval.windows == EvalWindows::Random) r.eval.seed = uint64_t(map_int(f.ints, "seed"));
  auto source = f.texts.find("source");
  if (source != f.texts.end()) r.eval.source = source->second;

  const ArrayIndex a(f.arrays);
  const int64_t L = r.n_layers, d = r.d_model;
  r.loss = a.scalar("loss");
  if (a.has("causal_matrix")) {
    r.causal = CausalResult{a.mat("causal_matrix", L, L), a.scalar("causal_score")};
  }
  if (a.has("permutation_matrix")) {
    r.permutation =
        PermutationResult{a.mat("permutation_matrix", L, L), a.scalar("permutation_score")};
  }
  if (a.has("usefulness_ratio")) {
    UsefulnessResult u;
    u.ratio = a.vec("usefulness_ratio", L);
    u.useful_layers = int(a.scalar("useful_layers"));
    u.score = a.scalar("usefulness_score");
    u.linear_loss = a.vec("linear_loss", L);
    u.base_loss = a.scalar("usefulness_base_loss");
    u.ridge = a.vec("linear_fit_ridge", L);
    auto tau = f.reals.find("tau");
    if (tau != f.reals.end()) u.options.tau = tau->second;
    u.options.transpose_quirk = map_int(f.ints, "transpose_quirk") != 0;
    u.options.heldout_fit = map_int(f.ints, "heldout_fit") != 0;
    r.usefulness = u;
  }
  if (a.has("block_influence")) {
    DepthSummaries s;
    s.block_influence = a.vec("block_influence", L);
    s.angular_distance = a.mat("angular_distance", L + 1, L + 1);
    s.logit_lens_loss = a.vec("logit_lens_loss", L + 1);
    for (double v : a.vec("removal_order", L)) s.removal_order.push_back(int(v));
    s.loss_after_removal = a.vec("loss_after_removal", std::max<int64_t>(L - 1, 0));
    s.layer_similarity = a.mat("layer_similarity", L + 1, L + 1);
    s.residual_variance = a.vec("residual_variance", L + 1);
    if (a.has("expert_load")) s.expert_load = a.mat_any_cols("expert_load", L);
    r.summaries = s;
  }
  if (a.has("jacobian_deviation")) {
    JacobianLayers j;
    j.samples = int(map_int(f.ints, "jacobian_samples"));
    j.summary = a.summaries("jacobian_", L);
    for (int64_t l = 0; l < L; ++l)
      j.matrix.push_back(a.tensor("jacobian/" + std::to_string(l), d));
    r.jacobian = j;
  }
  if (a.has("token_jacobian_deviation")) {
    TokenJacobians j;
    j.sequence = int(map_int(f.ints, "token_jacobian_sequence"));
    j.token = int(map_int(f.ints, "token_jacobian_token"));
    j.summary = a.summaries("token_jacobian_", L);
    for (int64_t l = 0; l < L; ++l) {
      j.matrix.push_back(a.tensor("jacobian_token/" + std::to_string(l), d));
    }
    r.token_jacobian = j;
  }
  return r;
}

bool analysis_merge(AnalysisResult& r, const AnalysisResult& older) {
  if (r.step != older.step || r.n_layers != older.n_layers || r.d_model != older.d_model ||
      !(r.eval == older.eval) ||
      std::abs(r.loss - older.loss) > 1e-9 * std::max(1.0, std::abs(r.loss))) {
    return false;  // another model or evaluation set: the old numbers do not belong here
  }
  bool copied = false;
  auto take = [&](auto& mine, const auto& theirs) {
    if (!mine && theirs) {
      mine = theirs;
      copied = true;
    }
  };
  take(r.causal, older.causal);
  take(r.permutation, older.permutation);
  take(r.usefulness, older.usefulness);
  take(r.jacobian, older.jacobian);
  take(r.token_jacobian, older.token_jacobian);
  take(r.summaries, older.summaries);
  return copied;
}

}  // namespace dlab
