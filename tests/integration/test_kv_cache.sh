#!/usr/bin/env bash
# --kv-cache fp8 (FP8 latent cache, model/latent_cache.h) end to end: generate on a fresh tiny
# checkpoint; greedy tokens of the embedded default model mostly match the f32 cache; MTP
# speculative decoding stays greedy-identical to plain decoding with an fp8 cache; eval kl
# of the model against itself is 0 with f32 and small with fp8; bad values are one-line errors.
set -uo pipefail
dsv3="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; src="$(cd "$2" && pwd)"
model="$src/models/default"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() { local n="$1"; shift; if "$@"; then pass=$((pass + 1)); else echo "FAIL: $n" >&2; fail=$((fail + 1)); fi; }

"$dsv3" init --preset tiny --out "$tmp/tiny" > /dev/null
check "generate --kv-cache fp8 on tiny" "$dsv3" generate --model "$tmp/tiny" --ids 1,2,3,4,5 -n 8 --temperature 0 \
  --kv-cache fp8 --print-ids > "$tmp/tiny_fp8.txt"
check "tiny fp8 printed 8 ids" test "$(tail -1 "$tmp/tiny_fp8.txt" | tr -cd ',' | wc -c)" -eq 7

# Greedy tokens on the trained default model: count positions equal before the first divergence.
same_prefix() { python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[1:3])
n = 0
while n < min(len(a), len(b)) and a[n] == b[n]: n += 1
print(n)
PY
}
total=0; agree=0
for prompt in "The jury said" "In the morning, the" "It was a long time before"; do
  for kv in f32 fp8; do
    "$dsv3" generate --model "$model" --prompt "$prompt" -n 32 --temperature 0 --ignore-eos --print-ids \
      --kv-cache $kv | tail -1 > "$tmp/$kv.ids"
  done
  n=$(same_prefix "$tmp/f32.ids" "$tmp/fp8.ids"); agree=$((agree + n)); total=$((total + 32))
  "$dsv3" generate --model "$model" --prompt "$prompt" -n 32 --temperature 0 --ignore-eos --print-ids \
    --kv-cache fp8 --speculative mtp --draft 2 | tail -1 > "$tmp/spec.ids"
  check "fp8: speculative identical to plain ($prompt)" cmp -s "$tmp/fp8.ids" "$tmp/spec.ids"
done
echo "greedy tokens equal before the first divergence: $agree of $total"
check "fp8 greedy tokens mostly match f32 ($agree of $total)" test $((agree * 2)) -ge $total

# eval kl: --ref runs with an f32 cache, so the model against itself is exactly 0 with f32.
head -c 6000 "$src/README.md" > "$tmp/text.txt"
for kv in f32 fp8; do
  "$dsv3" eval kl --model "$model" --ref "$model" --file "$tmp/text.txt" --ctx 256 --kv-cache $kv > "$tmp/kl_$kv.json"
done
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
check "kl f32 vs itself is 0" python3 -c "import sys; sys.exit(float('$(field "$tmp/kl_f32.json" kl)') != 0)"
check "kl fp8 is small but not 0" python3 -c "import sys; k=float('$(field "$tmp/kl_fp8.json" kl)'); sys.exit(not (0 < k < 0.05))"
check "kl fp8 top-1 agreement >= 0.9" python3 -c "import sys; sys.exit(float('$(field "$tmp/kl_fp8.json" top1_agree)') < 0.9)"
check "kl json names the cache" test "$(field "$tmp/kl_fp8.json" kv_cache)" = fp8

# A bad value: exit status non-zero, one line naming the accepted values.
bad() {
  "$@" --kv-cache fp4 > /dev/null 2> "$tmp/err"; local rc=$?
  [ $rc -ne 0 ] && [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "kv-cache.*'fp4'.*f32 or fp8" "$tmp/err"
}
check "generate --kv-cache fp4" bad "$dsv3" generate --model "$model" --ids 1,2 -n 1
check "eval ppl --kv-cache fp4" bad "$dsv3" eval ppl --model "$model" --file "$tmp/text.txt"
check "bench --kv-cache fp4" bad "$dsv3" bench --model "$model" -p 8 -n 1 -r 1
check "serve --kv-cache fp4" bad "$dsv3" serve --model "$model" --port 0
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
