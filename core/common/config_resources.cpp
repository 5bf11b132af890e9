#include "common/config_resources.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "common/error.h"

namespace dlab {
namespace {

constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();

// a * b and a + b, or dlab::Error naming what overflowed.
int64_t mul(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) throw Error(std::string(what) + " overflows 64 bits");
  return r;
}
int64_t add(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) throw Error(std::string(what) + " overflows 64 bits");
  return r;
}

// The first number of /proc/self/status or /proc/meminfo's line "<key>: N kB", in bytes; -1.
int64_t proc_kb(const char* file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream s(line.substr(key.size() + 1));
      int64_t kb = -1;
      if (s >> kb) return kb * 1024;
    }
  }
  return -1;
}

int64_t read_number(const char* file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text == "max") return -1;
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

ResourceEstimate resource_estimate(const Config& c, Workload workload) {
  const ModelConfig& m = c.model;
  const int64_t L = m.n_layers, d = m.d_model, H = m.n_heads, G = m.n_kv_heads, V = m.vocab_size;
  const int64_t dh = H > 0 ? d / H : 0;
  const int64_t f_expert = m.moe.d_expert > 0 ? m.moe.d_expert : m.d_ff;
  const char* what = "the parameter count of model.*";
  // per block: attention, FFN (all experts), router, two norm gains
  int64_t attn = mul(mul(d, dh, what), add(H, mul(2, G, what), what), what);
  attn = add(attn, mul(mul(dh, H, what), d, what), what);
  int64_t ffn = mul(mul(3, d, what), m.d_ff, what);
  if (m.is_moe()) {
    const int64_t experts = add(m.moe.n_experts, m.moe.n_shared_experts, what);
    ffn = add(mul(mul(mul(3, d, what), f_expert, what), experts, what),
              mul(d, m.moe.n_experts, what), what);
  }
  const int64_t block = add(add(attn, ffn, what), mul(2, d, what), what);
  ResourceEstimate e;
  e.parameters = add(add(mul(L, block, what), mul(2, mul(V, d, what), what), what), d, what);

  const bool training = workload == Workload::Training;
  // Training: float32 weights, gradients, two moments, plus working copies (the
  // packed q/k/v and gate/up weights, bf16 operands): 5 x 4 bytes. Analysis:
  // the weights and, for Jacobians, their gradients' worth again.
  e.weight_bytes = mul(e.parameters, training ? 20 : 8, "the weight memory of model.*");

  // What one pass keeps per token and block for the backward (float32):
  // inputs, norms, the packed q/k/v twice, attention out, residual, the FFN's
  // [gate | up] and its product; the top-k (+ shared) experts' share for MoE.
  const int64_t f_active =
      m.is_moe() ? mul(add(m.moe.top_k, m.moe.n_shared_experts, what), mul(2, f_expert, what), what)
                 : m.d_ff;
  const char* act = "the activation memory of train.batch_size x data.seq_len";
  int64_t per_token_layer =
      add(mul(8, d, act), mul(2, mul(add(H, mul(2, G, act), act), dh, act), act), act);
  per_token_layer = add(per_token_layer, mul(3, f_active, act), act);
  const int64_t seqs = training ? c.train.batch_size : std::min<int64_t>(c.train.batch_size, 8);
  const int64_t tokens = mul(seqs, c.data.seq_len, act);
  e.activation_bytes = mul(mul(mul(tokens, L, act), per_token_layer, act), 4, act);
  if (c.train.kernels == "reference") {  // the (B, H, T, T) scores, probabilities and their grads
    const int64_t probs = mul(mul(mul(seqs, H, act), c.data.seq_len, act), c.data.seq_len, act);
    e.activation_bytes = add(e.activation_bytes, mul(mul(probs, L, act), 16, act), act);
  }
  // The process (libraries, thread arenas), the LM head's logits chunk and its
  // input gradient, the evaluation batches.
  e.fixed_bytes = add(int64_t(384) << 20, mul(mul(tokens, d, act), 8, act), act);
  e.fixed_bytes = add(e.fixed_bytes, mul(V, mul(d, 8, what), what), what);
  return e;
}

int64_t memory_available_bytes() {
  int64_t avail = proc_kb("/proc/meminfo", "MemAvailable");
  if (avail < 0) avail = int64_t(sysconf(_SC_AVPHYS_PAGES)) * int64_t(sysconf(_SC_PAGESIZE));
  auto limit_less = [&](int resource, int64_t used) {
    rlimit rl{};
    if (getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
      const int64_t cap = rl.rlim_cur > rlim_t(kMaxI64) ? kMaxI64 : int64_t(rl.rlim_cur);
      avail = std::min(avail, std::max<int64_t>(0, cap - std::max<int64_t>(0, used)));
    }
  };
  limit_less(RLIMIT_AS, proc_kb("/proc/self/status", "VmSize"));
  limit_less(RLIMIT_DATA, proc_kb("/proc/self/status", "VmData"));
  const int64_t cg_max = read_number("/sys/fs/cgroup/memory.max");
  if (cg_max > 0) {
    const int64_t cg_used = std::max<int64_t>(0, read_number("/sys/fs/cgroup/memory.current"));
    avail = std::min(avail, std::max<int64_t>(0, cg_max - cg_used));
  }
  return std::max<int64_t>(0, avail);
}

int cpu_count_online() { return int(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN))); }

std::string format_bytes(int64_t bytes) {
  char buf[32];
  if (bytes >= (int64_t(1) << 30)) {
    std::snprintf(buf, sizeof(buf), "%.1f GiB", double(bytes) / double(int64_t(1) << 30));
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f MiB", double(bytes) / double(1 << 20));
  }
  return buf;
}

void config_check_resources(const Config& c, Workload workload) {
  const int cpus = cpu_count_online();
  if (c.train.threads > 4 * cpus) {
    throw Error("train.threads=" + std::to_string(c.train.threads) + " exceeds 4 x the " +
                std::to_string(cpus) + " CPUs of this machine; use 0 (one per core) or at most " +
                std::to_string(4 * cpus));
  }
  const ResourceEstimate e = resource_estimate(c, workload);
  const int64_t avail = memory_available_bytes();
  if (e.total() <= avail) return;
  const bool training = workload == Workload::Training;
  const std::string job = training ? "the run" : "the analysis";
  std::string biggest;
  if (e.weight_bytes >= e.activation_bytes) {
    biggest = "the model's " + std::to_string(e.parameters) +
              " parameters (model.n_layers, model.d_model, model.d_ff, model.vocab_size, "
              "model.moe.*) take " +
              format_bytes(e.weight_bytes);
  } else {
    biggest = std::string("the activations of ") +
              (training ? "train.batch_size x data.seq_len" : "8 sequences of data.seq_len") +
              " tokens through model.n_layers blocks take " + format_bytes(e.activation_bytes);
  }
  throw Error(job + " needs about " + format_bytes(e.total()) + " but this process may allocate " +
              format_bytes(avail) + " (available memory and limits): " + biggest +
              "; make the model or the batch smaller");
}

}  // namespace dlab
