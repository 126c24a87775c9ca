#!/usr/bin/env bash
# `dsv3 chat`: multi-turn conversation through the engine, /reset, /exit, greedy answers equal
# to `dsv3 generate` on the same rendered prompt, R1-style reasoning printed apart, errors.
set -uo pipefail
dsv3="$1"; src="$2"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
check() {  # name, then a command that must succeed
  local name="$1"; shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $name" >&2; fail=$((fail + 1)); fi
}
"$dsv3" init --out "$tmp/m" --preset tiny --seed 3 >/dev/null

# Turn 1 equals generate on the ids of the rendered prompt (greedy, no EOS stop needed: -n 10).
printf 'hello there\n/reset\nhello there\n/exit\nnever read\n' | "$dsv3" chat --model "$tmp/m" -n 10 --temperature 0 > "$tmp/chat.txt"
check "chat exits 0" test $? -eq 0
echo '{"messages": [{"role": "user", "content": "hello there"}], "add_generation_prompt": true}' |
  "$dsv3" template --model "$tmp/m" > "$tmp/prompt.txt"
python3 -c 'import json,sys; print(json.dumps({"text": open(sys.argv[1]).read()}))' "$tmp/prompt.txt" |
  "$dsv3" tokenize --model "$tmp/m" --raw > "$tmp/ids.json"
ids=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["ids"])))' "$tmp/ids.json")
"$dsv3" generate --model "$tmp/m" --ids "$ids" -n 10 --temperature 0 > "$tmp/gen.txt"
check "first answer equals generate" python3 - "$tmp/chat.txt" "$tmp/gen.txt" <<'PY'
import sys
chat = open(sys.argv[1], encoding="utf-8", errors="surrogateescape").read().split("\n[conversation reset]\n")
gen = open(sys.argv[2], encoding="utf-8", errors="surrogateescape").read()
assert len(chat) == 2, chat
# After /reset the same message gives the same greedy answer.
assert chat[0] + "\n" == gen, (chat[0], gen)
assert chat[1] == gen, (chat[1], gen)
PY

# An R1 template opens <think> in the prompt: the whole answer is reasoning, shown apart.
python3 - "$tmp/m/tokenizer_config.json" "$src/tests/fixtures/template/deepseek_r1.jinja" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["chat_template"] = open(sys.argv[2]).read()
json.dump(cfg, open(sys.argv[1], "w"), ensure_ascii=False)
PY
printf 'why?\n' | "$dsv3" chat --model "$tmp/m" -n 6 --temperature 0 > "$tmp/r1.txt"
check "R1 reasoning printed apart" grep -q '^\[reasoning\]$' "$tmp/r1.txt"

# Bad input: a missing model is one error line and exit 1.
"$dsv3" chat --model "$tmp/nope" < /dev/null 2> "$tmp/err.txt"
check "missing model exits 1" test $? -eq 1
check "missing model named" grep -q "nope" "$tmp/err.txt"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
