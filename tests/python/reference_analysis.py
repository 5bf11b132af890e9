#!/usr/bin/env python3
"""Independent reference for `dlab analyze`, written from METRICS.md alone.

Loads a DepthLab checkpoint with h5py (the /state_dict tensors by their Hugging
Face names and the `config` JSON attribute), rebuilds the model in plain
PyTorch (METRICS §1), reads evaluation tokens from an llm.c .bin shard and
recomputes the layer-effectiveness metrics of METRICS §3.

    reference_analysis.py write-shard OUT.bin --vocab V --tokens N [--seed S]
    reference_analysis.py analyze CKPT.h5 --tokens EVAL.bin --first N
                          [--jacobian-samples K] [--tau 0.1] [--json OUT] [--compare CPP.json]

With --compare, every metric must agree with the C++ JSON to 1e-4 relative
(with an absolute floor of 1e-6 for values near zero), the spectral norms to
1e-3; the worst mismatches are printed; exit 1 on disagreement. Exit 77
(CTest's skip code) when torch, numpy or h5py are missing.
"""
import argparse
import json
import math
import sys

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)

SHARD_MAGIC = 20240520


# ---- data ---------------------------------------------------------------------------
def write_shard(path, tokens):
    header = np.zeros(256, dtype=np.int32)
    header[0], header[1], header[2] = SHARD_MAGIC, 1, len(tokens)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.asarray(tokens, dtype=np.uint16).tobytes())


def read_shard(path):
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype=np.int32)
        assert header[0] == SHARD_MAGIC and header[1] == 1, f"{path}: not an llm.c shard"
        return np.frombuffer(f.read(), dtype=np.uint16)[: header[2]].astype(np.int64)


def first_windows(tokens, n, T):
    """Window w = tokens[w*T : w*T+T+1]: inputs the first T, targets the last T."""
    rows = [tokens[w * T: w * T + T + 1] for w in range(n)]
    assert all(len(r) == T + 1 for r in rows), "not enough tokens for the windows"
    x = torch.tensor(np.stack(rows))
    return x[:, :-1], x[:, 1:]


# ---- the model (METRICS §1) --------------------------------------------------------------
def rms_norm(x, w, eps):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps) * w.float()).to(x.dtype)


