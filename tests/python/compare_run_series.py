#!/usr/bin/env python3
"""Compares metric series of two DepthLab run files with plain h5py.

usage: compare_run_series.py A/run.h5 B/run.h5 SERIES[,SERIES...] RTOL

Each series (/series/<name>/step and /value) must have the same steps in both
files and values equal within the relative tolerance RTOL (|a-b| <= RTOL*|a|,
plus 1e-12 absolute for values at zero). Prints the worst relative difference.
Exit status: 0 equal, 1 different, 2 bad usage, 77 h5py missing (CTest skip).
"""
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    print("SKIPPED: h5py/numpy not installed for", sys.executable)
    sys.exit(77)


def series(path, name):
    with h5py.File(path, "r") as f:
        g = f["series"][name]
        return np.asarray(g["step"][()]), np.asarray(g["value"][()], dtype=np.float64)


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    a_path, b_path, names, rtol = sys.argv[1], sys.argv[2], sys.argv[3].split(","), float(sys.argv[4])
    ok = True
    for name in names:
        sa, va = series(a_path, name)
        sb, vb = series(b_path, name)
        if not np.array_equal(sa, sb):
            print(f"FAIL {name}: steps differ: {sa.tolist()} vs {sb.tolist()}")
            ok = False
            continue
        rel = np.abs(va - vb) / (np.abs(va) + 1e-12)
        worst = float(rel.max()) if rel.size else 0.0
        status = "ok" if worst <= rtol else "FAIL"
        print(f"{status} {name}: {len(sa)} points, worst relative difference {worst:.3g} (rtol {rtol:g})")
        ok = ok and worst <= rtol
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
