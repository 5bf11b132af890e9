#!/usr/bin/env bash
# End-to-end tests of data-parallel training: real ranks as processes, c10d Gloo
# over 127.0.0.1, real run files.
#   dist_test.sh <path/to/dlab> <source dir> <case>
set -uo pipefail
dlab="$1"; src="$2"; case="$3"
tmp="${DEPTHLAB_TEST_TMP:-/tmp}/dist-$case"
rm -rf "$tmp"; mkdir -p "$tmp"; cd "$tmp"
python="${DEPTHLAB_PYTHON:-python3}"
# threads=1: two ranks share this machine's cores with each other
common=(--preset tiny --set run.dir="$tmp/runs" --set data.cache_dir="$tmp/cache" --set train.threads=1 --quiet)

fail() { echo "FAIL: $*"; exit 1; }
compare() {  # compare <run a> <run b> <series> <rtol>
  "$python" "$src/tests/python/compare_run_series.py" "runs/$1/run.h5" "runs/$2/run.h5" "$3" "$4"
  local rc=$?
  [ $rc -eq 77 ] && exit 77
  [ $rc -eq 0 ] || fail "$1 and $2 differ"
}
rank_pid() {  # rank_pid <run name> <rank>: the pid of that rank's process
  for p in $(pgrep -f "run.name=$1" || true); do
    if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "RANK=$2"; then echo "$p"; return; fi
  done
}