def rope(x, theta):
    """x (B, n, T, dh); half split: component k pairs with k + dh/2."""
    T, dh = x.shape[-2], x.shape[-1]
    freq = theta ** (-torch.arange(0, dh // 2, dtype=torch.float64) * 2.0 / dh)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freq[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1).to(x.dtype)
    sin = torch.cat([ang.sin(), ang.sin()], -1).to(x.dtype)
    a, b = x[..., : dh // 2], x[..., dh // 2:]
    return x * cos + torch.cat([-b, a], -1) * sin


def swiglu(x, p):
    return F.linear(F.silu(F.linear(x, p["gate_proj.weight"])) * F.linear(x, p["up_proj.weight"]),
                    p["down_proj.weight"])


class Reference:
    def __init__(self, cfg, sd):
        m = cfg["model"]
        self.L, self.d, self.H, self.G = m["n_layers"], m["d_model"], m["n_heads"], m["n_kv_heads"]
        self.dh = self.d // self.H
        self.eps, self.theta = m["norm_eps"], m["rope_theta"]
        self.scaling = m["norm_scaling"] == "layernorm_scaling"
        moe = m.get("moe", {})
        self.E, self.k, self.shared = moe.get("n_experts", 0), moe.get("top_k", 0), moe.get("n_shared_experts", 0)
        self.sd = sd
        # block parameters by block index, with the prefix stripped
        self.blocks = []
        for i in range(self.L):
            pre = f"model.layers.{i}."
            self.blocks.append({k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)})

    def scale(self, position):
        return 1.0 / math.sqrt(position + 1) if self.scaling else 1.0

    def attention(self, x, p):
        B, T, _ = x.shape
        q = F.linear(x, p["self_attn.q_proj.weight"]).view(B, T, self.H, self.dh).transpose(1, 2)
        k = F.linear(x, p["self_attn.k_proj.weight"]).view(B, T, self.G, self.dh).transpose(1, 2)
        v = F.linear(x, p["self_attn.v_proj.weight"]).view(B, T, self.G, self.dh).transpose(1, 2)
        q, k = rope(q, self.theta), rope(k, self.theta)
        k = k.repeat_interleave(self.H // self.G, dim=1)  # KV head g serves query heads g*H/G ...
        v = v.repeat_interleave(self.H // self.G, dim=1)
        s = q @ k.transpose(-2, -1) / math.sqrt(self.dh)
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        y = torch.softmax(s.float(), -1).to(x.dtype) @ v
        return F.linear(y.transpose(1, 2).reshape(B, T, self.d), p["self_attn.o_proj.weight"])

    def ffn(self, x, p):
        if self.E == 0:
            return swiglu(x, {k[4:]: v for k, v in p.items() if k.startswith("mlp.")})
        B, T, d = x.shape
        flat = x.reshape(-1, d)
        probs = torch.softmax(F.linear(flat.float(), p["mlp.gate.weight"].float()), -1)
        top_p, top_e = probs.topk(self.k, dim=-1)  # not renormalised
        y = torch.zeros_like(flat)
        for e in range(self.E):
            w = (top_p * (top_e == e)).sum(-1).to(x.dtype)  # p_e where e is in the top-k, else 0
            pe = {n: p[f"mlp.experts.{e}.{n}"] for n in ("gate_proj.weight", "up_proj.weight", "down_proj.weight")}
            y = y + w[:, None] * swiglu(flat, pe)
        if self.shared:
            ps = {n: p[f"mlp.shared_expert.{n}"] for n in ("gate_proj.weight", "up_proj.weight", "down_proj.weight")}
            y = swiglu(flat, ps) / (self.k + 1) + y * self.k / (self.k + 1)
        return y.view(B, T, d)

    def block(self, position, weights_of, h):
        """Block `weights_of`'s parameters at `position` (its scaling factor)."""
        p, s = self.blocks[weights_of], self.scale(position)
        u = h + self.attention(rms_norm(h, p["input_layernorm.weight"], self.eps) * s, p)
        return u + self.ffn(rms_norm(u, p["post_attention_layernorm.weight"], self.eps) * s, p)

    def logits(self, h):
        return F.linear(rms_norm(h, self.sd["model.norm.weight"], self.eps), self.sd["lm_head.weight"])

    def hidden(self, tokens, plan=None):
        """h_0 .. h_L; plan[i] = block index, None (skip) or a callable (replacement)."""
        h = F.embedding(tokens, self.sd["model.embed_tokens.weight"])
        hs = [h]
        for i in range(self.L):
            what = i if plan is None else plan[i]
            if what is None:
                pass
            elif callable(what):
                h = what(h)
            else:
                h = self.block(i, what, h)
            hs.append(h)
        return hs

    def loss_from(self, h, targets):
        return F.cross_entropy(self.logits(h).reshape(-1, self.sd["lm_head.weight"].shape[0]).float(),
                               targets.reshape(-1)).item()


# ---- metrics (METRICS §3) ----------------------------------------------------------------
def analyze(ref, inputs, targets, jac_samples, tau):
    L, d = ref.L, ref.d
    with torch.no_grad():
        hs = ref.hidden(inputs)
        base = ref.loss_from(hs[-1], targets)
        out = {"loss": base, "n_layers": L}

        causal = torch.zeros(L, L, dtype=torch.float64)
        delta = [hs[l + 1] - hs[l] for l in range(L)]
        for s in range(L):
            plan = list(range(L))
            plan[s] = None
            hb = ref.hidden(inputs, plan)
            for l in range(s + 1, L):
                den = delta[l].double().norm(dim=-1).mean()
                num = ((hb[l + 1] - hb[l]) - delta[l]).double().norm(dim=-1).mean()
                causal[s, l] = 0.0 if den <= 1e-8 else num / den
        out["causal_matrix"] = causal.tolist()
        out["causal_score"] = causal.sum().item() / (L * (L - 1) / 2) if L > 1 else 0.0

        perm = torch.zeros(L, L, dtype=torch.float64)
        for i in range(L):
            for j in range(i + 1, L):
                plan = list(range(L))
                plan[i], plan[j] = j, i
                perm[i, j] = abs(ref.loss_from(ref.hidden(inputs, plan)[-1], targets) - base) / base
        out["permutation_matrix"] = perm.tolist()
        out["permutation_score"] = perm.sum().item() / (L * (L - 1) / 2) if L > 1 else 0.0

        ratios = []
        for l in range(L):
            X = hs[l].reshape(-1, d).double()
            Y = hs[l + 1].reshape(-1, d).double()
            X1 = torch.cat([X, torch.ones(X.shape[0], 1, dtype=torch.float64)], 1)
            Wb = torch.linalg.lstsq(X1, Y).solution  # (d+1, d): [W; b]
            W, b = Wb[:d].float(), Wb[d].float()
            plan = list(range(L))
            plan[l] = lambda h, W=W, b=b: h @ W + b
            ratios.append(ref.loss_from(ref.hidden(inputs, plan)[-1], targets) / base)
        out["usefulness_ratio"] = ratios
        out["useful_layers"] = sum(r > 1 + tau for r in ratios)
        out["usefulness_score"] = out["useful_layers"] / L

        bi, lens, var = [], [], []
        for l in range(L):
            cos = F.cosine_similarity(hs[l].double(), hs[l + 1].double(), dim=-1)
            bi.append(1.0 - cos.mean().item())
        for l in range(L + 1):
            lens.append(ref.loss_from(hs[l], targets))
            var.append(hs[l].double().var(dim=-1, unbiased=True).mean().item())
        out["block_influence"], out["logit_lens_loss"], out["residual_variance"] = bi, lens, var

    dev, off, dmean, dstd, spec = [], [], [], [], []
    eye = torch.eye(d, dtype=torch.float64)
    for l in range(L):
        x = hs[l][:jac_samples].detach().clone().requires_grad_(True)
        y = ref.block(l, l, x)
        B, T = x.shape[0], x.shape[1]
        J = torch.zeros(d, d, dtype=torch.float64)  # J[j, i]
        for i in range(d):
            (g,) = torch.autograd.grad(y[..., i].sum(), x, retain_graph=True)
            J[:, i] = g.double().sum((0, 1)) / (B * T)
        dev.append((J - eye).norm().item() / d)
        off.append((J * (1 - eye)).norm().item() / math.sqrt(d * d - d))
        dmean.append(J.diagonal().mean().item())
        dstd.append(J.diagonal().std().item())
        spec.append(torch.linalg.svdvals(J).max().item())
    out.update(jacobian_deviation=dev, jacobian_offdiag=off, jacobian_diag_mean=dmean,
               jacobian_diag_std=dstd, jacobian_spectral=spec)
    return out


# ---- comparison ---------------------------------------------------------------------------
def flatten(v):
    return list(np.asarray(v, dtype=np.float64).ravel())


def compare(ours, theirs):
    rows, bad = [], 0
    for key, value in ours.items():
        if key not in theirs:
            print(f"C++ JSON lacks key {key}")
            bad += 1
            continue
        a, b = flatten(value), flatten(theirs[key])
        if len(a) != len(b):
            print(f"{key}: {len(b)} values in C++, {len(a)} here")
            bad += 1
            continue
        rel = 1e-3 if key == "jacobian_spectral" else 1e-4
        for idx, (x, y) in enumerate(zip(a, b)):
            err = abs(x - y) / max(abs(x), abs(y), 1e-6 / rel)  # relative, absolute floor 1e-6
            rows.append((err / rel, key, idx, x, y))
            if err > rel:
                bad += 1
    rows.sort(reverse=True)
    print(f"{'key':24} {'index':>5} {'reference':>14} {'C++':>14} {'err/tol':>8}")
    for score, key, idx, x, y in rows[:8]:
        print(f"{key:24} {idx:5d} {x:14.8g} {y:14.8g} {score:8.3f}")
    print(f"{len(rows)} values compared, {bad} outside tolerance")
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write-shard")
    w.add_argument("out")
    w.add_argument("--vocab", type=int, required=True)
    w.add_argument("--tokens", type=int, required=True)
    w.add_argument("--seed", type=int, default=0)
    a = sub.add_parser("analyze")
    a.add_argument("checkpoint")
    a.add_argument("--tokens", required=True)
    a.add_argument("--first", type=int, required=True)
    a.add_argument("--jacobian-samples", type=int, default=4)
    a.add_argument("--tau", type=float, default=0.1)
    a.add_argument("--json")
    a.add_argument("--compare")
    args = ap.parse_args()

    if args.cmd == "write-shard":
        rng = np.random.default_rng(args.seed)
        write_shard(args.out, rng.integers(0, args.vocab, size=args.tokens))
        return 0

    torch.set_num_threads(1)
    with h5py.File(args.checkpoint, "r") as f:
        cfg_text = f.attrs["config"]
        cfg = json.loads(cfg_text.decode() if isinstance(cfg_text, bytes) else cfg_text)
        sd = {k: torch.from_numpy(f["state_dict"][k][()]) for k in f["state_dict"].keys()}
    ref = Reference(cfg, sd)
    inputs, targets = first_windows(read_shard(args.tokens), args.first, cfg["data"]["seq_len"])
    out = analyze(ref, inputs, targets, args.jacobian_samples, args.tau)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if args.compare:
        with open(args.compare) as f:
            return 0 if compare(out, json.load(f)) else 1
    print(json.dumps({k: out[k] for k in ("loss", "causal_score", "permutation_score", "usefulness_score")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
