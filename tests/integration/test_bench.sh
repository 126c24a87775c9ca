#!/usr/bin/env bash
# `dsv3 bench` end to end on a tiny random checkpoint: --json output is a JSON array with one
# well-formed object per test (pp then tg), positive rates, bytes per token and GB/s for tg;
# the text table has one row per test; bad options fail with one stderr line. No timing bounds.
#   usage: bash test_bench.sh <path-to-dsv3> <source-dir>
set -u

DSV3="${1:?usage: test_bench.sh <path-to-dsv3> <source-dir>}"
PY=/usr/bin/python3
if [ ! -x "$DSV3" ]; then echo "test_bench: $DSV3 is not an executable" >&2; exit 1; fi
if [ ! -x "$PY" ]; then echo "test_bench: $PY is required (stdlib only)" >&2; exit 1; fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dsv3_bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok: $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $1"; }

if ! "$DSV3" init --out "$WORK/tiny" --preset tiny >/dev/null 2>"$WORK/init.err"; then
  echo "test_bench: init failed:" >&2
  cat "$WORK/init.err" >&2
  exit 1
fi

# 1. JSON output.
if "$DSV3" bench --model "$WORK/tiny" -p 16 -n 8 -r 2 --json >"$WORK/b.json" 2>"$WORK/b.err"; then
  if "$PY" - "$WORK/b.json" <<'PYEOF'
import json, math, sys
rows = json.load(open(sys.argv[1]))
assert isinstance(rows, list) and len(rows) == 2, rows
pp, tg = rows
common = ["model", "threads", "test", "n_prompt", "n_gen", "stddev", "repetitions", "bytes_per_token"]
for r in rows:
    for k in common:
        assert k in r, (k, r)
    assert r["repetitions"] == 2, r
    assert isinstance(r["threads"], int) and r["threads"] >= 1, r
    assert isinstance(r["bytes_per_token"], int) and r["bytes_per_token"] > 0, r
    assert r["stddev"] >= 0 and math.isfinite(r["stddev"]), r
    assert len(r["samples_tokens_per_s"]) == 2 and all(v > 0 for v in r["samples_tokens_per_s"]), r
assert pp["test"] == "pp16" and pp["n_prompt"] == 16 and pp["n_gen"] == 0, pp
assert pp["pp_tokens_per_s"] > 0 and math.isfinite(pp["pp_tokens_per_s"]), pp
assert "tg_tokens_per_s" not in pp and "gb_per_s" not in pp, pp
assert tg["test"] == "tg8" and tg["n_gen"] == 8, tg
assert tg["tg_tokens_per_s"] > 0 and math.isfinite(tg["tg_tokens_per_s"]), tg
expect = tg["bytes_per_token"] * tg["tg_tokens_per_s"] / 1e9
assert abs(tg["gb_per_s"] - expect) <= 1e-9 * max(1.0, expect), (tg, expect)
assert pp["bytes_per_token"] == tg["bytes_per_token"]
for r in rows:
    assert r["int8_activations"] in ("off", "int4", "all") and isinstance(r["int16_activations"], bool), r
    assert r["weights_memory"] == "copied", r  # auto: a tiny model fits in half the available memory
PYEOF
  then ok "bench --json structure"; else bad "bench --json structure: $(cat "$WORK/b.json")"; fi
else
  bad "bench --json exited non-zero: $(cat "$WORK/b.err")"
fi

# 1b. The activation settings are reported as set (on a CPU with the integer kernels).
if DSV3_INT8_ACT=all DSV3_INT16_ACT=0 "$DSV3" bench --model "$WORK/tiny" -p 4 -n 0 -r 1 --json >"$WORK/a.json" 2>"$WORK/a.err" &&
   "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; assert (r["int8_activations"], r["int16_activations"]) in (("all", False), ("off", False)), r' "$WORK/a.json"; then
  ok "bench reports DSV3_INT8_ACT / DSV3_INT16_ACT"
else
  bad "bench activation settings: $(cat "$WORK/a.json" "$WORK/a.err")"
fi

# 1c. DSV3_WEIGHTS_MEMORY=mmap maps the files; a bad value is an error naming the variable.
if DSV3_WEIGHTS_MEMORY=mmap "$DSV3" bench --model "$WORK/tiny" -p 4 -n 2 -r 1 --json >"$WORK/m.json" 2>"$WORK/m.err" &&
   "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert all(x["weights_memory"]=="mapped" for x in r), r' "$WORK/m.json"; then
  ok "DSV3_WEIGHTS_MEMORY=mmap maps the weights"
else
  bad "DSV3_WEIGHTS_MEMORY=mmap: $(cat "$WORK/m.json" "$WORK/m.err")"
fi
DSV3_WEIGHTS_MEMORY=huge "$DSV3" bench --model "$WORK/tiny" -p 4 -n 0 -r 1 >"$WORK/m.txt" 2>"$WORK/m.err"; rc=$?
if [ "$rc" -ge 1 ] && [ "$rc" -le 125 ] && grep -q "DSV3_WEIGHTS_MEMORY must be auto, mmap or copy, got 'huge'" "$WORK/m.err"; then
  ok "bad DSV3_WEIGHTS_MEMORY is a one-line error"
