# Helpers for the shell tests of the dlab binary (source it; $dlab is the binary).
#   fail <message>                  prints FAIL and exits 1
#   expect_error <substring> <args> dlab <args> must exit 2 with <substring> in its output
fail() { echo "FAIL: $*"; exit 1; }
expect_error() {
  local want="$1"; shift
  local out code
  out="$("$dlab" "$@" 2>&1)"; code=$?
  [ "$code" -eq 2 ] || fail "dlab $* exited $code (expected 2): $out"
  grep -qF -- "$want" <<<"$out" || fail "dlab $* said: $out -- expected to contain: $want"
  echo "ok: dlab $* -> $(head -n 3 <<<"$out" | tr '\n' ' ')"
}
