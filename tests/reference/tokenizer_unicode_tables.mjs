// Generates src/tokenizer/unicode_tables.cpp: for every Unicode general category (\p{Lu} ...
// \p{L} ...) and the shorthands \d \w \s, alone and inside a [...] class, the code points where
// Oniguruma (the regex engine of
// Hugging Face tokenizers, via the npm "tokenizers" package) and this machine's PCRE2 disagree.
// Oniguruma's Unicode tables are newer (16.0) than Debian 12's PCRE2 10.42 (14.0), so without
// them e.g. the Unicode 15 emoji U+1FAE8 would not be \p{S} for us and " 🫨" would tokenize
// differently.
//
//   bash scripts/fetch_test_assets.sh && node tests/reference/tokenizer_unicode_tables.mjs
//
// Oniguruma's sets are read by running a Split pre-tokenizer (behavior Removed) over a string
// of every Unicode scalar value; PCRE2's by a small C++ program compiled on the fly.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const cache = process.env.DSV3_CACHE || path.join(root, ".cache");
const require = createRequire(path.join(cache, "npm/node_modules/noop.js"));
const { Tokenizer } = require("tokenizers");

const CATEGORIES = [
  "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po",
  "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Co", "Cn", "L", "M", "N", "P", "S", "Z", "C",
];
const SHORTHANDS = ["d", "w", "s"];
// Oniguruma does not give an atom the same set alone and inside a class (e.g. U+00B2 is \w but
// not [\w]), so both are tabulated: "w" for \w, "[w]" for \w inside [...].
const BASE_ATOMS = [...CATEGORIES.map((c) => [c, `\\p{${c}}`]), ...SHORTHANDS.map((s) => [s, `\\${s}`])];
const ATOMS = [...BASE_ATOMS, ...BASE_ATOMS.map(([name, re]) => [`[${name}]`, `[${re}]`])];

// Sorted list of [lo, hi] ranges -> Set-like bitmap over 0..0x10FFFF.
const N_CP = 0x110000;
function bitmapFromRanges(ranges) {
  const m = new Uint8Array(N_CP);
  for (const [lo, hi] of ranges) m.fill(1, lo, hi + 1);
  return m;
}
function rangesFromBitmap(m) {
  const out = [];
  for (let cp = 0; cp < N_CP; cp++) {
    if (!m[cp]) continue;
    if (out.length && out[out.length - 1][1] === cp - 1) out[out.length - 1][1] = cp;
    else out.push([cp, cp]);
  }
  return out;
}

function onigSets() {
  const chars = [];
  const cps = [];
  for (let cp = 0; cp < N_CP; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    chars.push(String.fromCodePoint(cp));
    cps.push(cp);
  }
  const text = chars.join("");
  const sets = {};
  for (const [name, re] of ATOMS) {
    const json = {
      version: "1.0", added_tokens: [], normalizer: null, post_processor: null, decoder: null,
      pre_tokenizer: { type: "Split", pattern: { Regex: re }, behavior: "Removed", invert: false },
      model: { type: "BPE", vocab: {}, merges: [] },
    };
    const pieces = Tokenizer.fromString(JSON.stringify(json)).getPreTokenizer().preTokenizeString(text);
    const kept = new Uint8Array(cps.length);  // offsets are in chars: kept pieces are non-matches
    for (const [, [s, e]] of pieces) kept.fill(1, s, e);
    const m = new Uint8Array(N_CP);
    for (let i = 0; i < cps.length; i++) if (!kept[i]) m[cps[i]] = 1;
    sets[name] = m;
    process.stderr.write(`onig ${name}\n`);
  }
  return sets;
}