else
  bad "bad DSV3_WEIGHTS_MEMORY (exit $rc): $(cat "$WORK/m.err")"
fi

# 2. -t wins over DSV3_THREADS.
if DSV3_THREADS=3 "$DSV3" bench --model "$WORK/tiny" -p 4 -n 2 -r 1 -t 1 --json >"$WORK/t.json" 2>"$WORK/t.err" &&
   "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert all(x["threads"]==1 for x in r)' "$WORK/t.json"; then
  ok "-t overrides DSV3_THREADS"
else
  bad "-t overrides DSV3_THREADS: $(cat "$WORK/t.json" "$WORK/t.err")"
fi

# 3. Text table: header, separator, one row per test (2 pp + 1 tg).
if "$DSV3" bench --model "$WORK/tiny" -p 8,4 -n 3 -r 1 >"$WORK/t.txt" 2>"$WORK/t.err" &&
   [ "$(grep -c '^| ' "$WORK/t.txt")" -eq 5 ] && grep -q '| pp8 |' "$WORK/t.txt" && grep -q '| pp4 |' "$WORK/t.txt" &&
   grep -q '| tg3 |' "$WORK/t.txt"; then
  ok "text table"
else
  bad "text table: $(cat "$WORK/t.txt" "$WORK/t.err")"
fi

# 4. -p 0 / -n 0 drop that kind of test (llama-bench's convention).
if "$DSV3" bench --model "$WORK/tiny" -p 0 -n 3 -r 1 >"$WORK/z.txt" 2>"$WORK/z.err" &&
   [ "$(grep -c '^| ' "$WORK/z.txt")" -eq 3 ] && grep -q '| tg3 |' "$WORK/z.txt" && ! grep -q '| pp' "$WORK/z.txt" &&
   "$DSV3" bench --model "$WORK/tiny" -p 4 -n 0 -r 1 >"$WORK/z.txt" 2>"$WORK/z.err" &&
   [ "$(grep -c '^| ' "$WORK/z.txt")" -eq 3 ] && grep -q '| pp4 |' "$WORK/z.txt" && ! grep -q '| tg' "$WORK/z.txt"; then
  ok "-p 0 / -n 0 skip their tests"
else
  bad "-p 0 / -n 0: $(cat "$WORK/z.txt" "$WORK/z.err")"
fi

# 5. Bad input (rejected before any run): one stderr line, exit code 1 or 2, nothing on stdout.
for args in "-p 0 -n 0" "-p -1" "-n -2" "-r 0" "-p x" "-t -1"; do
  # shellcheck disable=SC2086
  "$DSV3" bench --model "$WORK/tiny" $args >"$WORK/e.out" 2>"$WORK/e.err"
  rc=$?
  if [ "$rc" -ge 1 ] && [ "$rc" -le 2 ] && [ "$(wc -l <"$WORK/e.err")" -eq 1 ] && [ ! -s "$WORK/e.out" ]; then
    ok "bad option '$args' rejected"
  else
    bad "bad option '$args': rc=$rc stdout=$(cat "$WORK/e.out") stderr=$(cat "$WORK/e.err")"
  fi
done
# 6. bench serve with MTP speculation: runs, reports the acceptance on stderr; a bad method or
#    draft count is one stderr line.
if "$DSV3" bench serve --model "$WORK/tiny" --scenario short -c 1 --requests 2 --speculative mtp --draft 2 \
    >"$WORK/s.txt" 2>"$WORK/s.err" && grep -q '^| short | 1 | 2 |' "$WORK/s.txt" && grep -q 'drafts accepted' "$WORK/s.err"; then
  ok "bench serve --speculative mtp"
else
  bad "bench serve --speculative mtp: $(cat "$WORK/s.txt" "$WORK/s.err")"
fi
for args in "--speculative eagle" "--speculative mtp --draft 0" "--speculative mtp --draft 17"; do
  # shellcheck disable=SC2086
  "$DSV3" bench serve --model "$WORK/tiny" --scenario short -c 1 --requests 1 $args >"$WORK/e.out" 2>"$WORK/e.err"
  rc=$?
  if [ "$rc" -ge 1 ] && [ "$rc" -le 2 ] && [ "$(wc -l <"$WORK/e.err")" -eq 1 ]; then
    ok "bench serve '$args' rejected"
  else
    bad "bench serve '$args': rc=$rc stderr=$(cat "$WORK/e.err")"
  fi
done
if "$DSV3" bench --model "$WORK/missing" -r 1 >/dev/null 2>"$WORK/m.err"; then
  bad "missing model accepted"
else
  [ "$(wc -l <"$WORK/m.err")" -eq 1 ] && ok "missing model rejected" || bad "missing model: $(cat "$WORK/m.err")"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
