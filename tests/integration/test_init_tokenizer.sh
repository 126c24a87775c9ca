#!/usr/bin/env bash
# `dsv3 init` writes a byte-level tokenizer with DeepSeek-V3's pre-tokenizer and specials;
# Hugging Face's tokenizers (Rust, via npm) must load it and encode exactly as dsv3 does.
set -euo pipefail
dsv3="$1"; src="$2"
cache="$(cd "${DSV3_CACHE:-$src/.cache}" && pwd)"
export NODE_PATH="$cache/npm/node_modules"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$dsv3" init --out "$tmp/m" --preset tiny --mtp 0 >/dev/null
cat > "$tmp/in.jsonl" <<'TXT'
{"text": "Hello <｜User｜> wörld 123456"}
{"text": "  日本語 emoji 🫨\n\n x"}
{"text": "The jury's verdict:   it's 2024!\r\n\tDone."}
{"text": "<｜begin▁of▁sentence｜><think>reasoning</think> answer<｜end▁of▁sentence｜>"}
{"text": ""}
TXT
"$dsv3" tokenize --model "$tmp/m" --raw < "$tmp/in.jsonl" > "$tmp/ours.jsonl"
node "$src/tests/integration/lib/hf_encode.mjs" "$tmp/m" < "$tmp/in.jsonl" > "$tmp/hf.jsonl"
if diff "$tmp/hf.jsonl" "$tmp/ours.jsonl"; then
  echo "1 passed, 0 failed"
else
  echo "0 passed, 1 failed"; exit 1
fi
