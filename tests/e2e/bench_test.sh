#!/usr/bin/env bash
# Smoke tests of the benchmarks (they are not tests themselves, see
# docs/performance.md): each runs in seconds on a tiny shape and must produce
# its figures, so that the commands in docs/performance.md keep working.
#   bench_test.sh <path/to/dlab> <source dir> <case>
set -uo pipefail
dlab="$1"; src="$2"; case="$3"
tmp="${DEPTHLAB_TEST_TMP:-/tmp}/bench-$case"
rm -rf "$tmp"; mkdir -p "$tmp"; cd "$tmp"
export XDG_CACHE_HOME="$tmp/cache"  # the tiny shape's generated corpus, tokenized here
python="${DEPTHLAB_PYTHON:-python3}"
fail() { echo "FAIL: $*"; exit 1; }

case "$case" in
  train)
    peer=()
    if "$python" -c 'import torch' 2>/dev/null; then peer=(--peer); fi
    "$dlab" bench train --shape tiny --steps 3 --warmup 1 --repeats 1 --precision fp32 \
      "${peer[@]}" --json out.json > out.txt 2>&1 || fail "bench train failed: $(tail -n 20 out.txt)"
    cat out.txt
    "$python" - "${#peer[@]}" <<'PY' || fail "bench train JSON is incomplete"
import json, sys
j = json.load(open("out.json"))
run = j["runs"]["dlab fused fp32"]
assert run["tokens_per_s"] > 0 and 0 < run["mfu"] < 1, run
for k in ("forward_s", "backward_s", "optimizer_s", "statistics_s", "step_s"):
    assert run["phases_s"][k] >= 0, k
assert run["peak_rss_bytes"] > 0
assert j["ceiling"]["fp32"]["best_gflops"] > 0
if int(sys.argv[1]):
    assert j["peer_best_tokens_per_s"] > 0 and run["vs_peer_best"] > 0
print("bench train JSON ok")
PY
    ;;
  kernels)
    "$dlab" bench kernels --shape tiny --repeats 1 > out.txt 2>&1 || fail "bench kernels failed: $(cat out.txt)"
    cat out.txt
    for op in rmsnorm "linear q,k,v" "attention + statistics" swiglu "lm head" "adamw step"; do
      grep -q "^$op" out.txt || fail "bench kernels printed no '$op' row"
    done
    ;;
  *) fail "unknown case $case" ;;
esac
echo "PASS: $case"
