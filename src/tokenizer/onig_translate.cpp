#include "tokenizer/onig_translate.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace dsv3::tok {
namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::string hex_cp(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\x{%X}", unsigned(cp));
  return buf;
}

// Class items ("\x{A}-\x{B}...") for a list of ranges.
std::string range_items(std::span<const CodeRange> ranges) {
  std::string out;
  for (const CodeRange& r : ranges) {
    out += hex_cp(r.lo);
    if (r.hi != r.lo) {
      out += '-';
      out += hex_cp(r.hi);
    }
  }
  return out;
}

// One item of a character class. `text` is PCRE2 class syntax matching a superset of what
// Oniguruma matches; `wrong` lists the code points where the superset is too big.
struct ClassItem {
  std::string text;
  std::span<const CodeRange> wrong;
  std::string exact_complement;  // class syntax of exactly the complement, when expressible
};

// A property or shorthand atom; `name` is a category ("L", "Lu") or "d" / "w" / "s".
ClassItem atom_item(std::string_view name, bool negated, bool shorthand, bool in_class) {
  std::string base;
  if (shorthand) base = std::string("\\") + char(negated ? name[0] - 32 : name[0]);
  else base = std::string(negated ? "\\P{" : "\\p{") + std::string(name) + "}";
  const UnicodeAtomDiff* d = onig_unicode_diff(name, in_class);
  if (!d) return {base, {}, {}};
  std::string flipped;
  if (shorthand) flipped = std::string("\\") + char(negated ? name[0] : name[0] - 32);
  else flipped = std::string(negated ? "\\p{" : "\\P{") + std::string(name) + "}";
  // Oniguruma's set is (PCRE2 + added) - removed; its complement (not PCRE2 - added) + removed.
  // Without additions the complement of the first is exactly flipped + removed (and without
  // removals, the complement of the second is flipped + added).
  if (!negated) return {base + range_items(d->added), d->removed, d->added.empty() ? flipped + range_items(d->removed) : ""};
  return {base + range_items(d->removed), d->added, d->removed.empty() ? flipped + range_items(d->added) : ""};
}

std::string emit_class(const std::vector<ClassItem>& items, bool negated);

// \b / \B with Oniguruma's \w (PCRE2's own \b would use PCRE2's \w).
std::string word_boundary(bool boundary) {
  const std::string w = emit_class({atom_item("w", false, true, false)}, false);
  if (boundary) return "(?:(?<=" + w + ")(?!" + w + ")|(?<!" + w + ")(?=" + w + "))";
  return "(?:(?<=" + w + ")(?=" + w + ")|(?<!" + w + ")(?!" + w + "))";
}

// Parses an escape at p[i] == '\\' (inside or outside a class). Returns true and fills `item`
// for an atom that needs a table; otherwise appends the PCRE2 spelling to `literal`.
// Advances i to the last character of the escape.
bool parse_escape(std::string_view p, size_t& i, bool in_class, ClassItem* item, std::string* literal) {
  if (i + 1 >= p.size()) {
    *literal += '\\';
    return false;
  }
  const char n = p[++i];
  switch (n) {
    case 's': case 'S': case 'd': case 'D': case 'w': case 'W': {
      const char lower = char(n | 0x20);
      *item = atom_item(std::string_view(&lower, 1), n != lower, true, in_class);
      return true;
    }
    case 'b': case 'B':
      if (in_class) {  // backspace inside a class, as in both engines
        *literal += std::string("\\") + n;
        return false;
      }
      *literal += word_boundary(n == 'b');
      return false;
    case 'h':
      *literal += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]";
      return false;
    case 'H':
      *literal += in_class ? "\\x{0}-/:-@G-`g-\\x{10FFFF}" : "[^0-9a-fA-F]";
      return false;
    case 'u':
      if (i + 4 < p.size() && is_hex(p[i + 1]) && is_hex(p[i + 2]) && is_hex(p[i + 3]) && is_hex(p[i + 4])) {
        *literal += "\\x{" + std::string(p.substr(i + 1, 4)) + "}";
        i += 4;
      } else {
        *literal += "\\u";
      }
      return false;
    case 'p': case 'P': {
      bool negated = n == 'P';
      std::string_view name;
      if (i + 1 < p.size() && p[i + 1] == '{') {
        size_t close = p.find('}', i + 2);
        if (close == std::string_view::npos) {
          *literal += std::string("\\") + n;
          return false;
        }
        name = p.substr(i + 2, close - i - 2);
        i = close;
      } else {
        *literal += n;  // Ruby syntax has only \p{...}: a bare \p is the letter p
        return false;
      }
      if (!name.empty() && name[0] == '^') {
        negated = !negated;
        name.remove_prefix(1);
      }
      *item = atom_item(name, negated, false, in_class);
      return true;
    }
    default: {
      // Copy the escape, including a whole multi-byte character.
      size_t len = utf8_valid_len(p, i);
      *literal += '\\';
      literal->append(p.substr(i, len ? len : 1));
      i += (len ? len : 1) - 1;
      return false;
    }
  }
}

