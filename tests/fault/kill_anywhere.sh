#!/usr/bin/env bash
# Kill-anywhere test (docs/reliability.md): dlab train, or dlab train --resume,
# is killed with SIGKILL at its k-th write to an HDF5 file (run.h5, its resume
# copy, a checkpoint temporary) by the LD_PRELOAD shim kill_at_write.so, for
# every k in 1..FIRST and RANDOM more points drawn from the rest. After each
# kill the run directory must be readable or refused cleanly (dlab inspect:
# exit 0 or 2, never a crash), and a plain `dlab train --resume` must finish
# with every series and the last checkpoint bit-identical to an uninterrupted
# run (check_same_run.py) — or, only while no checkpoint exists yet, refuse
# cleanly (exit 2: nothing to resume, nothing lost).
#
#   kill_anywhere.sh <dlab> <kill_at_write.so> <source dir> <train|resume> <FIRST> <RANDOM> [SEED]
#
# SEED (default $DEPTHLAB_FAULT_SEED, else today's date) draws the random
# points; it is printed, so a failure can be replayed. FIRST = all kills at
# every write the process makes. The points run two at a time, each in its
# own directory.
set -uo pipefail
dlab="$1"; shim="$2"; src="$3"; mode="$4"; first="$5"; extra="$6"
seed="${7:-${DEPTHLAB_FAULT_SEED:-$(date +%Y%m%d)}}"
python="${DEPTHLAB_PYTHON:-python3}"
tmp="${DEPTHLAB_TEST_TMP:-/tmp}/kill-anywhere-$mode"
rm -rf "$tmp"; mkdir -p "$tmp"; cd "$tmp" || exit 1
"$python" -c "import h5py" 2>/dev/null || { echo "SKIPPED: no h5py for $python"; exit 77; }
# A private copy: a rebuild during a long sweep must not swap the binary under it.
cp "$dlab" "$tmp/dlab" && dlab="$tmp/dlab"

fail() { echo "FAIL: $*"; exit 1; }
# Tiny, single-threaded (bit-exact), a checkpoint every 2 steps so that a kill
# can land in any phase: series rows, evaluation, checkpoint files, status.
base=(--preset tiny --quiet --set run.name=ka --set data.cache_dir="$tmp/cache"
      --set train.threads=1 --set train.checkpoint_every=2 --set train.eval_every=4
      --set train.warmup_steps=2)
half=(--set train.steps=4)   # where the resume sweep's run starts from
full=(--set train.steps=8)

# The uninterrupted reference, and the run the resume sweep resumes.
if [ "$mode" = train ]; then
  "$dlab" train "${base[@]}" "${full[@]}" --set run.dir="$tmp/ref" || fail "reference run failed"
else
  "$dlab" train "${base[@]}" "${half[@]}" --set run.dir="$tmp/start" || fail "first half failed"
  cp -a "$tmp/start" "$tmp/ref"
  "$dlab" train --resume "$tmp/ref/ka" --quiet "${full[@]}" || fail "reference resume failed"
fi

# How many HDF5 writes the process under test makes when nothing kills it.
count_writes() {
  local dir="$tmp/count"
  rm -rf "$dir"
  if [ "$mode" = train ]; then
    DEPTHLAB_WRITE_COUNT_FILE="$tmp/writes" LD_PRELOAD="$shim" \
      "$dlab" train "${base[@]}" "${full[@]}" --set run.dir="$dir" || fail "counting run failed"
  else
    cp -a "$tmp/start" "$dir"
    DEPTHLAB_WRITE_COUNT_FILE="$tmp/writes" LD_PRELOAD="$shim" \
      "$dlab" train --resume "$dir/ka" --quiet "${full[@]}" || fail "counting resume failed"
  fi
  cat "$tmp/writes"
}
total="$(count_writes)"
[ "$first" = all ] && { first="$total"; extra=0; }
[ "$total" -ge "$first" ] || fail "only $total HDF5 writes; the sweep wants $first"

# One kill point: prints "k outcome" where outcome is resumed | refused; any
# other behaviour is a failure line starting with FAIL.
kill_point() {
  local k="$1" dir="$tmp/k$1" rc out
  if [ "$mode" = train ]; then
    DEPTHLAB_KILL_AT_WRITE="$k" LD_PRELOAD="$shim" \
      "$dlab" train "${base[@]}" "${full[@]}" --set run.dir="$dir" >/dev/null 2>&1
  else
    cp -a "$tmp/start" "$dir"
    DEPTHLAB_KILL_AT_WRITE="$k" LD_PRELOAD="$shim" \
      "$dlab" train --resume "$dir/ka" --quiet "${full[@]}" >/dev/null 2>&1
  fi
  rc=$?
  [ "$rc" -eq 137 ] || { echo "FAIL k=$k: expected SIGKILL (137), exit $rc"; return; }
  if [ -e "$dir/ka" ]; then
    out="$("$dlab" inspect "$dir/ka" 2>&1)"; rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || { echo "FAIL k=$k: inspect exit $rc: $out"; return; }
  fi
  out="$("$dlab" train --resume "$dir/ka" --quiet "${full[@]}" 2>&1)"; rc=$?
  if [ "$rc" -eq 2 ] && ! ls "$dir"/ka/checkpoints/step-*.h5 >/dev/null 2>&1 &&
     [ "$mode" = train ]; then
    echo "$k refused $(head -n 1 <<<"$out")"
    rm -rf "$dir"
    return
  fi
  [ "$rc" -eq 0 ] || { echo "FAIL k=$k: resume after the kill exited $rc: $out"; return; }
  out="$("$python" "$src/tests/fault/check_same_run.py" "$tmp/ref/ka" "$dir/ka" 8 2>&1)" ||
    { echo "FAIL k=$k: $out"; return; }
  echo "$k resumed"
  rm -rf "$dir"
}

# The points: 1..FIRST, then EXTRA distinct ones drawn from FIRST+1..total.
points=$(seq 1 "$first")
points+=" $("$python" -c "import random,sys; r=random.Random($seed); \
print(' '.join(map(str, sorted(r.sample(range($first + 1, $total + 1), min($extra, $total - $first))))))")"

results="$tmp/results"
: > "$results"
running=0
for k in $points; do
  kill_point "$k" >> "$results" 2>/dev/null &
  running=$((running + 1))
  if [ "$running" -ge 2 ]; then wait -n; running=$((running - 1)); fi
done
wait

if grep -q '^FAIL' "$results"; then
  grep '^FAIL' "$results"
  fail "$(grep -c '^FAIL' "$results") of $(wc -l < "$results") kill points failed"
fi
n="$(wc -l < "$results")"
resumed="$(grep -c ' resumed' "$results")"
refused="$(grep -c ' refused' "$results")"
echo "kill-anywhere $mode: $n kill points (writes 1..$first and $extra random of $((first + 1))..$total," \
  "seed $seed): $resumed resumed bit-exactly, $refused refused cleanly before the first checkpoint"
grep ' refused' "$results" | head -n 3
exit 0
