#!/usr/bin/env python3
"""Two run directories hold the same run, bit for bit (the kill-anywhere tests).

usage: check_same_run.py REF_DIR RUN_DIR STEP

Every series of REF_DIR/run.h5 must be in RUN_DIR/run.h5 with the same steps
and the same float32 values (compared as bits; tokens_per_s, a timing, by its
steps only), and the checkpoints
checkpoints/step-STEP.h5 must hold the same state_dict bytes. Exit status: 0
the same, 1 different (says where), 77 h5py missing (CTest skip).
"""
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    print("SKIPPED: h5py/numpy not installed for", sys.executable)
    sys.exit(77)


# Series that measure time, not the model: only their steps must agree.
TIMINGS = {"tokens_per_s"}


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    ref, run, step = sys.argv[1], sys.argv[2], sys.argv[3]
    with h5py.File(ref + "/run.h5", "r", swmr=True) as a, h5py.File(run + "/run.h5", "r", swmr=True) as b:
        for name in a["series"]:
            sa, sb = a["series"][name], b["series"][name]
            if not np.array_equal(sa["step"][()], sb["step"][()]):
                print(f"series {name}: steps differ: {sa['step'][()]} vs {sb['step'][()]}")
                return 1
            if name in TIMINGS:
                continue  # wall-clock figures differ between any two runs
            va = np.asarray(sa["value"][()], dtype=np.float32).view(np.uint32)
            vb = np.asarray(sb["value"][()], dtype=np.float32).view(np.uint32)
            if va.shape != vb.shape or not np.array_equal(va, vb):
                print(f"series {name}: values differ")
                return 1
        sa, sb = a["status"][()], b["status"][()]
        if sa != sb:
            print(f"status differs: {sa!r} vs {sb!r}")
            return 1
    ckpt = f"/checkpoints/step-{step}.h5"
    with h5py.File(ref + ckpt, "r") as a, h5py.File(run + ckpt, "r") as b:
        for name in a["state_dict"]:
            if a["state_dict"][name][()].tobytes() != b["state_dict"][name][()].tobytes():
                print(f"checkpoint step {step}: {name} differs")
                return 1
    print(f"same run: every series and the step-{step} weights are bit-identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
