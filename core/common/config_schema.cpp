#include "common/config_schema.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>

#include "common/error.h"
#include "common/text_match.h"

namespace dlab {
namespace {

using Type = ConfigField::Type;

std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

// Parses a decimal integer; "+" and "_" between digits (as in TOML: 2_000_000)
// are accepted. Throws "<key>=<text> is not an integer" or "... is out of range".
int64_t parse_integer(const std::string& key, const std::string& text, int64_t lo, int64_t hi) {
  std::string digits = trim(text);
  if (!digits.empty() && digits[0] == '+') digits.erase(0, 1);
  std::string clean;
  for (size_t i = 0; i < digits.size(); ++i) {
    const bool between_digits = i > 0 && i + 1 < digits.size() && std::isdigit(digits[i - 1]) &&
                                std::isdigit(digits[i + 1]);
    if (digits[i] == '_' && between_digits) continue;
    clean += digits[i];
  }
  int64_t value = 0;
  const char* first = clean.data();
  const char* last = clean.data() + clean.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  if (clean.empty() || end != last || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    throw Error(key + "=" + text + " is not an integer");
  }
  if (ec == std::errc::result_out_of_range || value < lo || value > hi) {
    throw Error(key + "=" + text + " is out of range; use " + std::to_string(lo) + " to " +
                std::to_string(hi));
  }
  return value;
}

double parse_number(const std::string& key, const std::string& text) {
  std::string clean = trim(text);
  if (!clean.empty() && clean[0] == '+') clean.erase(0, 1);
  double value = 0;
  const char* first = clean.data();
  const char* last = clean.data() + clean.size();
  const auto [end, ec] = std::from_chars(first, last, value);
  // result_out_of_range: 1e999 and the like; refuse rather than guess.
  if (clean.empty() || end != last || ec != std::errc()) {
    throw Error(key + "=" + text + " is not a number");
  }
  return value;
}

// Builders, one per C++ type of config.h. `ref` returns the field inside a
// Config; `get` only reads through it, hence the const_cast.
ConfigField int_field(const std::string& key, const std::string& doc,
                      std::function<int&(Config&)> ref) {
  ConfigField f;
  f.key = key;
  f.type = Type::Int;
  f.doc = doc;
  f.get = [ref](const Config& c) { return std::to_string(ref(const_cast<Config&>(c))); };
  f.set = [ref, key](Config& c, const std::string& text) {
    ref(c) = int(parse_integer(key, text, INT_MIN, INT_MAX));
  };
  return f;
}

ConfigField int64_field(const std::string& key, const std::string& doc,
                        std::function<int64_t&(Config&)> ref) {
  ConfigField f;
  f.key = key;
  f.type = Type::Int;
  f.doc = doc;
  f.get = [ref](const Config& c) { return std::to_string(ref(const_cast<Config&>(c))); };
  f.set = [ref, key](Config& c, const std::string& text) {
    ref(c) = parse_integer(key, text, INT64_MIN, INT64_MAX);
  };
  return f;
}

// Unsigned in config.h, but kept within int64 so that TOML (whose integers
// are signed 64-bit) and JSON can always hold it.
ConfigField uint64_field(const std::string& key, const std::string& doc,
                         std::function<uint64_t&(Config&)> ref) {
  ConfigField f;
  f.key = key;
  f.type = Type::Int;
  f.doc = doc;
  f.get = [ref](const Config& c) { return std::to_string(ref(const_cast<Config&>(c))); };
  f.set = [ref, key](Config& c, const std::string& text) {
    ref(c) = uint64_t(parse_integer(key, text, 0, INT64_MAX));
  };
  return f;
}

ConfigField float_field(const std::string& key, const std::string& doc,
                        std::function<double&(Config&)> ref) {
  ConfigField f;
  f.key = key;
  f.type = Type::Float;
  f.doc = doc;
  f.get = [ref](const Config& c) { return format_double(ref(const_cast<Config&>(c))); };
  f.set = [ref, key](Config& c, const std::string& text) { ref(c) = parse_number(key, text); };
  return f;
}

ConfigField string_field(const std::string& key, const std::string& doc,
                         std::function<std::string&(Config&)> ref) {
  ConfigField f;
  f.key = key;
  f.type = Type::String;
  f.doc = doc;
  f.get = [ref](const Config& c) { return ref(const_cast<Config&>(c)); };
  f.set = [ref](Config& c, const std::string& text) { ref(c) = text; };
  return f;
}

ConfigField choice_field(const std::string& key, const std::string& doc,
                         const std::vector<std::string>& choices,
                         std::function<std::string&(Config&)> ref) {
  ConfigField f = string_field(key, doc, ref);
  f.type = Type::Choice;
  f.choices = choices;
  return f;
}

std::vector<ConfigField> build_schema() {
  std::vector<ConfigField> s;

  // ---- [run] ----------------------------------------------------------------
  s.push_back(string_field(
      "run.name",
      "The run's directory under run.dir: up to 100 printable characters, no '/' or whitespace.",
      [](Config& c) -> std::string& { return c.run.name; }));
  s.push_back(string_field(
      "run.dir", "Parent directory of the run directories (relative to the working directory).",
      [](Config& c) -> std::string& { return c.run.dir; }));
  s.push_back(
      string_field("run.device",
                   "Where to train: auto (a usable GPU, else the CPU), cpu, cuda or cuda:N; "
                   "dlab devices lists them.",
                   [](Config& c) -> std::string& { return c.run.device; }));

  // ---- [model] --------------------------------------------------------------
  s.push_back(int_field("model.n_layers", "Number of transformer blocks L (the depth); 1 or more.",
                        [](Config& c) -> int& { return c.model.n_layers; }));
  s.push_back(int_field("model.d_model",
                        "Width d of the residual stream; d_model / n_heads must be a whole, even "
                        "head size.",
                        [](Config& c) -> int& { return c.model.d_model; }));
  s.push_back(int_field("model.n_heads",
                        "Query heads H; the head size d_model / n_heads must be whole and even "
                        "(RoPE rotates pairs).",
                        [](Config& c) -> int& { return c.model.n_heads; }));
  s.push_back(int_field("model.n_kv_heads",
                        "Key/value heads G (grouped-query attention); must divide n_heads: G = H "
                        "is MHA, G = 1 is MQA.",
                        [](Config& c) -> int& { return c.model.n_kv_heads; }));
  s.push_back(int_field("model.d_ff",
                        "Hidden size of the SwiGLU feed-forward network (and of each expert when "
                        "model.moe.d_expert = 0).",
                        [](Config& c) -> int& { return c.model.d_ff; }));
  s.push_back(int_field("model.vocab_size",
                        "Vocabulary size V: 256 for the byte tokenizer, 300 to 65536 for bpe "
                        "(token ids are stored as uint16).",
                        [](Config& c) -> int& { return c.model.vocab_size; }));
  s.push_back(float_field("model.norm_eps",
                          "Epsilon of RMSNorm, x * rsqrt(mean(x^2) + eps) * w; > 0 (default 1e-6).",
                          [](Config& c) -> double& { return c.model.norm_eps; }));
  s.push_back(float_field("model.rope_theta",
                          "RoPE base theta: pair k turns at theta^(-2k/head_dim) radians per "
                          "position; > 0 (default 10000).",
                          [](Config& c) -> double& { return c.model.rope_theta; }));
  s.push_back(choice_field("model.norm_scaling",
                           "none: plain Pre-LN; layernorm_scaling: scale the normalised input of "
                           "block i by 1/sqrt(i+1).",
                           {"none", "layernorm_scaling"},
                           [](Config& c) -> std::string& { return c.model.norm_scaling; }));
  s.push_back(choice_field("model.init",
                           "Weight init: normal = N(0, 0.02^2) everywhere; scaled = o_proj and "
                           "down_proj use std 0.02/sqrt(2L).",
                           {"normal", "scaled"},
                           [](Config& c) -> std::string& { return c.model.init; }));

  // ---- [model.moe] ----------------------------------------------------------
  s.push_back(int_field("model.moe.n_experts",
                        "Experts E in each feed-forward layer; 0 = dense SwiGLU FFN (no mixture "
                        "of experts).",
                        [](Config& c) -> int& { return c.model.moe.n_experts; }));
  s.push_back(int_field("model.moe.top_k",
                        "Experts each token is routed to, 1 to n_experts; their router "
                        "probabilities are not renormalised.",
                        [](Config& c) -> int& { return c.model.moe.top_k; }));
  s.push_back(int_field("model.moe.d_expert",
                        "Hidden size of each expert (and the shared expert); 0 = model.d_ff. "
                        "top_k * d_expert = d_ff matches a dense FFN.",
                        [](Config& c) -> int& { return c.model.moe.d_expert; }));
  s.push_back(int_field("model.moe.n_shared_experts",
                        "Always-on shared expert S: 0 (none) or 1; output S(x)/(k+1) + "
                        "experts * k/(k+1).",
                        [](Config& c) -> int& { return c.model.moe.n_shared_experts; }));
  s.push_back(float_field("model.moe.lb_loss_weight",
                          "Weight of the load-balance loss (mean over MoE layers) added to the "
                          "LM loss; 0 = off (default 0.01).",
                          [](Config& c) -> double& { return c.model.moe.lb_loss_weight; }));
  s.push_back(float_field("model.moe.z_loss_weight",
                          "Weight of the router z-loss (mean over MoE layers) added to the LM "
                          "loss; 0 = off (default 0.001).",
                          [](Config& c) -> double& { return c.model.moe.z_loss_weight; }));

  // ---- [data] ---------------------------------------------------------------
  s.push_back(
      string_field("data.corpus",
                   "Training text: a .txt, .jsonl or .bin file or a directory of them, @synthetic "
                   "(generated) or @demo (from setup.sh).",
                   [](Config& c) -> std::string& { return c.data.corpus; }));
  s.push_back(string_field(
      "data.tokenizer",
      "byte (256 ids), bpe (SentencePiece BPE trained on the corpus, model.vocab_size pieces) "
      "or a .model file path.",
      [](Config& c) -> std::string& { return c.data.tokenizer; }));
  s.push_back(int_field("data.seq_len",
                        "Training context T in tokens (a window holds T+1 tokens: inputs and "
                        "next-token targets).",
                        [](Config& c) -> int& { return c.data.seq_len; }));
  s.push_back(float_field("data.val_fraction",
                          "Fraction of the tokens held out at the end for validation; in (0, "
                          "0.5].",
                          [](Config& c) -> double& { return c.data.val_fraction; }));
  s.push_back(string_field(
      "data.cache_dir",
      "Cache of corpora, tokenizers and token shards; empty = $XDG_CACHE_HOME/depthlab or "
      "~/.cache/depthlab.",
      [](Config& c) -> std::string& { return c.data.cache_dir; }));

  // ---- [train] --------------------------------------------------------------
  s.push_back(int_field("train.batch_size",
                        "Sequences per optimisation step B (global, over all ranks); tokens per "
                        "step = B * data.seq_len.",
                        [](Config& c) -> int& { return c.train.batch_size; }));
  s.push_back(int64_field("train.steps",
                          "Optimisation steps to run; set exactly one of train.steps and "
                          "train.tokens, the other 0.",
                          [](Config& c) -> int64_t& { return c.train.steps; }));
  s.push_back(int64_field("train.tokens",
                          "Token budget: steps = ceil(tokens / (batch_size * seq_len)); set "
                          "exactly one of train.steps and train.tokens.",
                          [](Config& c) -> int64_t& { return c.train.tokens; }));
  s.push_back(float_field("train.lr",
                          "Peak learning rate, reached at the end of warm-up; finite and > 0.",
                          [](Config& c) -> double& { return c.train.lr; }));
  s.push_back(int64_field("train.warmup_steps",
                          "Steps of linear warm-up from 0 to train.lr; 0 to the total number of "
                          "steps.",
                          [](Config& c) -> int64_t& { return c.train.warmup_steps; }));
  s.push_back(float_field("train.min_lr_ratio",
                          "The cosine decay ends at min_lr_ratio * train.lr; in [0, 1] (default "
                          "0.1).",
                          [](Config& c) -> double& { return c.train.min_lr_ratio; }));
  s.push_back(float_field("train.weight_decay",
                          "AdamW decoupled weight decay lambda on every Linear weight (not norms "
                          "or embeddings); >= 0.",
                          [](Config& c) -> double& { return c.train.weight_decay; }));
  s.push_back(float_field("train.beta1",
                          "AdamW decay rate of the first moment; in [0, 1) (default 0.9).",
                          [](Config& c) -> double& { return c.train.beta1; }));
  s.push_back(float_field("train.beta2",
                          "AdamW decay rate of the second moment; in [0, 1) (default 0.95).",
                          [](Config& c) -> double& { return c.train.beta2; }));
  s.push_back(float_field("train.adam_eps",
                          "AdamW epsilon added to sqrt(v) in the denominator; > 0 (default 1e-8).",
                          [](Config& c) -> double& { return c.train.adam_eps; }));
  s.push_back(float_field("train.grad_clip",
                          "Clip the global L2 norm of the gradients to this value; 0 = no "
                          "clipping.",
                          [](Config& c) -> double& { return c.train.grad_clip; }));
  s.push_back(uint64_field("train.seed",
                           "Random seed of initialisation and batch sampling, 0 to 2^63-1; same "
                           "seed and threads = same run on CPU.",
                           [](Config& c) -> uint64_t& { return c.train.seed; }));
  s.push_back(int64_field("train.eval_every",
                          "Steps between validation-loss evaluations (the last step is always "
                          "evaluated); 1 or more.",
                          [](Config& c) -> int64_t& { return c.train.eval_every; }));
  s.push_back(int64_field("train.eval_batches",
                          "Batches of batch_size windows in each validation evaluation; 1 or "
                          "more.",
                          [](Config& c) -> int64_t& { return c.train.eval_batches; }));
  s.push_back(int64_field("train.checkpoint_every",
                          "Steps between checkpoints; 0 = a checkpoint at the last step only.",
                          [](Config& c) -> int64_t& { return c.train.checkpoint_every; }));
  s.push_back(int64_field("train.stats_every",
                          "Steps between residual variance and kurtosis statistics; 1 or more.",
                          [](Config& c) -> int64_t& { return c.train.stats_every; }));
  s.push_back(int64_field("train.attn_stats_every",
                          "Steps between attention sparsity/entropy and weight sparsity "
                          "statistics (costlier); 1 or more.",
                          [](Config& c) -> int64_t& { return c.train.attn_stats_every; }));
  s.push_back(int_field("train.threads",
                        "Intra-op CPU threads of the training thread (OpenMP team, oneDNN, "
                        "OpenBLAS); 0 = one per physical core.",
                        [](Config& c) -> int& { return c.train.threads; }));
  s.push_back(choice_field(
      "train.kernels",
      "auto: fused on the CPU, reference on CUDA; fused: the fused CPU kernels; "
      "reference: the plain ATen modules.",
      {"auto", "fused", "reference"}, [](Config& c) -> std::string& { return c.train.kernels; }));
  s.push_back(choice_field("train.precision",
                           "Matrix products in fp32, or bf16 (inputs rounded, float32 sums); "
                           "weights, optimizer state and statistics stay float32.",
                           {"fp32", "bf16"},
                           [](Config& c) -> std::string& { return c.train.precision; }));

  // The upper bounds of the integer fields, in one place (ConfigField::max_value).
  const std::vector<std::pair<std::string, int64_t>> limits = {
      {"model.n_layers", 1024},
      {"model.d_model", 65536},
      {"model.n_heads", 1024},
      {"model.n_kv_heads", 1024},
      {"model.d_ff", 1 << 20},
      {"model.moe.n_experts", 1024},
      {"model.moe.top_k", 1024},
      {"model.moe.d_expert", 1 << 20},
      {"data.seq_len", 1 << 20},
      {"train.batch_size", 1 << 16},
      {"train.steps", int64_t(1e12)},
      {"train.tokens", int64_t(1e15)},
      {"train.warmup_steps", int64_t(1e12)},
      {"train.eval_every", int64_t(1e12)},
      {"train.eval_batches", 100000},
      {"train.checkpoint_every", int64_t(1e12)},
      {"train.stats_every", int64_t(1e12)},
      {"train.attn_stats_every", int64_t(1e12)},
      {"train.threads", 1024},
  };
  for (const auto& [key_, max] : limits) {
    const std::string key = key_;  // a lambda may not capture a structured binding before C++20
    auto it = std::find_if(s.begin(), s.end(), [&](const ConfigField& f) { return f.key == key; });
    if (it == s.end() || it->type != Type::Int)
      throw Error("config schema: no integer field " + key);
    it->max_value = max;
  }

  const Config defaults;
  for (ConfigField& f : s) f.default_value = f.get(defaults);
  return s;
}

}  // namespace

std::string ConfigField::section() const { return key.substr(0, key.rfind('.')); }

std::string ConfigField::name() const { return key.substr(key.rfind('.') + 1); }

const std::vector<ConfigField>& config_schema() {
  static const std::vector<ConfigField> schema = build_schema();
  return schema;
}

const std::vector<std::string>& config_sections() {
  static const std::vector<std::string> sections = {"run", "model", "model.moe", "data", "train"};
  return sections;
}

const ConfigField* config_field_find(const std::string& key) {
  for (const ConfigField& f : config_schema()) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

std::string config_unknown_key_hint(const std::string& key) {
  std::vector<std::string> keys;
  for (const ConfigField& f : config_schema()) keys.push_back(f.key);
  for (const std::string& section : config_sections()) keys.push_back(section);

  // A typo: allow about one edit in four characters, at least two.
  const int max_distance = std::max(2, int(key.size()) / 4);
  const std::string close = closest_match(key, keys, max_distance);
  if (!close.empty()) return "; did you mean '" + close + "'?";

  // The right name in the wrong section ("model.lr" for "train.lr").
  const std::string name = key.substr(key.rfind('.') + 1);
  for (const ConfigField& f : config_schema()) {
    if (f.name() == name) return "; did you mean '" + f.key + "'?";
  }

  const size_t dot = key.rfind('.');
  const std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
  std::vector<std::string> names;
  for (const ConfigField& f : config_schema()) {
    if (f.section() == section) names.push_back(f.name());
  }
  if (!names.empty()) return "; the keys of [" + section + "] are " + join(names);
  return "; the sections are [" + join(config_sections(), "], [") + "]";
}

std::string config_type_description(const ConfigField& field) {
  switch (field.type) {
    case Type::Int:
      return "an integer";
    case Type::Float:
      return "a number";
    case Type::String:
      return "a string";
    case Type::Choice:
      return "one of " + join(field.choices);
    case Type::Bool:
      return "true or false";
  }
  return "";
}

std::vector<std::string> config_diff(const Config& a, const Config& b) {
  std::vector<std::string> keys;
  for (const ConfigField& f : config_schema()) {
    if (f.get(a) != f.get(b)) keys.push_back(f.key);
  }
  return keys;
}

std::string format_double(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // std::to_chars without a precision writes the shortest round-trip form.
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  (void)ec;  // 64 characters always suffice for a double
  return std::string(buffer, end);
}

}  // namespace dlab
