#!/usr/bin/env bash
# The main job from a fresh Debian machine: installs dependencies, builds, and generates text
# with the embedded default model (models/default; a random tiny model if it is missing).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh" "$root/build"
dsv3="$root/build/dsv3"
model="$root/models/default"
if [ ! -f "$model/config.json" ]; then
  model="$root/.cache/models/tiny"
  [ -f "$model/config.json" ] || "$dsv3" init --out "$model" --preset tiny --seed 1 >/dev/null
fi
"$dsv3" info --model "$model"
if [ -f "$model/tokenizer.json" ]; then
  "$dsv3" generate --model "$model" --prompt "${1:-The meaning of life is}" -n 48 --stats
else
  "$dsv3" generate --model "$model" --ids 1,2,3,4 -n 32 --temperature 0 --stats
fi
