#!/usr/bin/env bash
# End-to-end tests of the dlab binary: real runs, real files, real exit codes.
#   cli_test.sh <path/to/dlab> <source dir> <case>
set -uo pipefail
dlab="$1"; src="$2"; case="$3"
tmp="${DEPTHLAB_TEST_TMP:-/tmp}/cli-$case"
rm -rf "$tmp"; mkdir -p "$tmp"; cd "$tmp"
common=(--set run.dir="$tmp/runs" --set data.cache_dir="$tmp/cache" --quiet)
# Debian's interpreter has python3-h5py; a python3 earlier on PATH (pyenv, venv) may not.
python="${DEPTHLAB_PYTHON:-python3}"

# fail, expect_error
source "$(dirname "${BASH_SOURCE[0]}")/../cli_expect.sh"

case "$case" in
  help)
    # Captured first: `grep -q` stops reading at the first match, and under
    # pipefail dlab's SIGPIPE would then fail the pipe.
    grep -q "train" <<<"$("$dlab" --help)" || fail "--help does not list train"
    grep -q -- "--resume" <<<"$("$dlab" train --help)" || fail "train --help does not explain --resume"
    presets="$("$dlab" train --list-presets)"
    grep -qx "tiny" <<<"$presets" || fail "tiny preset missing"
    grep -qx "demo" <<<"$presets" || fail "demo preset missing"
    ;;
  train_inspect_h5py)
    "$dlab" train --preset tiny "${common[@]}" || fail "tiny run failed"
    ckpt="$(ls runs/tiny/checkpoints/step-*.h5 | sort -V | tail -n 1)"
    [ -f "$ckpt" ] || fail "no checkpoint"
    "$dlab" inspect runs/tiny > inspect.txt || fail "inspect run dir failed"
    grep -q "resid_var" inspect.txt || fail "inspect lists no resid_var"
    grep -q "status: finished" inspect.txt || fail "run not finished: $(head -n 1 inspect.txt)"
    "$dlab" inspect "$ckpt" > ckpt.txt || fail "inspect checkpoint failed"
    grep -q "model.layers.0.self_attn.k_proj.weight" ckpt.txt || fail "no k_proj in parameter table"
    "$python" "$src/tests/python/check_model_checkpoint.py" "$ckpt"; rc=$?
    [ $rc -eq 0 ] || exit $rc
    # a second run of the same name never overwrites the first
    "$dlab" train --preset tiny "${common[@]}" --set train.steps=2 --set train.warmup_steps=0 || fail "second run failed"
    [ -f runs/tiny-2/run.h5 ] || fail "second run did not go to runs/tiny-2"
    ;;
  moe_h5py)
    "$dlab" train --preset tiny "${common[@]}" --set model.moe.n_experts=4 \
      --set model.moe.top_k=2 --set model.moe.n_shared_experts=1 --set train.steps=3 --set train.warmup_steps=0 || fail "moe run failed"
    "$python" "$src/tests/python/check_model_checkpoint.py" runs/tiny/checkpoints/step-3.h5
    ;;
  devices)
    # Discovery, refusal of a device that cannot work, and auto on the CPU (docs/gpu.md).
    out="$("$dlab" devices)" || fail "dlab devices exited $?: $out"
    grep -q "^cpu " <<<"$out" || fail "dlab devices lists no cpu: $out"
    json="$("$dlab" devices --json)" || fail "dlab devices --json failed"
    "$python" -c 'import json,sys; d=json.load(sys.stdin); assert d["devices"][0]["name"]=="cpu", d' <<<"$json" \
      || fail "dlab devices --json: $json"
    if grep -q "run.device=auto means cpu here" <<<"$out"; then
      # No usable GPU: the reason is printed, and CUDA is refused before anything starts.
      grep -q "^no CUDA device: ." <<<"$out" || fail "dlab devices does not say why there is no GPU: $out"
      expect_error "run.device=cuda cannot be used: " train --preset tiny "${common[@]}" --set run.device=cuda
      expect_error "run.device=cuda:3 cannot be used: " train --preset tiny "${common[@]}" --set run.device=cuda:3
      expect_error "run.device=cuda:0 cannot be used: " train --preset tiny "${common[@]}" --sweep run.device=cpu,cuda:0
      [ ! -e runs ] || fail "a refused device still created $(ls -R runs | head -n 5)"
      err="$("$dlab" train --preset tiny "${common[@]}" --set train.steps=2 --set train.warmup_steps=0 2>&1)" \
        || fail "run.device=auto did not train: $err"
      grep -q "tokens on cpu" <<<"$err" || fail "auto did not say it trains on the CPU: $err"
      grep -q 'device = "auto"' <<<"$("$dlab" train --resume runs/tiny --print-config)" \
        || fail "run.h5 does not record run.device=auto"
      # A run resumes on the device asked for now, whatever it trained on.
      "$dlab" train --resume runs/tiny --set run.device=cpu --set train.steps=3 --quiet 2>/dev/null \
        || fail "resume with run.device=cpu failed"
    else
      echo "a usable GPU is visible: the refusal checks are for machines without one"
    fi
    ;;
  bad_input)
    expect_error "is not divisible by model.n_kv_heads=3" train --preset tiny --set model.n_kv_heads=3
    expect_error "did you mean 'model.n_layers'" train --preset tiny --set model.n_layer=4
    expect_error "train.lr=nan" train --preset tiny --set train.lr=nan
    expect_error "exceeds model.moe.n_experts=8" train --preset tiny --set model.moe.n_experts=8 --set model.moe.top_k=9
    expect_error "unknown preset" train --preset no-such-preset
    expect_error "give exactly one of --preset" train
    printf '[model]\nn_layers = "four"\n' > bad.toml
    expect_error "model.n_layers" train --config bad.toml
    printf '[model\nn_layers = 4\n' > syntax.toml
    expect_error "syntax.toml" train --config syntax.toml
    expect_error "does not exist" inspect nowhere/run.h5
    ;;
  corrupt_files)
    "$dlab" train --preset tiny "${common[@]}" --set train.steps=2 --set train.warmup_steps=0 || fail "tiny run failed"
    size=$(stat -c %s runs/tiny/run.h5)
    head -c $((size / 2)) runs/tiny/run.h5 > half.h5
    mkdir -p cut && cp half.h5 cut/run.h5
    expect_error "run.h5" inspect cut/run.h5
    ckpt=runs/tiny/checkpoints/step-2.h5
    head -c 1000 "$ckpt" > short-step-2.h5
    expect_error "short-step-2.h5" inspect short-step-2.h5
    echo "not hdf5 at all" > garbage-step-1.h5
    expect_error "garbage-step-1.h5" inspect garbage-step-1.h5
    ;;
  resume_cli)
    "$dlab" train --preset tiny "${common[@]}" --set train.steps=20 --stop-after 10 || fail "first half failed"
    grep -q "status: stopped" <<<"$("$dlab" inspect runs/tiny --no-config)" || fail "not marked stopped"
    "$dlab" train --resume runs/tiny --quiet || fail "resume failed"
    grep -q "status: finished" <<<"$("$dlab" inspect runs/tiny --no-config)" || fail "not finished after resume"
    expect_error "--resume continues a run" train --resume runs/tiny --preset tiny
    ;;
  *) fail "unknown case $case" ;;
esac
echo "PASS: $case"
