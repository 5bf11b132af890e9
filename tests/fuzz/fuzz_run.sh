#!/usr/bin/env bash
# Runs one fuzzer of tests/fuzz for a bounded time (CTest: fuzz_<name>).
#   fuzz_run.sh <fuzzer binary or ""> <standing corpus dir> <seconds> [max_len] [what]
# max_len: the largest input libFuzzer makes (default 4096); `what` names the
# fuzzed code in messages (default "protocol decoder").
# First every file of the standing corpus is replayed (a regression check that
# needs no time budget), then libFuzzer explores for <seconds> from a scratch
# copy, so the source tree is never written. New crashes are left in the
# scratch directory, whose path is printed.
set -u
fuzzer=$1 corpus=$2 seconds=$3 max_len=${4:-4096} what=${5:-protocol decoder}
name=$(basename "$corpus")
if [[ -z "$fuzzer" ]]; then
  echo "SKIPPED: no clang++ with libFuzzer found (set DEPTHLAB_FUZZ_CXX, e.g. clang++-14," \
       "and install libclang-rt-14-dev); the $what was not fuzzed"
  exit 77
fi
if [[ ! -x "$fuzzer" ]]; then
  echo "FAIL: $fuzzer is missing; build the ${name}_fuzz target" >&2
  exit 1
fi
tmp=${DEPTHLAB_TEST_TMP:-/tmp}/fuzz_$name.$$
rm -rf "$tmp" && mkdir -p "$tmp/corpus" "$tmp/artifacts"
cp "$corpus"/* "$tmp/corpus/"
echo "replaying $(ls "$corpus" | wc -l) standing inputs from $corpus"
"$fuzzer" -runs=0 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$tmp/artifacts/" "$corpus" \
  2>"$tmp/replay.log" || {
  tail -30 "$tmp/replay.log" >&2
  echo "FAIL: a standing corpus input fails (log: $tmp/replay.log)" >&2
  exit 1
}
echo "fuzzing for ${seconds}s (scratch: $tmp)"
"$fuzzer" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$tmp/artifacts/" -print_final_stats=1 "$tmp/corpus" 2>"$tmp/fuzz.log"
rc=$?
grep -E "^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+ +DONE)" "$tmp/fuzz.log"
if [[ $rc -ne 0 ]]; then
  tail -40 "$tmp/fuzz.log" >&2
  echo "FAIL: the fuzzer found a failing input: $(ls "$tmp/artifacts")" \
       "(in $tmp/artifacts; add it to $corpus once fixed)" >&2
  exit 1
fi
rm -rf "$tmp"
echo "PASS: no failure in ${seconds}s"
