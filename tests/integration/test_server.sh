#!/usr/bin/env bash
# `dsv3 serve` end to end with the official openai npm client (tests/integration/server/):
# completions, chat, streaming, equality with `dsv3 generate`, usage, n, logprobs, stop
# strings, errors and limits, a client disconnecting mid-stream, and a bounded load test
# (32 concurrent streaming clients, two rounds, no errors, no RSS growth). Ends with a
# SIGTERM that must stop the server cleanly.
#   usage: bash test_server.sh <path-to-dsv3> <source-dir>
set -u
DSV3="${1:?usage: test_server.sh <path-to-dsv3> <source-dir>}"
SRC="$(cd "${2:?usage: test_server.sh <path-to-dsv3> <source-dir>}" && pwd)"
cache="${DSV3_CACHE:-$SRC/.cache}"
[ -d "$cache/npm/node_modules/openai" ] || bash "$SRC/scripts/fetch_test_assets.sh" >&2 || exit 1
export NODE_PATH="$(cd "$cache/npm/node_modules" && pwd)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dsv3_server.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
check() {  # check NAME COMMAND...
  if "${@:2}"; then echo "PASS $1"; passed=$((passed + 1)); else echo "FAIL $1"; failed=$((failed + 1)); fi
}

"$DSV3" init --out "$WORK/tiny" --preset tiny >/dev/null 2>"$WORK/init.err" || { cat "$WORK/init.err" >&2; exit 1; }

# start_server LOG ARGS... -> sets URL and PID (waits for "listening on http://HOST:PORT")
start_server() {
  local log="$1"
  shift
  "$DSV3" serve --port 0 "$@" 2>"$log" >/dev/null &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 600); do
    URL="$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" | head -1 | sed 's/listening on //')"
    [ -n "$URL" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start:" >&2
  cat "$log" >&2
  exit 1
}

KEY="test-key-123"
start_server "$WORK/serve.log" --model "$WORK/tiny" --api-key "$KEY" --served-model-name tiny --cache-mb 64 --threads 2
MAIN_URL="$URL" MAIN_PID="$PID"
start_server "$WORK/small.log" --model "$WORK/tiny" --api-key "$KEY" --served-model-name tiny --cache-mb 16 --threads 1 \
  --max-running 1 --max-queue 1 --max-body-bytes 1000
SMALL_URL="$URL"
# The same weights with DeepSeek-R1's chat template (reasoning split, tool-call history).
mkdir -p "$WORK/r1"
for f in "$WORK/tiny"/*; do ln -s "$f" "$WORK/r1/"; done
rm "$WORK/r1/tokenizer_config.json"
/usr/bin/python3 - "$WORK/tiny/tokenizer_config.json" "$SRC/tests/fixtures/template/deepseek_r1.jinja" \
  "$WORK/r1/tokenizer_config.json" <<'PYEOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["chat_template"] = open(sys.argv[2]).read()
json.dump(cfg, open(sys.argv[3], "w"), ensure_ascii=False)
PYEOF
start_server "$WORK/r1.log" --model "$WORK/r1" --api-key "$KEY" --served-model-name r1 --cache-mb 16 --threads 1
R1_URL="$URL"

check "startup report prints the memory plan" grep -q 'memory plan: weights .* max concurrent sequences at full context: [0-9]' "$WORK/serve.log"

export DSV3_URL="$MAIN_URL" DSV3_KEY="$KEY" DSV3_MODEL_NAME=tiny DSV3_BIN="$DSV3" DSV3_MODEL_DIR="$WORK/tiny" \
  DSV3_SMALL_URL="$SMALL_URL" DSV3_PID="$MAIN_PID"
for script in client_tests reasoning_tools load_test; do
  if [ "$script" = reasoning_tools ]; then
    DSV3_URL="$R1_URL" DSV3_MODEL_NAME=r1 timeout 300 node "$SRC/tests/integration/server/$script.mjs" >"$WORK/$script.out" 2>&1
  else
    timeout 300 node "$SRC/tests/integration/server/$script.mjs" >"$WORK/$script.out" 2>&1
  fi
  cat "$WORK/$script.out"
  passed=$((passed + $(grep -c '^PASS' "$WORK/$script.out")))
  failed=$((failed + $(grep -c '^FAIL' "$WORK/$script.out")))
  grep -q '^# [0-9]* passed' "$WORK/$script.out" || { echo "FAIL $script did not finish"; failed=$((failed + 1)); }
done

check "server still healthy after all tests" curl -sf "$MAIN_URL/health" -o /dev/null
stopped_cleanly() {
  kill -TERM "$MAIN_PID"
  local rc=0
  wait "$MAIN_PID" || rc=$?
  [ "$rc" -eq 0 ] && grep -q 'server stopped' "$WORK/serve.log"
}
check "SIGTERM stops the server cleanly (exit 0)" stopped_cleanly

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
