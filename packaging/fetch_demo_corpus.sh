#!/usr/bin/env bash
# Fetches the demo corpus (npm package nlp-corpus@4.4.0, MIT; never committed or
# packaged) and converts it to the JSONL file that data.corpus = "@demo" reads.
# Used by packaging/setup.sh, and installed as /usr/share/depthlab/fetch_demo_corpus.sh
# for the packaged dlab (whose "demo corpus is not installed" error names this command).
#
#   bash fetch_demo_corpus.sh [OUT.jsonl]     default: ~/.cache/depthlab/corpus/nlp-corpus.jsonl
# Needs npm and python3. Does nothing when OUT already exists.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/depthlab/corpus/nlp-corpus.jsonl}"
say() { printf '\033[1m[corpus]\033[0m %s\n' "$*"; }
if [ -s "$out" ]; then say "demo corpus cached: $out"; exit 0; fi
for tool in npm python3; do
  command -v "$tool" >/dev/null || { echo "fetch_demo_corpus.sh: $tool is needed (apt install $tool)" >&2; exit 2; }
done
say "fetching the demo corpus (npm pack nlp-corpus@4.4.0)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent nlp-corpus@4.4.0 >/dev/null && tar xzf nlp-corpus-4.4.0.tgz)
mkdir -p "$(dirname "$out")"
python3 "$here/corpus_to_jsonl.py" "$tmp/package/builds" "$out.tmp"
mv "$out.tmp" "$out"
say "demo corpus: $out ($(wc -l <"$out") documents)"
