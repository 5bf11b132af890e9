#include "common/config_validate.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "common/config_schema.h"
#include "common/error.h"
#include "common/text_match.h"

namespace dlab {
namespace {

// Token ids are stored as uint16 in the token shards.
constexpr int kMaxVocab = 65536;
// Below this a SentencePiece BPE model has hardly any merges beyond its bytes.
constexpr int kMinBpeVocab = 300;

// "<key>=<value>" with the value as the schema prints it.
std::string kv(const Config& c, const std::string& key) {
  return key + "=" + config_field_find(key)->get(c);
}

// "a or b", "a, b or c"
std::string or_list(const std::vector<std::string>& items) {
  if (items.size() <= 1) return join(items);
  std::vector<std::string> head(items.begin(), items.end() - 1);
  return join(head) + " or " + items.back();
}

// Collects the problems of one config in schema order.
class Checker {
 public:
  explicit Checker(const Config& c) : c_(c) {}

  void add(const std::string& message) { problems_.push_back(message); }

  // "<key>=<value> <what is wrong>; <what is allowed>"
  void add(const std::string& key, const std::string& message) {
    problems_.push_back(kv(c_, key) + " " + message);
  }

  void positive(const std::string& key, int64_t value) {
    if (value < 1) add(key, "is not positive; use 1 or more");
  }

  void finite_positive(const std::string& key, double value, const std::string& allowed) {
    if (!(std::isfinite(value) && value > 0))
      add(key, "is not a finite positive number; " + allowed);
  }

  void finite_non_negative(const std::string& key, double value, const std::string& allowed) {
    if (!(std::isfinite(value) && value >= 0)) {
      add(key, "is not a finite non-negative number; " + allowed);
    }
  }

  void choice(const std::string& key) {
    const ConfigField& field = *config_field_find(key);
    const std::string value = field.get(c_);
    for (const std::string& allowed : field.choices) {
      if (value == allowed) return;
    }
    add(key, "is not allowed; use " + or_list(field.choices));
  }

  std::vector<std::string> take() { return problems_; }

 private:
  const Config& c_;
  std::vector<std::string> problems_;
};

bool is_device(const std::string& device) {
  if (device == "auto" || device == "cpu" || device == "cuda") return true;
  const std::string prefix = "cuda:";
  if (device.size() <= prefix.size() || device.size() > prefix.size() + 4 ||
      device.compare(0, prefix.size(), prefix) != 0) {
    return false;  // at most 4 digits: cuda:9999
  }
  for (size_t i = prefix.size(); i < device.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(device[i]))) return false;
  }
  return true;
}

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch < 0x20 || ch == 0x7f || ch >= 0x80) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    } else {
      out += char(ch);
    }
  }
  return out;
}

// Why a text is not printable, or "" when it is: NUL, control characters,
// invalid UTF-8; for a name (`strict`) also whitespace (ASCII or Unicode) and
// bidirectional controls (U+202E would show a file name backwards).
std::string text_problem(const std::string& s, bool strict) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    size_t n = 0;
    if (c < 0x80) {
      cp = c;
      n = 1;
    } else if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f;
      n = 2;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f;
      n = 3;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07;
      n = 4;
    } else {
      return "is not valid UTF-8";
    }
    if (i + n > s.size()) return "is not valid UTF-8";
    for (size_t k = 1; k < n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return "is not valid UTF-8";
      cp = (cp << 6) | (cc & 0x3f);
    }
    const bool overlong =
        (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return "is not valid UTF-8";
    if (cp == 0) return "contains a NUL byte";
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
      return "contains a control character";
    if (strict && (cp == ' ' || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200b) ||
                   cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000 ||
                   cp == 0xfeff)) {
      return "contains whitespace";
    }
    if (strict && (cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
                   (cp >= 0x2066 && cp <= 0x2069))) {
      return "contains a bidirectional control character";
    }
    i += n;
  }
  return "";
}

constexpr size_t kMaxNameBytes = 100;
constexpr size_t kMaxPathBytes = 4096;

void check_run(const Config& c, Checker& check) {
  const std::string name_rule =
      "; use a directory name of at most 100 printable characters without '/' or whitespace";
  const std::string& name = c.run.name;
  const std::string shown = "run.name=" + printable(name) + " ";
  const std::string problem = text_problem(name, /*strict=*/true);
  if (name.empty()) {
    check.add("run.name", "is empty" + name_rule);
  } else if (!problem.empty()) {
    check.add(shown + problem + name_rule);
  } else if (name.find('/') != std::string::npos) {
    check.add("run.name", "contains '/'" + name_rule);
  } else if (name == "." || name == "..") {
    check.add("run.name", "is not a directory name" + name_rule);
  } else if (name.size() > kMaxNameBytes) {
    check.add(shown + "is " + std::to_string(name.size()) + " bytes long" + name_rule);
  }
  const std::string& dir = c.run.dir;
  if (dir.empty()) {
    check.add("run.dir", "is empty; use a directory such as runs");
  } else if (const std::string why = text_problem(dir, /*strict=*/false); !why.empty()) {
    check.add("run.dir=" + printable(dir) + " " + why +
              "; use a directory path of printable characters");
  } else if (dir.size() > kMaxPathBytes) {
    check.add("run.dir=" + dir.substr(0, 40) + "... is " + std::to_string(dir.size()) +
              " bytes long; use a path of at most 4096 bytes");
  }
  if (!is_device(c.run.device)) {
    check.add("run.device", "is not a device; use auto, cpu, cuda or cuda:N with N = 0, 1, ...");
  }
}

