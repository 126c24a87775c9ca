#!/usr/bin/env bash
# MTP speculative decoding on the embedded default model (trained with one MTP module):
# greedy output identical to plain decoding for several draft lengths, and drafts accepted.
set -uo pipefail
dsv3="$1"; src="$2"
model="$src/models/default"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { local n="$1"; shift; if "$@"; then pass=$((pass + 1)); else echo "FAIL: $n" >&2; fail=$((fail + 1)); fi; }
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
