#!/usr/bin/env python3
"""The PyTorch eager peer of `dlab bench train` (docs/performance.md).

A plain nanoGPT-style decoder written the way a researcher writes it in Python:
RMSNorm, RoPE (half split), grouped-query causal attention computed by hand
(scores, mask, softmax, @V), SwiGLU, an untied LM head, torch.optim.AdamW with the
paper's decay groups, gradient clipping at 1.0. No statistics. It trains on
uniformly random tokens (throughput does not depend on the text) and prints one
JSON object: the median tokens/s over the timed steps and its settings.

  /usr/bin/python3 tests/bench/peer_train.py --layers 8 --d-model 256 --heads 8 \
      --kv-heads 8 --d-ff 688 --vocab 4096 --seq-len 256 --batch 16 --steps 20
"""
import argparse
import ctypes
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight).type_as(x)


def rope_tables(T, dh, theta):
    freq = theta ** (-torch.arange(0, dh // 2, dtype=torch.float64) * 2.0 / dh)
    ang = torch.outer(torch.arange(T, dtype=torch.float64), freq)
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().float(), ang.sin().float()


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


class Attention(nn.Module):
    def __init__(self, d, H, G):
        super().__init__()
        self.H, self.G, self.dh = H, G, d // H
        self.q_proj = nn.Linear(d, H * self.dh, bias=False)
        self.k_proj = nn.Linear(d, G * self.dh, bias=False)
        self.v_proj = nn.Linear(d, G * self.dh, bias=False)
        self.o_proj = nn.Linear(H * self.dh, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.dh).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.G, self.dh).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.G, self.dh).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.G != self.H:
            k = k.repeat_interleave(self.H // self.G, dim=1)
            v = v.repeat_interleave(self.H // self.G, dim=1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.dh))
        att = att.masked_fill(mask, float("-inf"))
        att = F.softmax(att.float(), dim=-1).type_as(v)
        y = (att @ v).transpose(1, 2).reshape(B, T, self.H * self.dh)
        return self.o_proj(y)


class SwiGLU(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.input_layernorm = RMSNorm(a.d_model, 1e-6)
        self.self_attn = Attention(a.d_model, a.heads, a.kv_heads)
        self.post_attention_layernorm = RMSNorm(a.d_model, 1e-6)
        self.mlp = SwiGLU(a.d_model, a.d_ff)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class GPT(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab, a.d_model)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.d_model, 1e-6)
        self.lm_head = nn.Linear(a.d_model, a.vocab, bias=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
        cos, sin = rope_tables(a.seq_len, a.d_model // a.heads, 10000.0)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.register_buffer("mask", torch.ones(a.seq_len, a.seq_len, dtype=torch.bool).triu(1),
                             persistent=False)

    def forward(self, idx, targets):
        x = self.embed_tokens(idx)
        for block in self.layers:
            x = block(x, self.cos, self.sin, self.mask)
        logits = self.lm_head(self.norm(x))
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))


def blas_core():
    """OpenBLAS's kernel family (it picks by CPU model; an unknown model gets 'Prescott')."""
    for lib in ("libopenblas.so.0", "libblas.so.3"):
        try:
            f = ctypes.CDLL(lib).openblas_get_corename
            f.restype = ctypes.c_char_p
            return f().decode()
        except (OSError, AttributeError):
            continue
    return "unknown"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--d-ff", type=int, default=688)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: all cores)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: torch.autocast('cpu', bfloat16) around forward and loss")
    p.add_argument("--seed", type=int, default=1234)
    a = p.parse_args()

    torch.set_num_threads(a.threads if a.threads > 0 else max(1, len(__import__("os").sched_getaffinity(0))))
    torch.manual_seed(a.seed)
    model = GPT(a)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed_tokens" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embed_tokens" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(a.seed)
    times, losses = [], []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        tok = torch.randint(a.vocab, (a.batch, a.seq_len + 1), generator=g)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = model(tok[:, :-1], tok[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        dt = time.perf_counter() - t0
        if step >= a.warmup:
            times.append(dt)
    tokens = a.batch * a.seq_len
    out = {
        "program": "peer_train.py",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas_core": blas_core(),
        "precision": a.precision,
        "steps_timed": len(times),
        "step_s_median": statistics.median(times),
        "tokens_per_s_median": tokens / statistics.median(times),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
