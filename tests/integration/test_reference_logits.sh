#!/usr/bin/env bash
# dsv3 logits / --mtp-out / greedy generate vs the independent torch reference
# (tests/reference/deepseek_reference.py) on tiny random checkpoints in exact Hugging Face layout:
# bf16 + MTP, FP8 with partial 128x128 blocks (single file and sharded), V2-Lite style, and a
# wide grouped-routing config. Criterion: max|d| <= 2e-3 * max|ref| and equal argmax per row;
# 16 greedy ids identical.
#
# usage: bash test_reference_logits.sh <dsv3-binary> <source-dir>
set -u
DSV3=${1:?usage: test_reference_logits.sh <dsv3-binary> <source-dir>}
SRC=${2:?usage: test_reference_logits.sh <dsv3-binary> <source-dir>}
PY=/usr/bin/python3
REF="$SRC/tests/reference"
TOL=2e-3

if [ ! -x "$DSV3" ]; then
  echo "error: dsv3 binary $DSV3 not found or not executable"
  exit 1
fi
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
  echo "error: $PY with torch and numpy is required (Debian python3-torch, python3-numpy)"
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dsv3_reflogits.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; }

# run_case NAME PRESET IDS HAS_MTP [extra make_hf_checkpoint args...]
run_case() {
  local name=$1 preset=$2 ids=$3 has_mtp=$4
  shift 4
  local dir="$WORK/$name"
  echo "== $name (preset $preset $*)"
  if ! "$PY" "$REF/make_hf_checkpoint.py" --preset "$preset" --out "$dir/model" "$@" >"$dir.make.log" 2>&1; then
    cat "$dir.make.log"
    fail "$name: make checkpoint"
    return
  fi

  # reference outputs
  local ref_mtp=()
  [ "$has_mtp" = 1 ] && ref_mtp=(--mtp-out "$dir/ref_mtp.npy")
  if ! "$PY" "$REF/deepseek_reference.py" logits --model "$dir/model" --ids "$ids" \
       --out "$dir/ref_main.npy" "${ref_mtp[@]}" >"$dir.ref.log" 2>&1; then
    cat "$dir.ref.log"
    fail "$name: reference logits"
    return
  fi

  # dsv3 logits
  local our_mtp=()
  [ "$has_mtp" = 1 ] && our_mtp=(--mtp-out "$dir/our_mtp.npy")
  if "$DSV3" logits --model "$dir/model" --ids "$ids" --out "$dir/our_main.npy" "${our_mtp[@]}" \
       >"$dir.ours.log" 2>&1; then
    if "$PY" "$REF/compare_logits.py" "$dir/ref_main.npy" "$dir/our_main.npy" --tol $TOL --name "$name main"; then
      pass "$name: logits"
    else
      fail "$name: logits"
    fi
    if [ "$has_mtp" = 1 ]; then
      if "$PY" "$REF/compare_logits.py" "$dir/ref_mtp.npy" "$dir/our_mtp.npy" --tol $TOL --name "$name mtp"; then
        pass "$name: mtp logits"
      else
        fail "$name: mtp logits"
      fi
    fi
  else
    tail -5 "$dir.ours.log"
    fail "$name: dsv3 logits exited non-zero"
    [ "$has_mtp" = 1 ] && fail "$name: mtp logits (not run)"
  fi

  # greedy generation, 16 tokens
  local prompt
  prompt=$(echo "$ids" | cut -d, -f1-8)
  local ref_gen our_gen
  if ! ref_gen=$("$PY" "$REF/deepseek_reference.py" generate --model "$dir/model" --ids "$prompt" -n 16 2>"$dir.refgen.log"); then
    cat "$dir.refgen.log"
    fail "$name: reference generate"
    return
  fi
  if our_gen=$("$DSV3" generate --model "$dir/model" --ids "$prompt" -n 16 --temperature 0 --print-ids 2>"$dir.gen.log"); then
    our_gen=$(printf '%s\n' "$our_gen" | tail -n 1)
    if "$PY" - "$ref_gen" "$our_gen" <<'EOF'
import json, sys
try:
    ref, ours = json.loads(sys.argv[1]), json.loads(sys.argv[2])
except ValueError as e:
    print(f"  cannot parse generated ids: {e}: {sys.argv[2]!r}")
    sys.exit(1)
print(f"  ref  {ref}\n  ours {ours}")
sys.exit(0 if ref == ours else 1)
EOF
    then
      pass "$name: generate 16 greedy"
    else
      fail "$name: generate 16 greedy"
    fi
  else
    tail -5 "$dir.gen.log"
    fail "$name: dsv3 generate exited non-zero"
  fi
}

# The reference checks itself first (no dsv3 involved): naive vs absorbed MLA, cached decode,
# RoPE in three formulations, gate vs python loops; FP8 vs its dequantised F32 twin and sharded
# vs single-file give the same logits.
ref_selfchecks() {
  local dir="$WORK/selfcheck" ids="5,9,2,77,31,8,120,64,3,250,19,42,7,11"
  mkdir -p "$dir"
  local p
  for p in bf16_mtp fp8 v2_lite grouped; do
    if "$PY" "$REF/make_hf_checkpoint.py" --preset $p --out "$dir/$p" >/dev/null &&
       "$PY" "$REF/deepseek_reference.py" selftest --model "$dir/$p" --ids "$ids" >"$dir/$p.log" 2>&1; then
      pass "reference selftest $p"
    else
      cat "$dir/$p.log"
      fail "reference selftest $p"
    fi
  done
  "$PY" "$REF/make_hf_checkpoint.py" --preset fp8 --dequant --out "$dir/fp8_f32" >/dev/null
  "$PY" "$REF/make_hf_checkpoint.py" --preset fp8 --shards 4 --out "$dir/fp8_sh" >/dev/null
  for twin in fp8_f32 fp8_sh; do
    if "$PY" "$REF/deepseek_reference.py" logits --model "$dir/fp8" --ids "$ids" --out "$dir/a.npy" --mtp-out "$dir/am.npy" &&
       "$PY" "$REF/deepseek_reference.py" logits --model "$dir/$twin" --ids "$ids" --out "$dir/b.npy" --mtp-out "$dir/bm.npy" &&
       "$PY" "$REF/compare_logits.py" "$dir/a.npy" "$dir/b.npy" --tol 1e-6 --name "fp8 vs $twin" &&
       "$PY" "$REF/compare_logits.py" "$dir/am.npy" "$dir/bm.npy" --tol 1e-6 --name "fp8 vs $twin mtp"; then
      pass "reference fp8 vs $twin"
    else
      fail "reference fp8 vs $twin"
    fi
  done
}

ref_selfchecks
mkdir -p "$WORK"/{bf16_mtp,fp8,fp8_sharded,v2_lite,grouped,bf16_mtp_seed7}
IDS_A="3,14,15,92,65,35,89,79,32,38,46,26,43,38,32,79,50,28,84,19,71,69,39,99"
IDS_B="1,41,42,13,56,2,237,290,11,7,180,95,263,4,150,222,17,33,281,64"
run_case bf16_mtp       bf16_mtp "$IDS_A" 1
run_case bf16_mtp_seed7 bf16_mtp "$IDS_B" 1 --seed 7
run_case fp8            fp8      "$IDS_B" 1
run_case fp8_sharded    fp8      "$IDS_A" 1 --shards 3 --seed 3
run_case v2_lite        v2_lite  "$IDS_A" 0
run_case grouped        grouped  "$IDS_A" 1

echo "$passed passed, $failed failed"
for f in "${failures[@]}"; do echo "  failed: $f"; done
[ "$failed" -eq 0 ]