const PCRE2_DUMP = String.raw`
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <cstdio>
#include <string>
static void enc(std::string& o, unsigned cp) {
  if (cp < 0x80) o += char(cp);
  else if (cp < 0x800) { o += char(0xC0 | (cp >> 6)); o += char(0x80 | (cp & 63)); }
  else if (cp < 0x10000) { o += char(0xE0 | (cp >> 12)); o += char(0x80 | ((cp >> 6) & 63)); o += char(0x80 | (cp & 63)); }
  else { o += char(0xF0 | (cp >> 18)); o += char(0x80 | ((cp >> 12) & 63)); o += char(0x80 | ((cp >> 6) & 63)); o += char(0x80 | (cp & 63)); }
}
int main(int argc, char** argv) {
  for (int a = 1; a < argc; ++a) {
    int err; PCRE2_SIZE off;
    pcre2_code* c = pcre2_compile((PCRE2_SPTR)argv[a], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off, nullptr);
    if (!c) return 1;
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
    long start = -1;
    for (unsigned cp = 0; cp <= 0x110000; ++cp) {
      bool m = false;
      if (cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF)) {
        std::string s; enc(s, cp);
        m = pcre2_match(c, (PCRE2_SPTR)s.data(), s.size(), 0, 0, md, nullptr) > 0;
      }
      if (m && start < 0) start = cp;
      if (!m && start >= 0) { printf("%ld %u ", start, cp - 1); start = -1; }
    }
    printf("\n");
    pcre2_match_data_free(md);
    pcre2_code_free(c);
  }
  return 0;
}
`;

function pcre2Sets() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsv3-pcre2-"));
  const src = path.join(dir, "dump.cpp"), exe = path.join(dir, "dump");
  fs.writeFileSync(src, PCRE2_DUMP);
  execFileSync("g++", ["-O2", "-o", exe, src, "-lpcre2-8"]);
  const lines = execFileSync(exe, ATOMS.map(([, re]) => re), { maxBuffer: 1 << 28 }).toString().split("\n");
  const sets = {};
  ATOMS.forEach(([name], i) => {
    const nums = lines[i].trim().split(/\s+/).filter(Boolean).map(Number);
    const ranges = [];
    for (let k = 0; k < nums.length; k += 2) ranges.push([nums[k], nums[k + 1]]);
    sets[name] = bitmapFromRanges(ranges);
  });
  fs.rmSync(dir, { recursive: true, force: true });
  return sets;
}

const onig = onigSets();
const pcre2 = pcre2Sets();
const hex = (n) => "0x" + n.toString(16).toUpperCase();
let body = "";
let entries = "";
const diffs = {};
for (const [name] of ATOMS) {
  const added = new Uint8Array(N_CP), removed = new Uint8Array(N_CP);
  for (let cp = 0; cp < N_CP; cp++) {
    if (onig[name][cp] && !pcre2[name][cp]) added[cp] = 1;
    if (!onig[name][cp] && pcre2[name][cp]) removed[cp] = 1;
  }
  const a = rangesFromBitmap(added), r = rangesFromBitmap(removed);
  diffs[name] = JSON.stringify([a, r]);
  if (!a.length && !r.length) continue;
  // A class-context entry is only written when it differs from the standalone one.
  if (name.startsWith("[") && diffs[name.slice(1, -1)] === diffs[name]) continue;
  const id = `k_${name.startsWith("[") ? "class_" + name.slice(1, -1) : name}`;
  const list = (rs) => rs.map(([lo, hi]) => `{${hex(lo)}, ${hex(hi)}}`).join(", ");
  if (a.length) body += `constexpr CodeRange ${id}_added[] = {${list(a)}};\n`;
  if (r.length) body += `constexpr CodeRange ${id}_removed[] = {${list(r)}};\n`;
  entries += `    {"${name}", ${a.length ? `${id}_added` : "{}"}, ${r.length ? `${id}_removed` : "{}"}},\n`;
}

const out = `// GENERATED by tests/reference/tokenizer_unicode_tables.mjs - do not edit.
// Where Oniguruma (Hugging Face tokenizers' regex engine, Unicode 16.0) and PCRE2 10.42
// (Unicode 14.0) disagree on \\p{category}, \\d, \\w and \\s; see unicode_tables.h.
// clang-format off
#include "tokenizer/unicode_tables.h"

namespace dsv3::tok {
namespace {

${body}
const UnicodeAtomDiff kDiffs[] = {
${entries}};

}  // namespace

const UnicodeAtomDiff* onig_unicode_diff(std::string_view name, bool in_class) {
  if (in_class) {
    for (const UnicodeAtomDiff& d : kDiffs) {
      if (d.name.size() == name.size() + 2 && d.name.substr(1, name.size()) == name && d.name[0] == '[') return &d;
    }
  }
  for (const UnicodeAtomDiff& d : kDiffs) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

}  // namespace dsv3::tok
`;
const file = path.join(root, "src/tokenizer/unicode_tables.cpp");
fs.writeFileSync(file, out);
console.log(`wrote ${path.relative(root, file)}`);
