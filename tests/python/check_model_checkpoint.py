#!/usr/bin/env python3
"""Independent check of a DepthLab model checkpoint with h5py.

Reads the checkpoint's own config (JSON attribute `config`), derives the
expected Hugging Face Llama state-dict names and shapes from METRICS.md §1
alone, and requires /state_dict to hold exactly those, as float32, with finite
values. Exit 0 on success, 1 on a mismatch, 77 (CTest's skip code) when h5py
is not installed.
"""
import json
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)


def expected_state_dict(cfg):
    m = cfg["model"]
    L, d, H, G, V = m["n_layers"], m["d_model"], m["n_heads"], m["n_kv_heads"], m["vocab_size"]
    dh = d // H
    moe = m.get("moe", {})
    E = moe.get("n_experts", 0)
    d_exp = moe.get("d_expert", 0) or m["d_ff"]
    out = {"model.embed_tokens.weight": (V, d)}
    for i in range(L):
        p = f"model.layers.{i}."
        out[p + "input_layernorm.weight"] = (d,)
        out[p + "self_attn.q_proj.weight"] = (H * dh, d)
        out[p + "self_attn.k_proj.weight"] = (G * dh, d)
        out[p + "self_attn.v_proj.weight"] = (G * dh, d)
        out[p + "self_attn.o_proj.weight"] = (d, H * dh)
        out[p + "post_attention_layernorm.weight"] = (d,)
        if E == 0:
            out[p + "mlp.gate_proj.weight"] = (m["d_ff"], d)
            out[p + "mlp.up_proj.weight"] = (m["d_ff"], d)
            out[p + "mlp.down_proj.weight"] = (d, m["d_ff"])
        else:
            out[p + "mlp.gate.weight"] = (E, d)
            for e in range(E):
                q = p + f"mlp.experts.{e}."
                out[q + "gate_proj.weight"] = (d_exp, d)
                out[q + "up_proj.weight"] = (d_exp, d)
                out[q + "down_proj.weight"] = (d, d_exp)
            if moe.get("n_shared_experts", 0) > 0:
                q = p + "mlp.shared_expert."
                out[q + "gate_proj.weight"] = (d_exp, d)
                out[q + "up_proj.weight"] = (d_exp, d)
                out[q + "down_proj.weight"] = (d, d_exp)
    out["model.norm.weight"] = (d,)
    out["lm_head.weight"] = (V, d)
    return out


def main():
    if len(sys.argv) != 2:
        print("usage: check_model_checkpoint.py <step-N.h5>")
        return 2
    with h5py.File(sys.argv[1], "r") as f:
        fmt = f.attrs["format"]
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt != "depthlab-checkpoint":
            print(f"format attribute is {fmt!r}, expected 'depthlab-checkpoint'")
            return 1
        cfg_text = f.attrs["config"]
        cfg = json.loads(cfg_text.decode() if isinstance(cfg_text, bytes) else cfg_text)
        want = expected_state_dict(cfg)
        sd = f["state_dict"]
        have = {k: tuple(sd[k].shape) for k in sd.keys()}
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        for k in missing:
            print(f"missing {k} {want[k]}")
        for k in extra:
            print(f"unexpected {k} {have[k]}")
        for k in wrong:
            print(f"shape of {k} is {have[k]}, expected {want[k]}")
        bad_dtype = [k for k in have if sd[k].dtype != np.float32]
        for k in bad_dtype:
            print(f"dtype of {k} is {sd[k].dtype}, expected float32")
        non_finite = [k for k in have if not np.isfinite(sd[k][()]).all()]
        for k in non_finite:
            print(f"{k} has non-finite values")
        if missing or extra or wrong or bad_dtype or non_finite:
            return 1
        print(f"OK: {len(have)} tensors, names and shapes as METRICS.md §1 "
              f"(L={cfg['model']['n_layers']}, E={cfg['model'].get('moe', {}).get('n_experts', 0)})")
        return 0


if __name__ == "__main__":
    sys.exit(main())
