#!/usr/bin/env bash
# Makes the man pages of a program and, recursively, of each of its sub-commands
# (the "Subcommands:" section of its --help): dlab.1.gz, dlab-train.1.gz,
# dlab-bench-train.1.gz, ... into OUTDIR. A new sub-command gets its page with no
# change here. Run by packaging/CMakeLists.txt at build time.
#
#   man_pages.sh OUTDIR VERSION PROGRAM
set -euo pipefail
outdir="$1" version="$2" program="$3"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$outdir"

pages() {  # pages PAGE WORD...
  local page="$1"
  shift
  "$here/man_page.sh" "$outdir/$page.1.gz" "$page" "$version" "$program" "$@"
  local sub
  while read -r sub; do pages "$page-$sub" "$@" "$sub"; done < <(
    QT_QPA_PLATFORM=offscreen "$program" "$@" --help |
      awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
}
pages "$(basename "$program")"
