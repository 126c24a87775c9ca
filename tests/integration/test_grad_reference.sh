#!/usr/bin/env bash
# dsv3 grad vs torch autograd in float64 (tests/reference/grad_reference.py, built on the
# independent deepseek_reference.py model) on tiny random checkpoints in Hugging Face layout.
# Loss = CE + λ·MTP CE + α·sequence-wise balance loss with λ, α non-zero. Criteria: loss within
# 1e-4 relative; every parameter's gradient within 1e-3 relative error ‖g − g_ref‖/‖g_ref‖ per
# tensor, and the same set of tensor names. Cases: bf16 + MTP, grouped routing (G 8, topk_group
# 3), FP8 with partial blocks (gradients w.r.t. the dequantised weights), V2-Lite (q_proj,
# softmax gate, no MTP), `dsv3 init` with 2 MTP modules (depth chaining), λ = α = 0.
#
# usage: bash test_grad_reference.sh <dsv3-binary> <source-dir>
set -u
DSV3=${1:?usage: test_grad_reference.sh <dsv3-binary> <source-dir>}
SRC=${2:?usage: test_grad_reference.sh <dsv3-binary> <source-dir>}
PY=/usr/bin/python3
REF="$SRC/tests/reference"
GRAD_TOL=1e-3
LOSS_TOL=1e-4

if [ ! -x "$DSV3" ]; then
  echo "error: dsv3 binary $DSV3 not found or not executable"
  exit 1
fi
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
  echo "error: $PY with torch and numpy is required (Debian python3-torch, python3-numpy)"
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dsv3_gradref.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; }

# check_case NAME MODEL_DIR IDS LAMBDA ALPHA
check_case() {
  local name=$1 model=$2 ids=$3 lambda=$4 alpha=$5
  local dir="$WORK/$name"
  mkdir -p "$dir"
  local ref_loss our_loss
  if ! ref_loss=$("$PY" "$REF/grad_reference.py" grad --model "$model" --ids "$ids" --out "$dir/ref.safetensors" \
                  --mtp-lambda "$lambda" --aux-alpha "$alpha" 2>"$dir/ref.log"); then
    cat "$dir/ref.log"
    fail "$name: reference gradients"
    return
  fi
  if ! our_loss=$("$DSV3" grad --model "$model" --ids "$ids" --out "$dir/ours.safetensors" \
                  --mtp-lambda "$lambda" --aux-alpha "$alpha" 2>"$dir/ours.log"); then
    cat "$dir/ours.log"
    fail "$name: dsv3 grad exited non-zero"
    return
  fi
  echo "  ref  $(printf '%s\n' "$ref_loss" | head -n 1)"
  echo "  ours $(printf '%s\n' "$our_loss" | head -n 1)"
  ref_loss=$(printf '%s\n' "$ref_loss" | tail -n 1)
  our_loss=$(printf '%s\n' "$our_loss" | tail -n 1)
  if "$PY" - "$ref_loss" "$our_loss" "$LOSS_TOL" <<'EOF'
import sys
try:
    ref, ours, tol = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
except ValueError:
    print(f"  cannot parse losses {sys.argv[1]!r} {sys.argv[2]!r}")
    sys.exit(1)
err = abs(ours - ref) / abs(ref)
print(f"  loss ref {ref:.10g} ours {ours:.10g} rel err {err:.3e} (tol {tol:.0e})")
sys.exit(0 if err <= tol else 1)
EOF
  then
    pass "$name: loss"
  else
    fail "$name: loss"
  fi
  if "$PY" "$REF/grad_reference.py" compare "$dir/ref.safetensors" "$dir/ours.safetensors" --tol $GRAD_TOL; then
    pass "$name: gradients"
  else
    fail "$name: gradients"
  fi
}

# make_case NAME PRESET [make_hf_checkpoint args...]: checkpoint into $WORK/NAME/model
make_case() {
  local name=$1 preset=$2
  shift 2
  mkdir -p "$WORK/$name"
  if ! "$PY" "$REF/make_hf_checkpoint.py" --preset "$preset" --out "$WORK/$name/model" "$@" >"$WORK/$name/make.log" 2>&1; then
    cat "$WORK/$name/make.log"
    fail "$name: make checkpoint"
    return 1
  fi
}

IDS_A="3,14,15,92,65,35,89,79,32,38,46,26,43,38,32,79,50,28,84,19,71,69,39,99"
IDS_B="1,41,42,13,56,2,237,290,11,7,180,95,263,4,150,222,17,33,281,64"

echo "== bf16_mtp"
make_case bf16_mtp bf16_mtp && check_case bf16_mtp "$WORK/bf16_mtp/model" "$IDS_A" 0.3 0.01
echo "== bf16_mtp, lambda = alpha = 0"
make_case plain bf16_mtp --seed 5 && check_case plain "$WORK/plain/model" "$IDS_B" 0 0
echo "== grouped"
make_case grouped grouped && check_case grouped "$WORK/grouped/model" "$IDS_A" 0.5 0.02
echo "== fp8"
make_case fp8 fp8 && check_case fp8 "$WORK/fp8/model" "$IDS_B" 0.3 0.01
echo "== v2_lite"
make_case v2_lite v2_lite && check_case v2_lite "$WORK/v2_lite/model" "$IDS_A" 0.3 0.01
echo "== dsv3 init tiny --mtp 2 --fp8"
mkdir -p "$WORK/init_mtp2"
if "$DSV3" init --out "$WORK/init_mtp2/model" --preset tiny --mtp 2 --fp8 --seed 3 >"$WORK/init_mtp2/init.log" 2>&1; then
  check_case init_mtp2 "$WORK/init_mtp2/model" "5,9,2,77,31,8,120,64,3,250,19,42,7,11" 0.5 0.02
else
  cat "$WORK/init_mtp2/init.log"
  fail "init_mtp2: dsv3 init"
fi

echo "== bad input"
if "$DSV3" grad --model "$WORK/bf16_mtp/model" --ids 7 --out "$WORK/bad.safetensors" >/dev/null 2>"$WORK/bad.log" ||
   [ "$(wc -l <"$WORK/bad.log")" -ne 1 ]; then
  cat "$WORK/bad.log"
  fail "one-token --ids is a one-line error"
else
  pass "one-token --ids is a one-line error"
fi
if "$DSV3" grad --model "$WORK/bf16_mtp/model" --ids 1,99999 --out "$WORK/bad.safetensors" >/dev/null 2>"$WORK/bad.log" ||
   ! grep -q "outside the vocabulary" "$WORK/bad.log"; then
  cat "$WORK/bad.log"
  fail "out-of-vocabulary id is an error"
else
  pass "out-of-vocabulary id is an error"
fi

echo "$passed passed, $failed failed"
for f in "${failures[@]}"; do echo "  failed: $f"; done
[ "$failed" -eq 0 ]
