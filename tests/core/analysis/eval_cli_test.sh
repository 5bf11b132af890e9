#!/usr/bin/env bash
# End-to-end: `dlab eval` on a task whose right answers are known. A tiny byte
# model trained on 32 random "prefix suffix." documents until it memorised
# them picks every right suffix (acc = 1); the same model untrained (one step
# at lr 1e-9) is at chance; acc_norm in the JSON is what the per-byte rule
# gives from the items' own ll and bytes; bad files are refused with file:line.
#   eval_cli_test.sh <path/to/dlab>
set -uo pipefail
dlab="$1"
tmp="${DEPTHLAB_TEST_TMP:-/tmp}/eval-cli"
rm -rf "$tmp"; mkdir -p "$tmp"; cd "$tmp"
python="${DEPTHLAB_PYTHON:-python3}"
# fail, expect_error
source "$(dirname "${BASH_SOURCE[0]}")/../../cli_expect.sh"

# The corpus: 32 documents "<10 letters> <10 letters>." and, last, filler that
# the validation split (the last 5 % of the tokens) takes. The task: each
# document's prefix, its own suffix against three other documents' suffixes
# (all 12 bytes: chance is 1/4 for acc and for acc_norm).
"$python" - <<'PY' || fail "could not write the corpus and the task"
import json, random
rng = random.Random(5)
word = lambda: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))
docs = [(word(), word()) for _ in range(32)]
with open("corpus.jsonl", "w") as f:
    for p, s in docs:
        f.write(json.dumps({"text": p + " " + s + "."}) + "\n")
    for _ in range(8):
        f.write(json.dumps({"text": "filler text for the validation split only"}) + "\n")
with open("task.jsonl", "w") as f:
    for i, (p, s) in enumerate(docs):
        others = rng.sample([d[1] for j, d in enumerate(docs) if j != i], 3)
        choices = [" " + x + "." for x in others]
        label = rng.randrange(4)
        choices.insert(label, " " + s + ".")
        f.write(json.dumps({"context": p, "choices": choices, "label": label}) + "\n")
PY

common=(--preset tiny --set run.dir="$tmp/runs" --set data.cache_dir="$tmp/cache"
        --set data.corpus="$tmp/corpus.jsonl" --set data.val_fraction=0.05 --quiet)
"$dlab" train "${common[@]}" --set run.name=learned --set train.steps=600 \
  --set train.eval_every=600 --set train.checkpoint_every=600 || fail "training failed"
"$dlab" train "${common[@]}" --set run.name=untrained --set train.steps=1 --set train.lr=1e-9 \
  --set train.warmup_steps=0 --set train.eval_every=1 --set train.checkpoint_every=1 \
  || fail "the one-step run failed"

"$dlab" eval runs/learned --task task.jsonl --json learned.json --quiet > learned.txt \
  || fail "eval failed: $(cat learned.txt)"
grep -q "^acc  *1.0000" learned.txt || fail "the memorised model missed: $(cat learned.txt)"
"$dlab" eval runs/untrained --task task.jsonl --json untrained.json --quiet > untrained.txt \
  || fail "eval of the untrained model failed"
"$python" - learned.json untrained.json <<'PY' || fail "JSON check failed"
import json, sys
for path in sys.argv[1:]:
    j = json.load(open(path))
    assert j["n"] == 32 and len(j["items"]) == 32, j["n"]
    right = right_norm = 0
    for it in j["items"]:
        assert len(it["ll"]) == 4 and it["bytes"] == [12, 12, 12, 12], it
        assert all(t > 0 for t in it["tokens"]), it
        best = max(range(4), key=lambda c: (it["ll"][c], -c))
        best_norm = max(range(4), key=lambda c: (it["ll"][c] / it["bytes"][c], -c))
        assert it["pred"] == best and it["pred_norm"] == best_norm, it
        right += best == it["label"]
        right_norm += best_norm == it["label"]
    assert abs(j["acc"] - right / 32) < 1e-12 and abs(j["acc_norm"] - right_norm / 32) < 1e-12, j
learned, untrained = (json.load(open(p)) for p in sys.argv[1:])
assert learned["acc"] == 1.0, learned["acc"]
# Chance is 0.25: 16 or more right of 32 by chance has probability < 1e-3.
assert untrained["acc"] < 0.5, untrained["acc"]
print("ok: acc learned %.3f, untrained %.3f (chance 0.25)" % (learned["acc"], untrained["acc"]))
PY

# Bad input: each refused with exit 2, naming the file and line.
printf '{"context": "a", "choices": [" b", " c"], "label": 0}\n{"context": "a", "choices": [" b"], "label": 0}\n' > one.jsonl
expect_error "one.jsonl:2: an item needs 2..64 choices, got 1" eval runs/learned --task one.jsonl
printf '{"context": "a", "choices": [" b", " c"], "label": 2}\n' > label.jsonl
expect_error "label.jsonl:1: label 2 out of range; 0..1" eval runs/learned --task label.jsonl
printf '[1, 2]\n' > array.jsonl
expect_error "array.jsonl:1: not a JSON object" eval runs/learned --task array.jsonl
expect_error "--format xml unknown" eval runs/learned --task task.jsonl --format xml
expect_error "missing.jsonl: not a file" eval runs/learned --task missing.jsonl
echo "PASS"
