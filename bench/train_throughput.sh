#!/usr/bin/env bash
# Training throughput side by side (docs/default_model.md): `dsv3 train` (fp32, bf16 and fp8) and the
# same model in PyTorch (bench/train_torch_throughput.py), both on 2 threads, batch 8 × 256
# tokens, λ = 0.3, α = 1e-4, starting from the same Hugging Face checkpoint and token shards.
# Reports median tokens/s over steps 2..N (step 1 is a warm-up).
#   usage: bash bench/train_throughput.sh DSV3 MODEL_DIR DATA_DIR [STEPS]
# e.g.     bash bench/train_throughput.sh build/dsv3 models/default .cache/default-model/data
set -euo pipefail
dsv3=$1 model=$2 data=$3 steps=${4:-4}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work=$(mktemp -d "${TMPDIR:-/tmp}/dsv3_train_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
for precision in fp32 bf16 fp8; do
  cat > "$work/$precision.json" <<JSON
{"init_from": "$model", "data": "$data", "tokenizer": "$model", "out_dir": "$work/$precision", "batch_size": 8,
 "seq_len": 256, "total_steps": $steps, "lr": 0.001, "precision": "$precision", "eval_interval": 0,
 "eval_batches": 0, "checkpoint_interval": 0, "mtp_lambda": 0.3, "aux_alpha": 0.0001}
JSON
  "$dsv3" train --config "$work/$precision.json" --threads 2 >/dev/null 2>&1
  /usr/bin/python3 -c "
import json, statistics, sys
r = [j['tokens_per_s'] for j in map(json.loads, open(sys.argv[1])) if j['type'] == 'train'][1:]
print(json.dumps({'engine': 'dsv3', 'precision': sys.argv[2], 'threads': 2, 'median_tokens_per_s': statistics.median(r)}))" \
    "$work/$precision/metrics.jsonl" "$precision"
done
/usr/bin/python3 "$here/train_torch_throughput.py" --model "$model" --data "$data" --batch 8 --seq-len 256 \
  --steps "$steps" --threads 2 | tail -1
