#!/usr/bin/env bash
# The embedded default model: its trained tokenizer encodes exactly as Hugging Face's
# tokenizers (npm binding) does; `dsv3 generate` without --model uses it; MTP speculative
# decoding on it is greedy-identical to plain decoding and accepts drafts.
set -uo pipefail
dsv3="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; src="$(cd "$2" && pwd)"
model="$src/models/default"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { local n="$1"; shift; if "$@"; then pass=$((pass + 1)); else echo "FAIL: $n" >&2; fail=$((fail + 1)); fi; }
cache="$(cd "${DSV3_CACHE:-$src/.cache}" && pwd)"
export NODE_PATH="$cache/npm/node_modules"
cat > "$tmp/in.jsonl" <<'TXT'
{"text": "The jury said, \"it's 1961!\"\n\nMr. Smith's  verdict: unanimous."}
{"text": "<｜User｜>Hello<｜Assistant｜> wörld 日本 🫨"}
{"text": "  spaces\ttabs\r\n123456789 -- well-known (sic) [a] {b}"}
TXT
"$dsv3" tokenize --model "$model" --raw < "$tmp/in.jsonl" > "$tmp/ours_raw.jsonl"
node "$src/tests/integration/lib/hf_encode.mjs" "$model" < "$tmp/in.jsonl" > "$tmp/hf_raw.jsonl"
check "tokenizer equals Hugging Face" cmp -s "$tmp/ours_raw.jsonl" "$tmp/hf_raw.jsonl"
(cd "$tmp" && DSV3_MODEL= "$dsv3" generate --prompt "The jury said" -n 8 > "$tmp/default.txt")
check "generate without --model uses models/default" test -s "$tmp/default.txt"
for prompt in "The jury said" "In the morning, the"; do
  "$dsv3" generate --model "$model" --prompt "$prompt" -n 48 --temperature 0 --ignore-eos --print-ids | tail -1 > "$tmp/plain"
  for d in 1 3; do
    "$dsv3" generate --model "$model" --prompt "$prompt" -n 48 --temperature 0 --ignore-eos --print-ids \
      --speculative mtp --draft $d --stats 2> "$tmp/err" | tail -1 > "$tmp/spec"
    check "identical ($prompt, draft $d)" cmp -s "$tmp/plain" "$tmp/spec"
    acc=$(grep -o 'accepted [0-9]*' "$tmp/err" | grep -o '[0-9]*')
    check "drafts accepted ($prompt, draft $d)" test "${acc:-0}" -gt 0
  done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