// True for each code point in `cps` that the PCRE2 class `cls` matches.
std::vector<bool> class_membership(const std::string& cls, const std::vector<char32_t>& cps) {
  std::vector<bool> out(cps.size(), false);
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(cls.data()), cls.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off, nullptr);
  if (!code) return out;  // the caller's full pattern will report the syntax error
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  std::string s;
  for (size_t k = 0; k < cps.size(); ++k) {
    s.clear();
    utf8_append(s, cps[k]);
    out[k] = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, md, nullptr) > 0;
  }
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  return out;
}

std::vector<CodeRange> to_ranges(std::vector<char32_t> cps) {
  std::sort(cps.begin(), cps.end());
  std::vector<CodeRange> out;
  for (char32_t c : cps) {
    if (!out.empty() && out.back().hi + 1 == c) out.back().hi = c;
    else if (out.empty() || out.back().hi < c) out.push_back({c, c});
  }
  return out;
}

// Emits a class with Oniguruma's meaning. Where item supersets overshoot (the `wrong` code
// points W), the class becomes (?:(?![W])[items]|[M]) with M the members of W, found by
// evaluating the class with, for each w in W, the items that must not match w left out.
std::string emit_class(const std::vector<ClassItem>& items, bool negated) {
  auto build = [&](const std::vector<bool>* drop, const char* sentinel) {
    std::string s = negated ? "[^" : "[";
    for (size_t k = 0; k < items.size(); ++k) {
      if (!drop || !(*drop)[k]) s += items[k].text;
    }
    if (sentinel) s += sentinel;  // keeps a class with every item dropped well-formed
    return s + "]";
  };
  const std::string full = build(nullptr, nullptr);

  std::map<std::vector<bool>, std::vector<char32_t>> by_signature;
  bool any_wrong = false;
  for (const ClassItem& it : items) any_wrong |= !it.wrong.empty();
  if (!any_wrong) return full;

  // A lone atom whose complement is expressible: [^complement] (e.g. \s -> [^\S\x{180E}]).
  if (items.size() == 1 && !items[0].exact_complement.empty())
    return (negated ? "[" : "[^") + items[0].exact_complement + "]";
  std::vector<char32_t> wrong_cps;
  for (size_t k = 0; k < items.size(); ++k) {
    for (const CodeRange& r : items[k].wrong) {
      for (char32_t c = r.lo; c <= r.hi; ++c) wrong_cps.push_back(c);
    }
  }
  std::sort(wrong_cps.begin(), wrong_cps.end());
  wrong_cps.erase(std::unique(wrong_cps.begin(), wrong_cps.end()), wrong_cps.end());
  for (char32_t c : wrong_cps) {
    std::vector<bool> sig(items.size(), false);
    for (size_t k = 0; k < items.size(); ++k) {
      for (const CodeRange& r : items[k].wrong) {
        if (c >= r.lo && c <= r.hi) {
          sig[k] = true;
          break;
        }
      }
    }
    by_signature[sig].push_back(c);
  }
  std::vector<char32_t> members;
  for (const auto& [sig, cps] : by_signature) {
    const bool has_max = std::find(cps.begin(), cps.end(), char32_t(0x10FFFF)) != cps.end();
    std::vector<bool> in = class_membership(build(&sig, has_max ? "\\x{0}" : "\\x{10FFFF}"), cps);
    for (size_t k = 0; k < cps.size(); ++k) {
      if (in[k]) members.push_back(cps[k]);
    }
  }
  const auto wrong_ranges = to_ranges(wrong_cps);
  std::string out = "(?:(?![" + range_items(wrong_ranges) + "])" + full;
  if (!members.empty()) out += "|[" + range_items(to_ranges(members)) + "]";
  return out + ")";
}

}  // namespace

std::string translate_onig_pattern(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 64);
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      ClassItem item;
      std::string literal;
      if (parse_escape(p, i, false, &item, &literal)) {
        out += emit_class({item}, false);
      } else {
        out += literal;
      }
      continue;
    }
    if (c != '[') {
      out += c;
      continue;
    }
    // A character class: collect its items up to the closing ']'.
    size_t j = i + 1;
    bool negated = false;
    if (j < p.size() && p[j] == '^') {
      negated = true;
      ++j;
    }
    std::vector<ClassItem> items;
    std::string literal;
    auto flush_literal = [&] {
      if (!literal.empty()) items.push_back({std::move(literal), {}, {}});
      literal.clear();
    };
    bool closed = false;
    for (bool first = true; j < p.size(); ++j, first = false) {
      const char d = p[j];
      if (d == ']' && !first) {
        closed = true;
        break;
      }
      if (d == '\\') {
        ClassItem item;
        if (parse_escape(p, j, true, &item, &literal)) {
          flush_literal();
          items.push_back(std::move(item));
        }
        continue;
      }
      if (d == '[' && j + 1 < p.size() && p[j + 1] == ':') {  // POSIX bracket [:alpha:]
        size_t close = p.find(":]", j + 2);
        if (close != std::string_view::npos) {
          literal.append(p.substr(j, close + 2 - j));
          j = close + 1;
          continue;
        }
      }
      if (d == '[') {  // nested class (Oniguruma only): keep '[' literal
        literal += "\\[";
        continue;
      }
      literal += d;
    }
    if (!closed) {  // unterminated: let PCRE2 report it on the original text
      out.append(p.substr(i));
      break;
    }
    flush_literal();
    out += emit_class(items, negated);
    i = j;
  }
  return out;
}

}  // namespace dsv3::tok
