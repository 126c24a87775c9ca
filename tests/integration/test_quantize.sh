#!/usr/bin/env bash
# dsv3 quantize + dsv3 eval on the tiny preset: quantise to int8, int4 and fp8 (from bf16
# and from FP8), check the written config and dtypes, generate from each, evaluate
# perplexity and KL against the bf16 model (sane JSON, KL(int8) < KL(int4)), and check
# that bad inputs fail with one line on stderr and leave no output folder.
#   usage: bash test_quantize.sh <path-to-dsv3> <source-dir>
set -u

DSV3="${1:?usage: test_quantize.sh <path-to-dsv3> <source-dir>}"
SRC="${2:?usage: test_quantize.sh <path-to-dsv3> <source-dir>}"
PY=/usr/bin/python3
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dsv3_quantize.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     /' "$2" | head -5; }
# check NAME CMD...: the command must succeed.
check() {
  local name="$1"; shift
  if "$@" >"$WORK/out" 2>"$WORK/err"; then ok "$name"; else bad "$name" "$WORK/err"; fi
}
# json_check NAME FILE PYTHON-EXPR: the expression over j (the parsed JSON) must be true.
json_check() {
  if "$PY" -c "import json,sys,math; j=json.load(open(sys.argv[1])); sys.exit(0 if ($3) else 1)" "$2" 2>"$WORK/pyerr"; then
    ok "$1"
  else
    bad "$1" "$2"
  fi
}
# fails NAME CMD...: exit code 1..125, exactly one line on stderr.
fails() {
  local name="$1"; shift
  "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  if [ $rc -ge 1 ] && [ $rc -le 125 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ]; then ok "$name"; else bad "$name (rc=$rc)" "$WORK/err"; fi
}

M="$WORK/tiny"
TEXT="$SRC/README.md"
EVAL=(--file "$TEXT" --ctx 96 --max-tokens 600)
check "init tiny" "$DSV3" init --out "$M" --preset tiny --seed 3
check "init tiny fp8" "$DSV3" init --out "$WORK/tiny-fp8src" --preset tiny --seed 3 --fp8

for t in int8 int4 fp8; do
  check "quantize $t" "$DSV3" quantize --model "$M" --out "$WORK/q-$t" --type "$t"
  json_check "quantize $t report" "$WORK/out" "j['quantized_tensors'] > 0 and j['kept_tensors'] > 0 and j['bytes_out'] < j['bytes_in']"
  json_check "config $t" "$WORK/q-$t/config.json" \
    "j['quantization_config'] == ({'quant_method': 'fp8', 'fmt': 'e4m3', 'activation_scheme': 'dynamic', 'weight_block_size': [128, 128]} if '$t' == 'fp8' else {'quant_method': '$t', 'group_size': 128})"
  for f in tokenizer.json tokenizer_config.json generation_config.json model.safetensors.index.json; do
    [ -f "$WORK/q-$t/$f" ] && ok "$t has $f" || bad "$t has $f"
  done
  [ -z "$(ls -d "$WORK"/q-$t.tmp-* 2>/dev/null)" ] && ok "$t leaves no temp folder" || bad "$t leaves no temp folder"
  check "info $t" "$DSV3" info --model "$WORK/q-$t"
  want=$([ "$t" = int8 ] && echo I8 || ([ "$t" = int4 ] && echo U8 || echo F8_E4M3))
  json_check "info $t dtypes" "$WORK/out" "'$want' in j['params_by_dtype'] and 'BF16' in j['params_by_dtype']"
  check "generate $t" "$DSV3" generate --model "$WORK/q-$t" --prompt "Hello" -n 8 --temperature 0 --print-ids
  json_check "generate $t ids" <(tail -1 "$WORK/out") "len(j) == 8"
  check "eval kl $t" "$DSV3" eval kl --model "$WORK/q-$t" --ref "$M" "${EVAL[@]}"
  cp "$WORK/out" "$WORK/kl-$t.json"
  json_check "eval kl $t sane" "$WORK/kl-$t.json" \
    "j['tokens'] == 599 and 0 < j['kl'] < 1 and 0 <= j['top1_agree'] <= 1 and j['ppl'] > 1 and abs(j['ref_ppl'] - math.exp(j['ref_nll'])) < 1e-6 * j['ref_ppl']"
done
json_check "KL(int8) < KL(fp8) < KL(int4)" <("$PY" -c "import json; print(json.dumps([json.load(open('$WORK/kl-'+t+'.json'))['kl'] for t in ('int8','fp8','int4')]))") \
  "j[0] < j[1] < j[2]"

check "eval ppl" "$DSV3" eval ppl --model "$M" "${EVAL[@]}"
json_check "eval ppl sane" "$WORK/out" \
  "j['tokens'] == 599 and j['windows'] >= 2 and abs(j['ppl'] - math.exp(j['nll'])) < 1e-9 * j['ppl'] and abs(j['nll'] - json.load(open('$WORK/kl-int8.json'))['ref_nll']) < 1e-9"

