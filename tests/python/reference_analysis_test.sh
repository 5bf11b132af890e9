#!/usr/bin/env bash
# dlab analyze vs the independent Python reference (tests/python/reference_analysis.py).
#   reference_analysis_test.sh <path/to/dlab> <python3 with torch+h5py> <source dir> <variant>
set -uo pipefail
dlab="$1"; python="$2"; src="$3"; variant="$4"
tmp="${DEPTHLAB_TEST_TMP:-/tmp}/reference-$variant"
rm -rf "$tmp"; mkdir -p "$tmp"; cd "$tmp"
ref="$src/tests/python/reference_analysis.py"
"$python" -c "import torch, h5py, numpy" 2>/dev/null || { echo "SKIP: $python lacks torch/h5py"; exit 77; }

extra=()
case "$variant" in
  dense) ;;
  moe) extra=(--set model.moe.n_experts=4 --set model.moe.top_k=2 --set model.moe.d_expert=32
              --set model.moe.n_shared_experts=1) ;;
  layernorm_scaling) extra=(--set model.norm_scaling=layernorm_scaling --set model.n_layers=3) ;;
  *) echo "unknown variant $variant"; exit 2 ;;
esac
"$dlab" train --preset tiny --set run.dir="$tmp/runs" --set data.cache_dir="$tmp/cache" \
  --set train.steps=30 "${extra[@]}" --quiet || { echo "FAIL: training"; exit 1; }
"$python" "$ref" write-shard eval.bin --vocab 256 --tokens 4000 --seed 7 || exit 1
"$dlab" analyze runs/tiny/checkpoints/step-30.h5 --tokens eval.bin --first 8 \
  --jacobian-samples 4 --json cpp.json --no-store --quiet > /dev/null || { echo "FAIL: dlab analyze"; exit 1; }
"$python" "$ref" analyze runs/tiny/checkpoints/step-30.h5 --tokens eval.bin --first 8 \
  --jacobian-samples 4 --json reference.json --compare cpp.json
