#!/usr/bin/env bash
# Makes one gzipped man page from a program's own --help and --version (help2man),
# so the pages never drift from the programs. Run by packaging/CMakeLists.txt at build time.
#
#   man_page.sh OUT.1.gz PAGE VERSION PROGRAM [SUBCOMMAND...]
#   e.g. man_page.sh build/packaging/man/dlab-train.1.gz dlab-train 0.1.0 build/app/dlab/dlab train
#
# NAME's one-line description is the first phrase of the --help text (up to the
# first ':', ';', ' (' or a full stop), so it too comes from the program.
set -euo pipefail
out="$1" page="$2" version="$3"
shift 3
command -v help2man >/dev/null || { echo "man_page.sh: help2man is not installed" >&2; exit 2; }

help="$(QT_QPA_PLATFORM=offscreen "$@" --help)"
first="$(printf '%s\n' "$help" | head -n 1)"
name="$(printf '%s\n' "$first" | sed -E 's/^[a-z]+: //; s/( \(|[:;]|\.( |$)).*$//')"
name="${name^}"  # sentence case: "list the devices ..." -> "List the devices ..."

raw="${out%.gz}.raw"
# SEE ALSO: the parent command's page, each sub-command's page, the documentation.
see_also="${out%.gz}.h2m"
{
  echo "[SEE ALSO]"
  refs=()
  [ "$page" != "${page%-*}" ] && refs+=("${page%-*}")
  while read -r sub; do refs+=("$page-$sub"); done < <(
    printf '%s\n' "$help" | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
  for ((i = 0; i < ${#refs[@]}; i++)); do
    sep=","; [ $((i + 1)) -eq ${#refs[@]} ] && sep=""
    echo ".BR ${refs[i]} (1)$sep"
  done
  echo ".PP"
  echo "The documentation (README.md and docs/: configuration, metrics, analyses, the session"
  echo "protocol, file formats, the GUI) is in /usr/share/doc/dlab/."
} >"$see_also"

# help2man runs "<program> --help" through the shell; the words are quoted for it.
printf -v program '%q ' "$@"
QT_QPA_PLATFORM=offscreen help2man --no-info --no-discard-stderr --section=1 \
  --version-string="$version" --name="$name" --output="$raw" \
  --include="$see_also" "${program% }"

# The page's own name in the title and NAME (dlab-train, not "dlab train"), and
# example blocks (indented lines after "Examples:") kept line by line.
title="$(printf '%s' "$page" | tr '[:lower:]' '[:upper:]')"
words="$*"
words="${words##*/}"  # the program's basename and sub-commands: "dlab train"
PAGE="$page" TITLE="$title" WORDS="$words" perl -0pi -e '
  s/^\.TH \S+ /.TH $ENV{TITLE} /m;
  s/^\Q$ENV{WORDS}\E \\-/$ENV{PAGE} \\-/m if $ENV{WORDS} ne $ENV{PAGE};
  s/^(\.IP\n)((?:[^.\n][^\n]*\n)+)/$1.nf\n$2.fi\n/mg;
' "$raw"
gzip -9n -c "$raw" >"$out.tmp"
mv "$out.tmp" "$out"
rm -f "$raw" "$see_also"