# From DeepSeek-style FP8: int4 requantises, fp8 with the same blocks copies unchanged, and
# --keep / --keep-attention keep tensors at their precision (kept FP8 becomes bf16 under int8).
check "quantize fp8 -> int4" "$DSV3" quantize --model "$WORK/tiny-fp8src" --out "$WORK/f-int4" --type int4 --group 32
check "generate fp8 -> int4" "$DSV3" generate --model "$WORK/f-int4" --prompt "Hi" -n 4 --temperature 0
check "quantize fp8 -> fp8" "$DSV3" quantize --model "$WORK/tiny-fp8src" --out "$WORK/f-fp8" --type fp8
check "fp8 -> fp8 logits" "$DSV3" logits --model "$WORK/f-fp8" --ids 1,2,3,4 --out "$WORK/a.npy"
check "fp8 source logits" "$DSV3" logits --model "$WORK/tiny-fp8src" --ids 1,2,3,4 --out "$WORK/b.npy"
cmp -s "$WORK/a.npy" "$WORK/b.npy" && ok "fp8 -> fp8 is lossless" || bad "fp8 -> fp8 is lossless"
check "quantize --keep-attention" "$DSV3" quantize --model "$WORK/tiny-fp8src" --out "$WORK/f-int8" --type int8 \
  --keep-attention --keep 'layers\.0\.mlp\.'
"$PY" - "$WORK/f-int8" >"$WORK/keep.out" 2>&1 <<'EOF'
import json, struct, sys, glob
d = sys.argv[1]
dt = {}
for f in glob.glob(d + "/*.safetensors"):
    with open(f, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        for k, v in json.loads(fh.read(n)).items():
            if k != "__metadata__": dt[k] = v["dtype"]
attn = [k for k in dt if "self_attn" in k and k.endswith("proj.weight") or k.endswith("_mqa.weight")]
assert attn and all(dt[k] == "BF16" for k in attn), "attention kept as bf16"
assert dt["model.layers.0.mlp.up_proj.weight"] == "BF16"
assert any(v == "I8" for v in dt.values())
assert not any(v == "F8_E4M3" for v in dt.values())
print("ok")
EOF
[ "$(cat "$WORK/keep.out")" = ok ] && ok "keep policy dtypes" || bad "keep policy dtypes" "$WORK/keep.out"

# Bad inputs: one line on stderr, no output folder.
fails "bad group" "$DSV3" quantize --model "$M" --out "$WORK/x1" --type int8 --group 48
fails "bad type" "$DSV3" quantize --model "$M" --out "$WORK/x2" --type int3
fails "bad --keep regex" "$DSV3" quantize --model "$M" --out "$WORK/x3" --type int8 --keep '('
fails "existing --out" "$DSV3" quantize --model "$M" --out "$WORK/q-int8" --type int8
[ ! -e "$WORK/x1" ] && [ ! -e "$WORK/x3" ] && [ -z "$(ls -d "$WORK"/x*.tmp-* 2>/dev/null)" ] && ok "no output on error" || bad "no output on error"
check "--force replaces" "$DSV3" quantize --model "$M" --out "$WORK/q-int8" --type int8 --group 64 --force
json_check "--force config" "$WORK/q-int8/config.json" "j['quantization_config']['group_size'] == 64"
fails "eval bad stride" "$DSV3" eval ppl --model "$M" --file "$TEXT" --ctx 64 --stride 65
fails "eval missing file" "$DSV3" eval ppl --model "$M" --file "$WORK/none.txt"

# Corrupted quantised checkpoints: missing scales, wrong scale shape, bad group in config.
cp -r "$WORK/q-int4" "$WORK/c1"
"$PY" - "$WORK/c1" <<'EOF'
import json, sys
p = sys.argv[1] + "/config.json"
j = json.load(open(p)); j["quantization_config"]["group_size"] = 100; json.dump(j, open(p, "w"))
EOF
fails "config group not a multiple of 32" "$DSV3" info --model "$WORK/c1"
grep -q "group_size" "$WORK/err" && ok "group error names the field" || bad "group error names the field" "$WORK/err"
cp -r "$WORK/q-int4" "$WORK/c2"
"$PY" - "$WORK/c2" <<'EOF'
import json, sys
p = sys.argv[1] + "/config.json"
j = json.load(open(p)); j["quantization_config"]["group_size"] = 64; json.dump(j, open(p, "w"))
EOF
fails "scale shape mismatch" "$DSV3" logits --model "$WORK/c2" --ids 1,2 --out "$WORK/c2.npy"
grep -q "_scale_inv" "$WORK/err" && ok "scale error names the tensor" || bad "scale error names the tensor" "$WORK/err"
cp -r "$WORK/q-int8" "$WORK/c3"
"$PY" - "$WORK/c3" <<'EOF'
import json, sys
p = sys.argv[1] + "/config.json"
j = json.load(open(p)); del j["quantization_config"]; json.dump(j, open(p, "w"))
EOF
fails "I8 without quantization_config" "$DSV3" logits --model "$WORK/c3" --ids 1,2 --out "$WORK/c3.npy"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
