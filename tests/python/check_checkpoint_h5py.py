#!/usr/bin/env python3
"""Checks with plain h5py that a DepthLab checkpoint holds exactly the expected tensors.

usage: check_checkpoint_h5py.py CHECKPOINT.h5 EXPECTED.json

EXPECTED.json is either
  {"state_dict": {"<HF name>": [shape...], ...}, "sums": {"<HF name>": float, ...}}
("sums" optional: the sum of the tensor's elements, checked to a relative 1e-4), or
simply {"<HF name>": [shape...], ...}.

Checks: root attributes format == "depthlab-checkpoint" and format_version == 1,
read as Python str / int; config is JSON; f["state_dict"] has exactly the expected
keys (names with dots are direct members, not nested groups), each a float32
dataset of exactly the expected shape; /tokenizer/model is uint8.

Exit status: 0 all good, 1 a check failed, 2 bad usage, 77 h5py is not
installed (CTest's SKIP_RETURN_CODE).
"""
import json
import math
import sys


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import h5py
        import numpy as np
    except ImportError as e:
        print(f"SKIP: {e} (install python3-h5py)")
        return 77

    path, expected_path = argv[1], argv[2]
    with open(expected_path) as fh:
        expected = json.load(fh)
    shapes = expected.get("state_dict", expected) if isinstance(expected, dict) else None
    if not isinstance(shapes, dict):
        print(f"{expected_path}: expected a JSON object of name -> shape", file=sys.stderr)
        return 2
    sums = expected.get("sums", {}) if "state_dict" in expected else {}

    errors = []
    with h5py.File(path, "r") as f:
        fmt = f.attrs.get("format")
        if not isinstance(fmt, str) or fmt != "depthlab-checkpoint":
            errors.append(f"format attribute is {fmt!r}, expected the str 'depthlab-checkpoint'")
        version = f.attrs.get("format_version")
        if version is None or int(version) != 1:
            errors.append(f"format_version is {version!r}, expected 1")
        config = f.attrs.get("config", "")
        if not isinstance(config, str):
            errors.append(f"config attribute is {type(config).__name__}, expected str")
        elif config:
            try:
                json.loads(config)
            except ValueError as e:
                errors.append(f"config attribute is not JSON: {e}")

        sd = f.get("state_dict")
        if not isinstance(sd, h5py.Group):
            errors.append("no /state_dict group")
        else:
            found = set(sd.keys())
            want = set(shapes)
            for name in sorted(want - found):
                errors.append(f"missing /state_dict/{name}")
            for name in sorted(found - want):
                errors.append(f"unexpected /state_dict/{name}")
            for name in sorted(found & want):
                ds = sd[name]
                if not isinstance(ds, h5py.Dataset):
                    errors.append(f"/state_dict/{name} is a group, not a dataset")
                    continue
                if ds.dtype != np.float32:
                    errors.append(f"/state_dict/{name} has dtype {ds.dtype}, expected float32")
                if tuple(ds.shape) != tuple(shapes[name]):
                    errors.append(
                        f"/state_dict/{name} has shape {tuple(ds.shape)}, "
                        f"expected {tuple(shapes[name])}")
                    continue
                if name in sums:
                    got = float(np.asarray(ds[()], dtype=np.float64).sum())
                    want_sum = float(sums[name])
                    if not math.isclose(got, want_sum, rel_tol=1e-4, abs_tol=1e-4):
                        errors.append(f"/state_dict/{name} sums to {got}, expected {want_sum}")

        tok = f.get("tokenizer")
        if not isinstance(tok, h5py.Group) or "model" not in tok:
            errors.append("no /tokenizer/model")
        else:
            if tok["model"].dtype != np.uint8:
                errors.append(f"/tokenizer/model has dtype {tok['model'].dtype}, expected uint8")
            if not isinstance(tok.attrs.get("kind"), str):
                errors.append("/tokenizer has no str attribute 'kind'")

    for e in errors:
        print(f"{path}: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"{path}: {len(shapes)} float32 tensors with the expected names and shapes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
