// Encodes JSON Lines {"text": ...} from stdin with Hugging Face's own tokenizers (the npm
// binding of the Rust library), printing {"ids": [...]} like `dsv3 tokenize --raw`.
// Usage: node hf_encode.mjs MODEL_DIR   (run with NODE_PATH pointing at .cache/npm/node_modules)
import { createRequire } from "module";
import * as readline from "readline";
const require = createRequire(process.env.NODE_PATH.split(":")[0] + "/");
const { Tokenizer } = require("tokenizers");
const tok = await Tokenizer.fromFile(process.argv[2] + "/tokenizer.json");
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const { text } = JSON.parse(line);
  const ids = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
  console.log(JSON.stringify({ ids }));
}
