// dlab bench kernels: each fused operation against its reference at one of the
// named shapes, forward and forward + backward, on random inputs. Where the
// time of a training step goes, operation by operation (docs/performance.md).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "bench_shapes.h"
#include "commands.h"
#include "common/error.h"
#include "kernels/blas_setup.h"
#include "kernels/fused_ops.h"
#include "kernels/gemm.h"
#include "kernels/optimizer.h"
#include "kernels/threads.h"
#include "metrics/layer_stats.h"
#include "model/transformer.h"
#include "train/adamw.h"

namespace dlab::cli {
namespace {

using Clock = std::chrono::steady_clock;
using Fn = std::function<torch::Tensor()>;  // returns the output to backpropagate

struct KernelBenchArgs {
  std::string shape = "reference";
  int threads = 0;
  int repeats = 7;
  std::string precision = "fp32";
  std::string only;  // run the operations whose name contains this
};

double median_seconds(const std::function<void()>& f, int repeats) {
  f();  // warm-up: caches, oneDNN's kernel generation
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Forward alone (no autograd), and forward + backward with a random output gradient.
struct Timing {
  double forward = 0, both = 0;
};
Timing time_op(const Fn& f, int repeats) {
  Timing t;
  t.forward = median_seconds(
      [&] {
        torch::NoGradGuard no_grad;
        f();
      },
      repeats);
  torch::Tensor grad;
  t.both = median_seconds(
      [&] {
        const torch::Tensor y = f();
        if (!grad.defined() || grad.sizes() != y.sizes()) grad = torch::randn_like(y);
        torch::autograd::backward({y}, {grad});
      },
      repeats);
  return t;
}

std::string g_only;  // --only

bool wanted(const char* name) {
  return g_only.empty() || std::string(name).find(g_only) != std::string::npos;
}

void print_row(const char* name, const Timing& fused, const Timing& ref, double flops) {
  std::printf("%-26s %9.2f %9.2f   %9.2f %9.2f   %5.2fx", name, fused.forward * 1e3,
              fused.both * 1e3, ref.forward * 1e3, ref.both * 1e3, ref.both / fused.both);
  if (flops > 0) std::printf("   %6.0f GFLOP/s", 3 * flops / fused.both / 1e9);
  std::printf("\n");
}

int bench_kernels(const KernelBenchArgs& a) {
  const BenchShape& shape = bench_shape(a.shape);
  const int threads = kernels::threads_set(a.threads);
  const ModelConfig& m = shape.model;
  const int64_t B = shape.batch_size, T = shape.seq_len, d = m.d_model, H = m.n_heads,
                G = m.n_kv_heads, dh = m.head_dim(), F = m.d_ff, V = m.vocab_size, N = B * T;
  const kernels::Precision prec =
      a.precision == "bf16" ? kernels::Precision::Bf16 : kernels::Precision::Fp32;
  std::printf("# dlab bench kernels --shape %s (%s), %d threads, %s products\n", shape.name.c_str(),
              shape.description.c_str(), threads, a.precision.c_str());
  std::printf("# %s; oneDNN %s\n", kernels::blas_describe().c_str(), kernels::gemm_isa_name());
  std::printf("# median of %d; times in ms; speed-up = reference / fused (forward + backward)\n",
              a.repeats);
  std::printf("%-26s %9s %9s   %9s %9s   %6s\n", "operation", "fused fw", "fw+bw", "ref fw",
              "fw+bw", "speed");

  torch::manual_seed(1);
  Transformer model(m);
  BlockImpl& blk = *model->model->blocks[0];
  AttentionImpl& att = *blk.self_attn;
  FeedForwardImpl& ffn = *blk.ffn;
  const AttentionContext ctx = model->block_context(T, torch::TensorOptions());
  ExecOptions ref_exec;
  ref_exec.kernels = Kernels::Reference;
  AttentionContext ref_ctx = ctx;
  ref_ctx.exec = ref_exec;
  AttentionContext stats_ctx = ctx;
  stats_ctx.attn_stats_eps = {1e-3, 1e-2, 1e-1};
  const auto leaf = [](torch::Tensor t) { return t.requires_grad_(true); };
  const torch::Tensor h = leaf(torch::randn({B, T, d}));
  const torch::Tensor qkv = leaf(torch::randn({B, T, (H + 2 * G) * dh}));
  const torch::Tensor gu = leaf(torch::randn({B, T, 2 * F}));
  const torch::Tensor targets = torch::randint(V, {B, T}, torch::kInt64);
  RMSNormImpl& norm = *blk.input_layernorm;
  const double attn_flops = 4.0 * B * H * T * T * dh / 2;  // causal half, forward

  auto row = [&](const char* name, const Fn& fused, const Fn& ref, double flops) {
    if (wanted(name)) print_row(name, time_op(fused, a.repeats), time_op(ref, a.repeats), flops);
  };
  row(
      "rmsnorm", [&] { return norm.forward_fused(h); }, [&] { return norm.forward(h); }, 0);
  row(
      "linear q,k,v",
      [&] {
        return kernels::linear(h, {att.q_proj->weight, att.k_proj->weight, att.v_proj->weight},
                               prec);
      },
      [&] {
        return torch::cat({att.q_proj(h), att.k_proj(h), att.v_proj(h)}, -1);
      },
      2.0 * N * d * (H + 2 * G) * dh);
  auto heads = [&](int64_t from, int64_t n) {
    return qkv.narrow(2, from * dh, n * dh).view({B, T, n, dh}).transpose(1, 2);
  };
  row(
      "rope q,k", [&] { return kernels::rope_qk(qkv, ctx.rope.cos, ctx.rope.sin, H, G); },
      [&] {
        return torch::cat({rope_apply(heads(0, H), ctx.rope).flatten(),
                           rope_apply(heads(H, G), ctx.rope).flatten()});
      },
      0);
  const Fn ref_attention = [&] {
    torch::Tensor k = heads(H, G), v = heads(H + G, G);
    if (G != H) {
      k = k.repeat_interleave(H / G, 1);
      v = v.repeat_interleave(H / G, 1);
    }
    const torch::Tensor s = torch::matmul(heads(0, H), k.transpose(-2, -1))
                                .mul(1.0 / std::sqrt(double(dh)))
                                .masked_fill(ctx.future, -INFINITY);
    return torch::matmul(torch::softmax(s, -1), v);
  };
  row(
      "attention", [&] { return kernels::attention(qkv, H, G).out; }, ref_attention, attn_flops);
  row(
      "attention + statistics",
      [&] { return kernels::attention(qkv, H, G, stats_ctx.attn_stats_eps).out; }, ref_attention,
      attn_flops);
  row(
      "linear o", [&] { return kernels::linear(h, {att.o_proj->weight}, prec); },
      [&] { return att.o_proj(h); }, 2.0 * N * d * d);
  row(
      "linear gate,up",
      [&] {
        return kernels::linear(h, {ffn.gate_proj->weight, ffn.up_proj->weight}, prec);
      },
      [&] {
        return torch::cat({ffn.gate_proj(h), ffn.up_proj(h)}, -1);
      },
      2.0 * N * d * 2 * F);
  row(
      "swiglu", [&] { return kernels::swiglu(gu); },
      [&] { return torch::silu(gu.narrow(-1, 0, F)) * gu.narrow(-1, F, F); }, 0);
  const torch::Tensor mid = leaf(torch::randn({B, T, F}));
  row(
      "linear down", [&] { return kernels::linear(mid, {ffn.down_proj->weight}, prec); },
      [&] { return ffn.down_proj(mid); }, 2.0 * N * F * d);
  row(
      "lm head + cross-entropy",
      [&] { return kernels::lm_head_loss(h, model->lm_head->weight, targets, prec); },
      [&] { return lm_loss(model->lm_head(h), targets); }, 2.0 * N * d * V);
  row(
      "block (attention + FFN)", [&] { return blk.forward(h, 1.0, ctx).h_next; },
      [&] { return blk.forward(h, 1.0, ref_ctx).h_next; }, 0);
  // Statistics of one probe point (forward only): the fused one-pass kernel
  // against the reference functions of core/metrics.
  auto stats_row = [&](const char* name, const std::function<void()>& fused,
                       const std::function<void()>& ref) {
    if (!wanted(name)) return;
    const double f = median_seconds(fused, a.repeats), r = median_seconds(ref, a.repeats);
    std::printf("%-26s %9.3f %9s   %9.3f %9s   %5.2fx\n", name, f * 1e3, "", r * 1e3, "", r / f);
  };
  const torch::Tensor probe = h.detach();
  stats_row(
      "residual statistics", [&] { kernels::residual_moments(probe, /*with_kurtosis=*/true); },
      [&] {
        token_variance(probe);
        kurtosis_stats(probe);
      });
  const auto named = model->state_dict_hf();
  stats_row(
      "weight statistics",
      [&] {
        weight_sparsity(named, m.n_layers, {1e-4, 1e-3, 1e-2}, 40, -8, 1, /*fused=*/true);
      },
      [&] {
        weight_sparsity(named, m.n_layers, {1e-4, 1e-3, 1e-2}, 40, -8, 1, /*fused=*/false);
      });
  if (!wanted("adamw")) return 0;

  // The optimizer over every parameter of the model, with gradients in place.
  for (auto& [name, p] : model->state_dict_hf()) p.mutable_grad() = torch::randn_like(p);
  AdamW fused_opt(model->state_dict_hf(), AdamWOptions{0.9, 0.95, 1e-8, 0.1, /*fused=*/true});
  AdamW ref_opt(model->state_dict_hf(), AdamWOptions{0.9, 0.95, 1e-8, 0.1, /*fused=*/false});
  std::vector<torch::Tensor> grads;
  for (auto& [name, p] : model->state_dict_hf()) grads.push_back(p.grad());
  const double t_fused = median_seconds([&] { fused_opt.step(1e-4, 0.5); }, a.repeats);
  const double t_ref = median_seconds([&] { ref_opt.step(1e-4, 0.5); }, a.repeats);
  const double n_fused = median_seconds([&] { kernels::sum_squares(grads); }, a.repeats);
  const double n_ref = median_seconds(
      [&] {
        double sq = 0;
        for (const torch::Tensor& g : grads)
          sq += g.to(torch::kFloat64).pow(2).sum().item<double>();
      },
      a.repeats);
  std::printf("%-26s %9.2f %9s   %9.2f %9s   %5.2fx\n", "adamw step (all params)", t_fused * 1e3,
              "", t_ref * 1e3, "", t_ref / t_fused);
  std::printf("%-26s %9.2f %9s   %9.2f %9s   %5.2fx\n", "gradient norm", n_fused * 1e3, "",
              n_ref * 1e3, "", n_ref / n_fused);
  return 0;
}

}  // namespace

Command bench_kernels_register(CLI::App& app) {
  auto a = std::make_shared<KernelBenchArgs>();
  app.footer(
      "Times each fused operation (train.kernels = fused) against its plain ATen reference\n"
      "at a named shape, on random inputs: forward alone, and forward + backward. GFLOP/s\n"
      "counts the forward products times 3. Example:\n"
      "  dlab bench kernels --shape reference --threads 2");
  app.add_option("--shape", a->shape, "reference or tiny")->capture_default_str();
  app.add_option("--threads", a->threads, "intra-op threads (0: one per core)")
      ->capture_default_str();
  app.add_option("--repeats", a->repeats, "timings per operation (median)")->capture_default_str();
  app.add_option("--precision", a->precision, "fp32 or bf16 matrix products")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  app.add_option("--only", a->only, "only the operations whose name contains this text");
  return [a] {
    if (a->repeats < 1 || a->threads < 0)
      throw Error("bench kernels: --repeats >= 1, --threads >= 0");
    g_only = a->only;
    return bench_kernels(*a);
  };
}

}  // namespace dlab::cli
