#!/usr/bin/env bash
# Batch invariance through the HTTP server: 16 concurrent greedy streams each equal the same
# request sent alone (text, logprobs, finish_reason), with the official openai npm client.
#   usage: bash test_serve_batch_invariance.sh <path-to-dsv3> <source-dir>
set -u
DSV3="${1:?usage}"; SRC="$(cd "${2:?usage}" && pwd)"
cache="${DSV3_CACHE:-$SRC/.cache}"
[ -d "$cache/npm/node_modules/openai" ] || bash "$SRC/scripts/fetch_test_assets.sh" >&2 || exit 1
export NODE_PATH="$(cd "$cache/npm/node_modules" && pwd)"
WORK="$(mktemp -d)"; PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
"$DSV3" init --out "$WORK/tiny" --preset tiny --seed 9 >/dev/null || exit 1
# A small step budget so prompts are chunked while others decode; then the same with MTP
# speculation (greedy streams draft and verify in the shared batch).
P=0; F=0
for extra in "" "--speculative mtp --draft 3"; do
  # shellcheck disable=SC2086
  "$DSV3" serve --model "$WORK/tiny" --port 0 --max-batch-tokens 24 --block-size 8 $extra 2>"$WORK/log" >/dev/null &
  PID=$!
  URL=""
  for _ in $(seq 1 300); do
    URL="$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$WORK/log" | head -1 | sed 's/listening on //')"
    [ -n "$URL" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$URL" ] || { echo "server did not start ($extra)"; cat "$WORK/log"; echo "$P passed, $((F + 1)) failed"; exit 1; }
  out="$(DSV3_URL="$URL" DSV3_KEY=none DSV3_MODEL_NAME=tiny node "$SRC/tests/integration/serve_invariance/invariance.mjs")"
  rc=$?
  echo "${extra:-plain}:"
  echo "$out"
  P=$((P + $(echo "$out" | grep -c '^PASS'))); F=$((F + $(echo "$out" | grep -c '^FAIL')))
  [ "$rc" -eq 0 ] || F=$((F + 1))
  kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=""
done
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
