// Trains Hugging Face's own BpeTrainer (npm `tokenizers`; Tokenizer.train uses the model's
// default trainer: vocab 30000, min_frequency 0, no initial alphabet, which gives the same
// merges as dsv3's trainer when both run out of pairs first) on FILES with the pre-tokenizer
// of TOKENIZER_DIR/tokenizer.json, and saves the trained tokenizer.json to OUT_JSON.
// Usage: node hf_train_merges.mjs TOKENIZER_DIR OUT_JSON FILES...   (NODE_PATH as hf_encode.mjs)
import { createRequire } from "module";
const require = createRequire(process.env.NODE_PATH.split(":")[0] + "/");
const { Tokenizer } = require("tokenizers");
const [dir, out, ...files] = process.argv.slice(2);
const tok = Tokenizer.fromFile(dir + "/tokenizer.json");
tok.train(files);
tok.save(out);
