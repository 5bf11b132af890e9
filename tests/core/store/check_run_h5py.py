#!/usr/bin/env python3
"""Reads a run.h5 written by DepthLab with plain h5py (the docs/file-formats.md example).

usage: check_run_h5py.py RUN.h5 EXPECTED.json    (written by write_sample_checkpoint)
Exit status: 0 good, 1 a check failed, 77 h5py is not installed.
"""
import json
import sys


def main(argv):
    try:
        import h5py
    except ImportError as e:
        print(f"SKIP: {e} (install python3-h5py)")
        return 77
    with open(argv[2]) as fh:
        want = json.load(fh)
    errors = []
    # The same calls as the example in docs/file-formats.md; swmr=True tails a live run.
    with h5py.File(argv[1], "r", libver="latest", swmr=True) as f:
        # run.h5 strings are fixed-length UTF-8: h5py returns bytes.
        if f.attrs["format"] != b"depthlab-run" or int(f.attrs["format_version"]) != 1:
            errors.append(f"format {f.attrs['format']!r} version {f.attrs['format_version']!r}")
        config = json.loads(f.attrs["config"])
        loss = f["series/loss"]
        steps, values = loss["step"][:], loss["value"][:, 0]
        n = min(len(steps), len(values))
        if n != want["loss_steps"]:
            errors.append(f"loss has {n} rows, expected {want['loss_steps']}")
        elif abs(values[0] - want["loss_first"]) > 1e-5 or abs(values[-1] - want["loss_last"]) > 1e-5:
            errors.append(f"loss values {values[0]} ... {values[-1]}")
        width = f["series/resid_var/value"].shape[1]
        if width != want["resid_var_width"]:
            errors.append(f"resid_var width {width}")
        if loss.attrs["description"].decode("utf-8") != "training loss":
            errors.append(f"description {loss.attrs['description']!r}")
        status = f["status"][()].decode("utf-8")
        if status != "finished":
            errors.append(f"status {status!r}")
    for e in errors:
        print(f"{argv[1]}: {e}", file=sys.stderr)
    if not errors:
        print(f"{argv[1]}: {n} loss rows, config keys {sorted(config)}, status {status}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
