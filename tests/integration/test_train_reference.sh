#!/usr/bin/env bash
# dsv3 train vs an independent torch reference (tests/reference/train_reference.py: float64
# autograd on deepseek_reference.py + torch.optim.AdamW + clip_grad_norm_ + the bias update),
# starting from the same random Hugging Face checkpoint and the same token shards: the per-step
# loss, CE, MTP loss and learning rate agree within 1e-5 relative (grad norm within 1e-3).
# Cases: MTP + MoE with grad accumulation, λ, α, γ non-zero; grouped routing without MTP.
#
# usage: bash test_train_reference.sh <dsv3-binary> <source-dir>
set -u
DSV3=${1:?usage: test_train_reference.sh <dsv3-binary> <source-dir>}
SRC=${2:?usage: test_train_reference.sh <dsv3-binary> <source-dir>}
PY=/usr/bin/python3
[ -x "$DSV3" ] || { echo "error: dsv3 binary $DSV3 not found"; exit 1; }
DSV3=$(cd "$(dirname "$DSV3")" && pwd)/$(basename "$DSV3")
SRC=$(cd "$SRC" && pwd)
"$PY" -c "import torch, numpy" 2>/dev/null || { echo "error: $PY with torch and numpy is required"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dsv3_trainref.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
passed=0
failed=0

"$PY" - <<'PYEOF'
import json, random
random.seed(1)
words = "the jury said that city court county election was a of and to in his her it is".split()
with open("text.jsonl", "w") as f:
    for d in range(30):
        f.write(json.dumps({"text": " ".join(random.choice(words) for _ in range(120))}) + "\n")
PYEOF

# run_case NAME INIT_ARGS EXTRA_CONFIG
run_case() {
  local name=$1 init=$2 extra=$3
  mkdir -p "$name" && cd "$name"
  # shellcheck disable=SC2086
  if ! "$DSV3" init --out model $init >/dev/null 2>&1 ||
     ! "$DSV3" prepare-data --tokenizer model --input ../text.jsonl --out data --seq-len 16 --val-fraction 0.1 >/dev/null 2>&1; then
    failed=$((failed + 1)); echo "FAIL $name: setup"; cd ..; return
  fi
  cat > cfg.json <<JSON
{"init_from": "model", "data": "data", "tokenizer": "model", "out_dir": "out", "batch_size": 2, "seq_len": 16,
 "grad_accum_steps": 2, "total_steps": 4, "lr": 0.003, "warmup_steps": 1, "min_lr_ratio": 0.1,
 "weight_decay": 0.1, "grad_clip": 0.5, "bias_update_speed": 0.01, "aux_alpha": 0.01, "mtp_lambda": 0.3,
 "precision": "fp32", "eval_interval": 0, "checkpoint_interval": 0 $extra}
JSON
  if "$DSV3" train --config cfg.json >train.log 2>&1 &&
     "$PY" "$SRC/tests/reference/train_reference.py" run --config cfg.json >ref.jsonl 2>ref.log &&
     "$PY" "$SRC/tests/reference/train_reference.py" compare ref.jsonl out/metrics.jsonl; then
    passed=$((passed + 1)); echo "PASS $name"
  else
    cat train.log ref.log 2>/dev/null | tail -5
    failed=$((failed + 1)); echo "FAIL $name"
  fi
  cd ..
}

run_case tiny_mtp "--preset tiny --mtp 1 --seed 3" ""
run_case tiny_no_mtp_unshared "--preset tiny --seed 4" ', "share_mtp_embeddings": false, "grad_clip": 0, "grad_accum_steps": 1'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