// Every integer field within its ConfigField::max_value.
void check_limits(const Config& c, Checker& check) {
  for (const ConfigField& f : config_schema()) {
    if (f.type != ConfigField::Type::Int || f.max_value <= 0) continue;
    const int64_t v = std::stoll(f.get(c));
    if (v > f.max_value) {
      check.add(f.key, "exceeds the limit of " + std::to_string(f.max_value) + "; use at most " +
                           std::to_string(f.max_value));
    }
  }
}

void check_model(const Config& c, Checker& check) {
  const ModelConfig& m = c.model;
  check.positive("model.n_layers", m.n_layers);
  check.positive("model.d_model", m.d_model);
  check.positive("model.n_heads", m.n_heads);
  check.positive("model.n_kv_heads", m.n_kv_heads);
  check.positive("model.d_ff", m.d_ff);
  check.positive("model.vocab_size", m.vocab_size);

  if (m.d_model > 0 && m.n_heads > 0) {
    if (m.d_model % m.n_heads != 0) {
      check.add(kv(c, "model.d_model") + " is not divisible by " + kv(c, "model.n_heads") +
                "; the head size d_model / n_heads must be a whole number");
    } else if (m.head_dim() % 2 != 0) {
      check.add(kv(c, "model.d_model") + " with " + kv(c, "model.n_heads") +
                " gives an odd head size " + std::to_string(m.head_dim()) +
                "; RoPE needs an even head size d_model / n_heads");
    }
  }
  if (m.n_heads > 0 && m.n_kv_heads > 0 &&
      m.n_heads <= config_field_find("model.n_heads")->max_value) {
    std::vector<std::string> divisors;
    for (int g = 1; g <= m.n_heads; ++g) {
      if (m.n_heads % g == 0) divisors.push_back(std::to_string(g));
    }
    if (m.n_kv_heads > m.n_heads) {
      check.add(kv(c, "model.n_kv_heads") + " exceeds " + kv(c, "model.n_heads") +
                "; use a divisor of n_heads: " + join(divisors));
    } else if (m.n_heads % m.n_kv_heads != 0) {
      check.add(kv(c, "model.n_heads") + " is not divisible by " + kv(c, "model.n_kv_heads") +
                "; use a divisor of n_heads for n_kv_heads: " + join(divisors));
    }
  }
  check.finite_positive("model.norm_eps", m.norm_eps, "use a small positive value such as 1e-6");
  check.finite_positive("model.rope_theta", m.rope_theta, "use a positive base such as 10000");
  check.choice("model.norm_scaling");
  check.choice("model.init");

  const MoeConfig& moe = m.moe;
  if (moe.n_experts < 0) {
    check.add("model.moe.n_experts", "is negative; use 0 (dense FFN) or the number of experts");
  }
  if (moe.n_experts > 0) {
    if (moe.top_k < 1) {
      check.add("model.moe.top_k", "is less than 1; use 1 to " + kv(c, "model.moe.n_experts"));
    } else if (moe.top_k > moe.n_experts) {
      check.add(kv(c, "model.moe.top_k") + " exceeds " + kv(c, "model.moe.n_experts") +
                "; use 1 to " + std::to_string(moe.n_experts));
    }
  }
  if (moe.d_expert < 0) {
    check.add("model.moe.d_expert", "is negative; use 0 (= model.d_ff) or a positive size");
  }
  if (moe.n_shared_experts != 0 && moe.n_shared_experts != 1) {
    check.add("model.moe.n_shared_experts", "is not supported; use 0 or 1");
  }
  check.finite_non_negative("model.moe.lb_loss_weight", moe.lb_loss_weight, "use 0 (off) or more");
  check.finite_non_negative("model.moe.z_loss_weight", moe.z_loss_weight, "use 0 (off) or more");
}

