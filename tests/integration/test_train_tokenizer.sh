#!/usr/bin/env bash
# `dsv3 train-tokenizer` against Hugging Face's Rust tokenizers (npm binding, installed by
# scripts/fetch_test_assets.sh): the trained tokenizer.json loads there and encodes every text
# exactly as `dsv3 tokenize`; Hugging Face's own BpeTrainer learns the same merges; and
# `dsv3 prepare-data` is deterministic with checksums that sha256sum confirms.
set -euo pipefail
dsv3="$1"; src="$2"
cache="$(cd "${DSV3_CACHE:-$src/.cache}" && pwd)"
export NODE_PATH="$cache/npm/node_modules"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# A few hundred KB of English prose and code from the repository, plus Unicode.
cat "$src"/README.md "$src"/docs/*.md "$src"/src/*/*.h "$src"/src/*/*.cpp > "$tmp/all.txt"
head -c 400000 "$tmp/all.txt" > "$tmp/corpus.txt"
cat >> "$tmp/corpus.txt" <<'TXT'
Ünïcödé wörds, naïve café — “quotes” ‘single’ … 日本語のテキストとカタカナ 中文字符 한국어 текст
Digits 1234567890 3.14159 2024-11-23 $1,000,000 and emoji 🙂🫨👍🏽 with tabs	and   runs of    spaces
TXT
"$dsv3" train-tokenizer --input "$tmp/corpus.txt" --vocab-size 3000 --out "$tmp/tok" > "$tmp/train.json"
python3 - "$tmp/train.json" <<'PY' && ok || bad "train-tokenizer summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["vocab_size"] == 3000 and s["merges"] == 3000 - 16 - 256, s
PY

# Texts: corpus lines and paragraphs, and edge cases (special tokens, whitespace runs, ...).
python3 - "$tmp/corpus.txt" > "$tmp/in.jsonl" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
lines = text.split("\n")
out = [l for l in lines[::7] if l][:600] + ["\n".join(lines[i:i + 5]) for i in range(0, 2000, 97)]
out += ["", " ", "   leading", "trailing   ", "\n\n\n", "\t\t x", "a\r\nb\rc", "12345678901234", "x=1+2*3;",
        "<｜begin▁of▁sentence｜>hi<｜end▁of▁sentence｜>", "<｜User｜>Hello<｜Assistant｜><think>hmm</think>ok",
        "unseen: Zyzzyva qwxj ÆØÅ ǅ ﬁ 𝔘𝔫𝔦 \u00a0nbsp\u2003em", "emoji 🙂🫨👍🏽 mixed日本語123abc",
        "don't won't it's I'm we'll they're", "!!!???...,,,;;;", "    \n    indented code {\n}\n"]
for t in out:
    print(json.dumps({"text": t}, ensure_ascii=False))
PY
n_texts=$(wc -l < "$tmp/in.jsonl")
"$dsv3" tokenize --model "$tmp/tok" --raw < "$tmp/in.jsonl" > "$tmp/ours.jsonl"
node "$src/tests/integration/lib/hf_encode.mjs" "$tmp/tok" < "$tmp/in.jsonl" > "$tmp/hf.jsonl"
if cmp -s "$tmp/hf.jsonl" "$tmp/ours.jsonl" && [ "$(wc -l < "$tmp/ours.jsonl")" -eq "$n_texts" ]; then ok
else bad "Hugging Face encodes $n_texts texts differently"; diff "$tmp/hf.jsonl" "$tmp/ours.jsonl" | head -5; fi

# Hugging Face's BpeTrainer on the same file learns the same merges in the same order. (Lines
# with special-token strings are left out: Tokenizer.train counts each as one word to merge,
# dsv3 cuts them out as encode does; see train/bpe_trainer.h.)
grep -v -e '<｜' -e '<think>' -e '</think>' "$tmp/corpus.txt" > "$tmp/plain.txt"
head -c 120000 "$tmp/plain.txt" > "$tmp/small.txt"
"$dsv3" train-tokenizer --input "$tmp/small.txt" --vocab-size 60000 --out "$tmp/full" > /dev/null
node "$src/tests/integration/lib/hf_train_merges.mjs" "$tmp/tok" "$tmp/hf_trained.json" "$tmp/small.txt" > /dev/null
python3 - "$tmp/hf_trained.json" "$tmp/full/tokenizer.json" <<'PY' && ok || bad "merges differ from Hugging Face's BpeTrainer"
import json, sys
norm = lambda ms: [" ".join(m) if isinstance(m, list) else m for m in ms]
hf = norm(json.load(open(sys.argv[1]))["model"]["merges"])
ours = norm(json.load(open(sys.argv[2]))["model"]["merges"])
assert len(hf) > 1000 and hf == ours, (len(hf), len(ours), next((i for i, (a, b) in enumerate(zip(hf, ours)) if a != b), None))
PY

# prepare-data: same arguments -> byte-identical folders; shard checksums match sha256sum.
for d in d1 d2; do
  "$dsv3" prepare-data --tokenizer "$tmp/tok" --input "$tmp/in.jsonl" "$tmp/corpus.txt" --out "$tmp/$d" \
    --val-fraction 0.1 --seq-len 64 --seed 3 --shard-tokens 20000 > "$tmp/$d.json" 2> /dev/null
done
diff -r "$tmp/d1" "$tmp/d2" > /dev/null && ok || bad "prepare-data is not deterministic"
python3 - "$tmp/d1" <<'PY' && ok || bad "manifest checksums"
import hashlib, json, sys
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
n = 0
for split in ("train", "val"):
    for s in m["splits"][split]["shards"]:
        data = open(d + "/" + s["file"], "rb").read()
        assert hashlib.sha256(data).hexdigest() == s["sha256"] and len(data) == 4 * s["tokens"], s
        n += 1
assert n >= 3 and m["splits"]["val"]["documents"] > 0
PY

# Unreadable input: one line naming the file, exit code 1.
set +e
"$dsv3" prepare-data --tokenizer "$tmp/tok" --input "$tmp/nope.txt" --out "$tmp/d3" > /dev/null 2> "$tmp/err.txt"
code=$?
set -e
if [ "$code" -eq 1 ] && [ "$(wc -l < "$tmp/err.txt")" -eq 1 ] && grep -q "nope.txt" "$tmp/err.txt"; then ok
else bad "unreadable input: exit $code, stderr: $(cat "$tmp/err.txt")"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
