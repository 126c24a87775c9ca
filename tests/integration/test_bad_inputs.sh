#!/usr/bin/env bash
# Corrupted inputs must fail cleanly: for each of nine broken checkpoints, `dsv3 info` and
# `dsv3 logits` exit with a code in 1..125 (never a signal), print exactly one line on
# stderr, print nothing on stdout, and leave no output file behind.
#   usage: bash test_bad_inputs.sh <path-to-dsv3> <source-dir>
set -u

DSV3="${1:?usage: test_bad_inputs.sh <path-to-dsv3> <source-dir>}"
SRC="${2:-}"
PY=/usr/bin/python3
TIMEOUT=300

if [ ! -x "$DSV3" ]; then
  echo "test_bad_inputs: $DSV3 is not an executable" >&2
  exit 1
fi
if [ ! -x "$PY" ]; then
  echo "test_bad_inputs: $PY is required (stdlib only)" >&2
  exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dsv3_bad_inputs.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------------------------------
# A valid checkpoint to start from, checked to work before we break copies of it.
GOOD="$WORK/good"
if ! "$DSV3" init --out "$GOOD" --preset tiny >"$WORK/init.out" 2>"$WORK/init.err"; then
  echo "test_bad_inputs: '$DSV3 init --out $GOOD --preset tiny' failed:" >&2
  cat "$WORK/init.err" >&2
  exit 1
fi
if ! "$DSV3" info --model "$GOOD" >"$WORK/good_info.out" 2>"$WORK/good_info.err"; then
  echo "test_bad_inputs: info on the valid checkpoint failed:" >&2
  cat "$WORK/good_info.err" >&2
  exit 1
fi
if ! "$DSV3" logits --model "$GOOD" --ids 1,2,3 --out "$WORK/good.npy" >/dev/null 2>"$WORK/good_logits.err" ||
   [ ! -s "$WORK/good.npy" ]; then
  echo "test_bad_inputs: logits on the valid checkpoint failed:" >&2
  cat "$WORK/good_logits.err" >&2
  exit 1
fi

# ---------------------------------------------------------------------------------------
# Binary surgery on safetensors files and config.json (python3 standard library only).
cat >"$WORK/corrupt.py" <<'PYEOF'
import json, os, struct, sys

def shards(d):
    fs = [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".safetensors")]
    if not fs:
        sys.exit("no .safetensors in " + d)
    return fs

def biggest_shard(d):
    return max(shards(d), key=os.path.getsize)

def read(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    return n, json.loads(b[8:8 + n].decode("utf-8")), b[8 + n:]

def write(path, header, data):
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)

def tensors(header):
    return [k for k in header if k != "__metadata__"]

def nonempty(header):
    ks = [k for k in tensors(header) if header[k]["data_offsets"][1] > header[k]["data_offsets"][0]]
    if not ks:
        sys.exit("no non-empty tensor")
    return ks

kind, d = sys.argv[1], sys.argv[2]
if kind == "truncated_shard":
    p = biggest_shard(d)
    n, h, data = read(p)
    if len(data) < 2:
        sys.exit("shard has no data to truncate")
    os.truncate(p, 8 + n + len(data) // 2)
elif kind == "lying_header_length":
    p = biggest_shard(d)
    size = os.path.getsize(p)
    with open(p, "r+b") as f:
        f.write(struct.pack("<Q", size))  # 8 + N > file size
elif kind == "invalid_header_json":
    p = biggest_shard(d)
    with open(p, "r+b") as f:
        f.seek(8)
        f.write(b"#")  # the opening '{' of the header
elif kind == "offsets_past_end":
    p = biggest_shard(d)
    n, h, data = read(p)
    k = max(nonempty(h), key=lambda k: h[k]["data_offsets"][1])
    b, e = h[k]["data_offsets"]
    h[k]["data_offsets"] = [b + len(data), e + len(data)]  # same length, beyond the data
    write(p, h, data)
elif kind == "unknown_dtype":
    p = biggest_shard(d)
    n, h, data = read(p)
    h[tensors(h)[0]]["dtype"] = "F7"
    write(p, h, data)
elif kind == "shape_mismatch":
    p = biggest_shard(d)
    n, h, data = read(p)
    k = nonempty(h)[0]
    shape = h[k]["shape"]
    h[k]["shape"] = [shape[0] + 1] + shape[1:] if shape else [2]
    write(p, h, data)
elif kind == "config_missing_field":
    p = os.path.join(d, "config.json")
    with open(p) as f:
        c = json.load(f)
    del c["hidden_size"]
    with open(p, "w") as f:
        json.dump(c, f, indent=2)
elif kind == "config_not_json":
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write('{"architectures": ["DeepseekV3ForCausalLM"], this is not json\n')
else:
    sys.exit("unknown corruption " + kind)
PYEOF

# ---------------------------------------------------------------------------------------
passed=0
failed=0

# check NAME CMD... : runs one command on a broken model and checks the failure contract.
check() {
  local name="$1"
  shift
  local out="$WORK/$name.stdout" err="$WORK/$name.stderr" rc
  timeout -k 10 "$TIMEOUT" "$@" >"$out" 2>"$err"
  rc=$?
  local lines
  lines=$(awk 'END { print NR }' "$err")
  if [ "$rc" -eq 124 ]; then
    echo "  $name: timed out after ${TIMEOUT}s"
    return 1
  fi
  if [ "$rc" -lt 1 ] || [ "$rc" -gt 125 ]; then
    echo "  $name: exit code $rc, expected 1..125 ($( [ "$rc" -ge 128 ] && echo "signal $((rc - 128))" || echo "success"))"
    return 1
  fi
  if [ "$lines" -ne 1 ]; then
    echo "  $name: $lines lines on stderr, expected exactly 1:"
    sed 's/^/    | /' "$err" | head -20
    return 1
  fi
  if [ -s "$out" ]; then
    echo "  $name: unexpected stdout:"
    sed 's/^/    | /' "$out" | head -5
    return 1
  fi
  echo "  $name: exit $rc: $(cat "$err")"
  return 0
}

run_case() {
  local name="$1" model="$2" ok=1
  local npy="$WORK/$name.npy"
  check "$name.info" "$DSV3" info --model "$model" || ok=0
  check "$name.logits" "$DSV3" logits --model "$model" --ids 1,2,3 --out "$npy" || ok=0
  if [ -e "$npy" ]; then
    echo "  $name.logits: wrote $npy despite failing"
    ok=0
  fi
  if [ "$ok" -eq 1 ]; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    failed=$((failed + 1))
  fi
}

for kind in truncated_shard lying_header_length invalid_header_json offsets_past_end unknown_dtype \
            shape_mismatch config_missing_field config_not_json; do
  dir="$WORK/$kind"
  cp -r "$GOOD" "$dir"
  if ! "$PY" "$WORK/corrupt.py" "$kind" "$dir"; then
    echo "FAIL $kind (could not build the corrupted checkpoint)"
    failed=$((failed + 1))
    continue
  fi
  run_case "$kind" "$dir"
done
run_case missing_directory "$WORK/does-not-exist"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
