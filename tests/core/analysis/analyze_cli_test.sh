#!/usr/bin/env bash
# End-to-end: `dlab analyze` on a checkpoint of `dlab train --preset tiny`.
#   analyze_cli_test.sh <path/to/dlab>
set -uo pipefail
dlab="$1"
tmp="${DEPTHLAB_TEST_TMP:-/tmp}/analyze-cli"
rm -rf "$tmp"; mkdir -p "$tmp"; cd "$tmp"
python="${DEPTHLAB_PYTHON:-python3}"
# fail, expect_error
source "$(dirname "${BASH_SOURCE[0]}")/../../cli_expect.sh"

"$dlab" train --preset tiny --set run.dir="$tmp/runs" --set data.cache_dir="$tmp/cache" \
  --set train.steps=20 --quiet || fail "tiny run failed"
ckpt=runs/tiny/checkpoints/step-20.h5
[ -f "$ckpt" ] || fail "no checkpoint"

# Everything, from the run directory (newest checkpoint), JSON out, file stored.
"$dlab" analyze runs/tiny --samples 16 --jacobian-samples 2 --json all.json --quiet > table.txt \
  || fail "analyze failed"
grep -q "causal matrix" table.txt || fail "no causal matrix in the summary: $(cat table.txt)"
[ -f runs/tiny/analysis/step-20.h5 ] || fail "no analysis file"
"$python" - all.json <<'PY' || fail "JSON check failed"
import json, sys
j = json.load(open(sys.argv[1]))
L = j["n_layers"]
shapes = {"causal_matrix": (L, L), "permutation_matrix": (L, L)}
vectors = {k: L for k in ["usefulness_ratio", "jacobian_deviation", "jacobian_offdiag",
                          "jacobian_diag_mean", "jacobian_diag_std", "jacobian_spectral",
                          "block_influence"]}
vectors.update({"logit_lens_loss": L + 1, "residual_variance": L + 1})
for k in ["loss", "causal_score", "permutation_score", "useful_layers", "usefulness_score",
          "samples", "seq_len", "first"] + list(shapes) + list(vectors):
    assert k in j, "missing key " + k
for k, (r, c) in shapes.items():
    assert len(j[k]) == r and all(len(row) == c for row in j[k]), k
for k, n in vectors.items():
    assert len(j[k]) == n, (k, len(j[k]), n)
assert j["samples"] == 16 and j["seq_len"] == 32 and j["step"] == 20
print("ok: JSON has every key, L =", L)
PY

# A second, partial analysis with random windows replaces the file (another evaluation set);
# one with the first evaluation set again keeps what the file already holds.
"$dlab" analyze "$ckpt" --what causal --samples 8 --seed 3 --json r.json --quiet > /dev/null || fail "random windows failed"
grep -q '"seed": 3' r.json || fail "no seed in r.json"
grep -q '"permutation_matrix"' r.json && fail "permutation in a causal-only JSON"
"$dlab" analyze "$ckpt" --what usefulness --samples 8 --heldout-fit --transpose-quirk --tau 0.05 \
  --no-store --json - --quiet > u.json || fail "usefulness options failed"
grep -q '"heldout_fit": true' u.json || fail "heldout_fit not recorded"
grep -q '"transpose_quirk": true' u.json || fail "transpose_quirk not recorded"

# A token shard as the source (written with Python: llm.c header + uint16 tokens).
"$python" - <<'PY' || fail "cannot write the shard"
import struct, random
random.seed(1)
toks = [random.randrange(256) for _ in range(2000)]
with open("toks.bin", "wb") as f:
    f.write(struct.pack("<256i", 20240520, 1, len(toks), *([0] * 253)))
    f.write(struct.pack("<%dH" % len(toks), *toks))
PY
"$dlab" analyze "$ckpt" --tokens toks.bin --first 4 --seq-len 16 --what summaries --no-store \
  --quiet > /dev/null || fail "--tokens failed"

# Bad input names the option and the value.
expect_error "--what 'causal,foo'" analyze "$ckpt" --what causal,foo
expect_error "--samples 0" analyze "$ckpt" --samples 0
expect_error "exclude each other" analyze "$ckpt" --first 4 --seed 2
expect_error "--tau" analyze "$ckpt" --tau -1
expect_error "--jacobian-samples 99" analyze "$ckpt" --what jacobian --samples 8 --jacobian-samples 99
expect_error "--samples 100000" analyze "$ckpt" --samples 100000
expect_error "does not exist" analyze nowhere/step-1.h5
expect_error "holds no checkpoint" analyze "$tmp"
expect_error "--token-jacobian" analyze "$ckpt" --token-jacobian 3
echo "all ok"