case "$case" in
  equivalence)
    # Global batch 8 over 1, 2 and 3 ranks (3 ranks: 2+3+3 rows, token-weighted):
    # the same loss curve over 20 steps within 1e-5 relative.
    steps=(--set train.steps=20 --set train.eval_every=5)
    "$dlab" train "${common[@]}" "${steps[@]}" --set run.name=one || fail "1 rank failed"
    "$dlab" launch --nproc 2 -- train "${common[@]}" "${steps[@]}" --set run.name=two || fail "2 ranks failed"
    # 1 KiB buckets: about 80 all-reduces in flight per step instead of one
    "$dlab" launch --nproc 3 -- train "${common[@]}" "${steps[@]}" --set run.name=three \
      --bucket-mb 0.001 || fail "3 ranks failed"
    [ ! -e runs/two-2 ] || fail "a rank other than 0 created its own run directory"
    compare one two loss,val_loss,grad_norm 1e-5
    compare one three loss,val_loss,grad_norm 1e-5
    ;;
  kill_resume)
    # Rank 1 is killed mid-run: rank 0 stops within --dist-timeout with a message
    # naming rank 1, run.h5 still opens, and the run resumes from its last
    # checkpoint on 2 ranks and then on 1.
    timeout=10
    "$dlab" launch --nproc 2 --grace 60 -- train "${common[@]}" --set run.name=victim \
      --set train.steps=100000 --set train.checkpoint_every=10 --dist-timeout $timeout > launch.log 2>&1 &
    launcher=$!
    for _ in $(seq 1 300); do [ -f runs/victim/checkpoints/step-30.h5 ] && break; sleep 0.1; done
    [ -f runs/victim/checkpoints/step-30.h5 ] || fail "no checkpoint after 30 s: $(cat launch.log)"
    victim=$(rank_pid victim 1)
    [ -n "$victim" ] || fail "rank 1 not found"
    start=$(date +%s.%N)
    kill -9 "$victim"
    wait "$launcher"; code=$?
    took=$(echo "$(date +%s.%N) - $start" | bc)
    cat launch.log
    [ "$code" -ne 0 ] || fail "dlab launch exited 0 after a rank was killed"
    grep -q "rank 1 was killed by signal 9" launch.log || fail "launch did not report rank 1"
    grep -q "failed on rank 0 of 2: rank 1 " launch.log || fail "rank 0 did not name rank 1"
    [ "$(echo "$took < $timeout + 5" | bc)" -eq 1 ] || fail "rank 0 took $took s to stop (timeout $timeout s)"
    echo "ok: rank 0 stopped $took s after rank 1 was killed"
    "$dlab" inspect runs/victim > inspect.txt || fail "run.h5 does not open after the failure"
    grep -q "status: failed: distributed" inspect.txt || fail "status not recorded: $(head -n 1 inspect.txt)"
    last=$(ls runs/victim/checkpoints | sort -V | tail -n 1 | sed 's/step-\(.*\)\.h5/\1/')
    "$dlab" inspect "runs/victim/checkpoints/step-$last.h5" > /dev/null || fail "last checkpoint unreadable"
    more=$((last + 10))
    "$dlab" launch --nproc 2 -- train --resume runs/victim --set train.steps=$more --quiet \
      || fail "resume on 2 ranks failed"
    [ -f "runs/victim/checkpoints/step-$more.h5" ] || fail "2-rank resume did not reach step $more"
    "$dlab" train --resume runs/victim --set train.steps=$((more + 10)) --quiet \
      || fail "resume on 1 rank failed"
    grep -q "status: finished" <<<"$("$dlab" inspect runs/victim)" || fail "resumed run did not finish"
    ;;
  hang)
    # Rank 1 freezes (SIGSTOP): rank 0 gives up after --dist-timeout, naming rank 1.
    timeout=4
    "$dlab" launch --nproc 2 --grace 3 -- train "${common[@]}" --set run.name=frozen \
      --set train.steps=100000 --set train.checkpoint_every=10 --dist-timeout $timeout > launch.log 2>&1 &
    launcher=$!
    for _ in $(seq 1 300); do [ -f runs/frozen/checkpoints/step-20.h5 ] && break; sleep 0.1; done
    frozen=$(rank_pid frozen 1)
    [ -n "$frozen" ] || fail "rank 1 not found: $(cat launch.log)"
    start=$(date +%s.%N)
    kill -STOP "$frozen"
    wait "$launcher"
    took=$(echo "$(date +%s.%N) - $start" | bc)
    cat launch.log
    grep -q "failed on rank 0 of 2: rank 1 (no heartbeat" launch.log || fail "rank 0 did not name rank 1"
    grep -q "terminating the ranks still running" launch.log || fail "launch did not end the frozen rank"
    [ "$(echo "$took < $timeout + 3 + 6" | bc)" -eq 1 ] || fail "took $took s"
    echo "ok: a frozen rank 1 ended the run after $took s (timeout $timeout s, grace 3 s)"
    grep -q "status: failed: distributed" <<<"$("$dlab" inspect runs/frozen)" || fail "status not recorded"
    ;;
  bad_env)
    out=$(RANK=0 "$dlab" train "${common[@]}" 2>&1); code=$?
    [ $code -eq 2 ] && grep -q "RANK is set but WORLD_SIZE is not" <<<"$out" || fail "RANK alone: $code $out"
    out=$(RANK=2 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 "$dlab" train "${common[@]}" 2>&1); code=$?
    [ $code -eq 2 ] && grep -q "RANK=2 is not an integer from 0 to WORLD_SIZE-1 = 1" <<<"$out" || fail "RANK=2: $code $out"
    out=$(RANK=0 WORLD_SIZE=2 MASTER_PORT=5 "$dlab" train "${common[@]}" 2>&1); code=$?
    [ $code -eq 2 ] && grep -q "MASTER_ADDR is not set" <<<"$out" || fail "no MASTER_ADDR: $code $out"
    out=$("$dlab" train "${common[@]}" --dist-backend mpi 2>&1); code=$?
    # a single process ignores the backend; a distributed one refuses it
    out=$(RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 "$dlab" train "${common[@]}" --dist-backend mpi 2>&1); code=$?
    [ $code -eq 2 ] && grep -q "dist-backend=mpi is not one of auto, gloo, nccl" <<<"$out" || fail "bad backend: $code $out"
    out=$("$dlab" launch --nproc 2 2>&1); code=$?
    [ $code -ne 0 ] || fail "launch without a command succeeded"
    out=$("$dlab" launch --nproc 2 -- inspect runs 2>&1); code=$?
    [ $code -eq 2 ] && grep -q "dlab launch starts ranks of \`dlab train\`, not \`dlab inspect\`" <<<"$out" \
      || fail "launch of inspect: $code $out"
    # a lone rank 0 whose peer never comes: a clear message after the timeout
    out=$(RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$((20000 + RANDOM % 20000)) \
      "$dlab" train "${common[@]}" --dist-timeout 2 2>&1); code=$?
    [ $code -eq 2 ] && grep -q "could not join the rendezvous" <<<"$out" || fail "lone rank: $code $out"
    echo "ok: bad environments refused with clear messages"
    ;;
  *) fail "unknown case $case" ;;
esac
