// Trains Hugging Face's own BpeTrainer (npm `tokenizers`, default trainer options: vocab
// 30000, min_frequency 0) on FILES with the pre-tokenizer of TOKENIZER_DIR/tokenizer.json and
// prints the learned merges, one JSON string per line, to compare with `dsv3 train-tokenizer`.
// Usage: node hf_train_merges.mjs TOKENIZER_DIR OUT_JSON FILES...   (NODE_PATH as hf_encode.mjs)
import { createRequire } from "module";
import * as fs from "fs";
const require = createRequire(process.env.NODE_PATH.split(":")[0] + "/");
const { Tokenizer } = require("tokenizers");
const [dir, out, ...files] = process.argv.slice(2);
const tok = Tokenizer.fromFile(dir + "/tokenizer.json");
tok.train(files);
tok.save(out);
for (const m of JSON.parse(fs.readFileSync(out, "utf8")).model.merges)
  console.log(JSON.stringify(Array.isArray(m) ? m.join(" ") : m));