void check_data(const Config& c, Checker& check) {
  const DataConfig& d = c.data;
  const std::string corpus_rule = "use @synthetic, @demo or a file or directory path";
  if (d.corpus.empty()) {
    check.add("data.corpus", "is empty; " + corpus_rule);
  } else if (d.corpus[0] == '@' && d.corpus != "@synthetic" && d.corpus != "@demo") {
    check.add("data.corpus", "is not a known alias; " + corpus_rule);
  }

  const int vocab = c.model.vocab_size;
  if (d.tokenizer.empty()) {
    check.add("data.tokenizer",
              "is empty; use byte, bpe or the path of a SentencePiece .model file");
  } else if (d.tokenizer == "byte") {
    if (vocab != 256) {
      check.add("data.tokenizer=byte needs model.vocab_size=256, got " + std::to_string(vocab));
    }
  } else if (d.tokenizer == "bpe") {
    if (vocab < kMinBpeVocab || vocab > kMaxVocab) {
      check.add("data.tokenizer=bpe needs model.vocab_size between " +
                std::to_string(kMinBpeVocab) + " and " + std::to_string(kMaxVocab) +
                " (token ids are stored as uint16), got " + std::to_string(vocab));
    }
  } else if (vocab > kMaxVocab) {
    // A SentencePiece file: its size is known only once loaded, but the bound holds.
    check.add("model.vocab_size",
              "exceeds " + std::to_string(kMaxVocab) + "; token ids are stored as uint16");
  }

  check.positive("data.seq_len", d.seq_len);
  if (!(d.val_fraction > 0 && d.val_fraction <= 0.5)) {
    check.add("data.val_fraction", "is outside (0, 0.5]; hold out a fraction such as 0.05");
  }
}

void check_train(const Config& c, Checker& check) {
  const TrainConfig& t = c.train;
  check.positive("train.batch_size", t.batch_size);

  if (t.steps < 0) {
    check.add("train.steps", "is negative; use 0 (when train.tokens is set) or a number of steps");
  }
  if (t.tokens < 0) {
    check.add("train.tokens", "is negative; use 0 (when train.steps is set) or a token budget");
  }
  if (t.steps > 0 && t.tokens > 0) {
    check.add(kv(c, "train.steps") + " and " + kv(c, "train.tokens") +
              " are both set; set exactly one of them and the other to 0");
  } else if (t.steps == 0 && t.tokens == 0) {
    check.add(
        "train.steps=0 and train.tokens=0 are both zero; set exactly one of them > 0 (the steps "
        "to run, or a token budget)");
  }

  check.finite_positive("train.lr", t.lr, "use a peak learning rate such as 3e-3");
  if (t.warmup_steps < 0) {
    check.add("train.warmup_steps", "is negative; use 0 or more");
  } else {
    // Only when the total is well defined (its own problems are reported above).
    const bool one_budget = (t.steps > 0) != (t.tokens > 0);
    if (one_budget && t.batch_size > 0 && c.data.seq_len > 0) {
      const int64_t total = t.total_steps(c.data.seq_len);
      if (t.warmup_steps > total) {
        check.add("train.warmup_steps", "exceeds the " + std::to_string(total) +
                                            " training steps; use 0 to " + std::to_string(total));
      }
    }
  }
  if (!(t.min_lr_ratio >= 0 && t.min_lr_ratio <= 1)) {
    check.add("train.min_lr_ratio",
              "is outside [0, 1]; the cosine floor is a fraction of train.lr");
  }
  check.finite_non_negative("train.weight_decay", t.weight_decay, "use 0 (off) or more");
  if (!(t.beta1 >= 0 && t.beta1 < 1)) {
    check.add("train.beta1", "is outside [0, 1); use a decay rate such as 0.9");
  }
  if (!(t.beta2 >= 0 && t.beta2 < 1)) {
    check.add("train.beta2", "is outside [0, 1); use a decay rate such as 0.95");
  }
  check.finite_positive("train.adam_eps", t.adam_eps, "use a small positive value such as 1e-8");
  check.finite_non_negative("train.grad_clip", t.grad_clip,
                            "use 0 (off) or a positive norm such as 1");
  check.positive("train.eval_every", t.eval_every);
  check.positive("train.eval_batches", t.eval_batches);
  if (t.checkpoint_every < 0) {
    check.add("train.checkpoint_every",
              "is negative; use 0 (only the last step) or a number of steps");
  }
  check.positive("train.stats_every", t.stats_every);
  check.positive("train.attn_stats_every", t.attn_stats_every);
  if (t.threads < 0) {
    check.add("train.threads", "is negative; use 0 (one per core) or a thread count");
  }
  check.choice("train.kernels");
  check.choice("train.precision");
}

}  // namespace

std::vector<std::string> config_validate(const Config& config) {
  Checker check(config);
  check_limits(config, check);
  check_run(config, check);
  check_model(config, check);
  check_data(config, check);
  check_train(config, check);
  return check.take();
}

void config_check(const Config& config) {
  const std::vector<std::string> problems = config_validate(config);
  if (problems.empty()) return;
  std::string message = "invalid config:";
  for (const std::string& p : problems) message += "\n  " + p;
  throw Error(message);
}

std::vector<std::string> model_config_validate(const ModelConfig& model) {
  Config config;  // every other section at its (valid) defaults
  config.model = model;
  Checker check(config);
  check_limits(config, check);
  check_model(config, check);
  return check.take();
}

std::string printable_text(const std::string& text) { return printable(text); }

}  // namespace dlab
