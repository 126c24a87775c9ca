#!/usr/bin/env bash
# dsv3 train end to end on a tiny random model: bit-identical resume after SIGKILL, atomic
# checkpoints, Hugging Face loadability, config errors.
#   1. an uninterrupted run (checkpoint every 2 steps) gives the reference loss sequence;
#   2. the same config in another out_dir, SIGKILLed at random moments (often during a
#      checkpoint write) and restarted until done: identical loss sequence in metrics.jsonl,
#      identical final master weights, optimizer state and bf16 model;
#   3. `latest` always points at a complete checkpoint: after each kill `dsv3 info` loads it;
#   4. the final checkpoint generates with `dsv3 generate`;
#   5. errors: unknown config key, missing key, --resume without checkpoint, changed config.
#
# usage: bash test_train_resume.sh <dsv3-binary> <source-dir>
set -u
DSV3=${1:?usage: test_train_resume.sh <dsv3-binary> <source-dir>}
SRC=${2:?usage: test_train_resume.sh <dsv3-binary> <source-dir>}
[ -x "$DSV3" ] || { echo "error: dsv3 binary $DSV3 not found"; exit 1; }
DSV3=$(cd "$(dirname "$DSV3")" && pwd)/$(basename "$DSV3")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dsv3_trainresume.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
cd "$WORK"
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }

# A tiny model with MTP and MoE, its byte-level tokenizer, and token shards of a small text.
"$DSV3" init --out model --preset tiny --mtp 1 --seed 5 >/dev/null || { echo "error: dsv3 init failed"; exit 1; }
for i in $(seq 1 24); do
  printf '{"text": "Document %d. The jury said it did find that the city election was conducted well, and the county court agreed with the %d grand jurors."}\n' "$i" "$i"
done > text.jsonl
"$DSV3" prepare-data --tokenizer model --input text.jsonl --out data --seq-len 24 --val-fraction 0.1 >/dev/null 2>&1 \
  || { echo "error: dsv3 prepare-data failed"; exit 1; }

write_config() {  # OUT_DIR [extra json fields]
  cat > "$1.json" <<JSON
{"init_from": "model", "data": "data", "tokenizer": "model", "out_dir": "$1", "batch_size": 2, "seq_len": 24,
 "grad_accum_steps": 2, "total_steps": 30, "lr": 0.002, "warmup_steps": 3, "bias_update_speed": 0.01,
 "aux_alpha": 0.001, "mtp_lambda": 0.3, "precision": "bf16", "eval_interval": 10, "eval_batches": 1,
 "checkpoint_interval": 2, "keep_checkpoints": 2 $2}
JSON
}
losses() { /usr/bin/python3 -c "import json,sys; print([(j['step'], j.get('loss', j.get('val_loss'))) for j in map(json.loads, open(sys.argv[1]))])" "$1"; }

write_config ref ""
if "$DSV3" train --config ref.json >ref.log 2>&1; then pass "uninterrupted run"; else cat ref.log; fail "uninterrupted run"; fi

write_config killed ""
kills=0
loaded=0
for attempt in $(seq 1 20); do
  "$DSV3" train --config killed.json >>killed.log 2>&1 &
  pid=$!
  # Until a first checkpoint exists, let the run reach it (on a loaded machine startup alone can
  # outlast every random delay, and nothing would ever be resumed); then kill at random moments.
  for _ in $(seq 1 1200); do
    [ -L killed/latest ] || ! kill -0 "$pid" 2>/dev/null && break
    sleep 0.05
  done
  # The first kill comes as soon as that checkpoint exists (a fast machine can finish this tiny
  # run within any random delay, and then nothing would be killed); later ones at random moments.
  [ "$attempt" -gt 1 ] && sleep "0.$(( (RANDOM % 40) + 5 ))"
  if kill -9 "$pid" 2>/dev/null; then
    kills=$((kills + 1))
    wait "$pid" 2>/dev/null
    if [ -L killed/latest ]; then
      if "$DSV3" info --model killed/latest >/dev/null 2>&1; then loaded=$((loaded + 1)); else fail "checkpoint after kill $kills does not load"; fi
    fi
  else
    wait "$pid"
    break
  fi
done
"$DSV3" train --config killed.json >>killed.log 2>&1  # finishes (or no-op) in any case
echo "killed $kills times"
resumes=$(grep -c "resuming" killed.log)
if [ "$kills" -ge 1 ] && [ "$resumes" -ge 1 ]; then
  pass "killed $kills times, resumed $resumes times, latest loaded after $loaded kills"
else
  fail "the run was not killed and resumed (kills $kills, resumes $resumes)"
fi
if [ "$(losses ref/metrics.jsonl)" = "$(losses killed/metrics.jsonl)" ]; then
  pass "loss sequence identical to the uninterrupted run"
else
  fail "loss sequences differ"; losses ref/metrics.jsonl; losses killed/metrics.jsonl
fi
for f in train_state/master.safetensors train_state/optimizer.safetensors model.safetensors; do
  if cmp -s "ref/latest/$f" "killed/latest/$f"; then pass "final $f identical"; else fail "final $f differs"; fi
done
n=$(ls -d killed/checkpoint-* | wc -l)
if [ "$n" -eq 2 ] && [ -z "$(ls -A killed | grep '^\.tmp-')" ]; then pass "2 checkpoints kept, no temp leftovers"; else ls -la killed; fail "pruning / temp cleanup"; fi

out=$("$DSV3" generate --model killed/latest --prompt "The jury said" -n 8 --temperature 0 2>&1)
if [ $? -eq 0 ]; then pass "dsv3 generate loads the checkpoint"; else echo "$out"; fail "dsv3 generate on the checkpoint"; fi

expect_error() {  # NAME PATTERN CMD...
  local name=$1 pat=$2
  shift 2
  local msg
  msg=$("$@" 2>&1 >/dev/null)
  if [ $? -ne 0 ] && echo "$msg" | grep -q "$pat"; then pass "$name"; else echo "$msg"; fail "$name"; fi
}
write_config bad ', "learning_rate": 0.1'
expect_error "unknown key rejected" "unknown key 'learning_rate'" "$DSV3" train --config bad.json
printf '{"init_from": "model", "data": "data", "tokenizer": "model", "out_dir": "x", "batch_size": 2, "seq_len": 8, "lr": 0.1}\n' > missing.json
expect_error "missing key rejected" "missing required key 'total_steps'" "$DSV3" train --config missing.json
write_config fresh ""
expect_error "--resume without checkpoint" "has no checkpoint" "$DSV3" train --config fresh.json --resume
write_config killed ', "lr": 0.003'
expect_error "changed config refused" "different configuration" "$DSV3" train --config killed.json

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
