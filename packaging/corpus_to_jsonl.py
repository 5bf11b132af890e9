#!/usr/bin/env python3
"""Convert nlp-corpus's builds/doc-N.json (JSON arrays of sentences) into JSONL.

One output line per source file chunk of about 20 sentences, {"text": "..."},
so a document is a short paragraph. Files are read in numeric order, so the
output is deterministic.
"""
import json
import pathlib
import re
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: corpus_to_jsonl.py <nlp-corpus builds dir> <out.jsonl>", file=sys.stderr)
        return 2
    src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    files = sorted(src.glob("doc-*.json"), key=lambda p: int(re.findall(r"\d+", p.name)[0]))
    if not files:
        print(f"corpus_to_jsonl.py: no doc-*.json files in {src}", file=sys.stderr)
        return 1
    n = 0
    with out.open("w", encoding="utf-8") as f:
        for path in files:
            sentences = [s.strip() for s in json.loads(path.read_text(encoding="utf-8")) if s.strip()]
            for i in range(0, len(sentences), 20):
                f.write(json.dumps({"text": " ".join(sentences[i:i + 20])}, ensure_ascii=False) + "\n")
                n += 1
    print(f"wrote {n} documents to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
