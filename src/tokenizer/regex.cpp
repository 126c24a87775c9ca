#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace dsv3::tok {
namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Per-thread match state shared by all patterns: group 0 is all we read, and a JIT stack
// larger than the 32 KiB default so long inputs never hit PCRE2_ERROR_JIT_STACKLIMIT.
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (context && jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
  }
};

MatchState& match_state() {
  thread_local MatchState state;
  return state;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

// Translates one \p{...} / \P{...} / \pX atom (name includes a leading '^' when negated).
void translate_property(std::string_view name, bool negated, bool in_class, std::string& out) {
  if (!name.empty() && name[0] == '^') {
    negated = !negated;
    name.remove_prefix(1);
  }
  std::string atom = std::string(negated ? "\\P{" : "\\p{") + std::string(name) + "}";
  std::string_view extra = unicode_supplement(name);
  if (extra.empty()) {
    out += atom;
  } else if (!in_class) {
    out += negated ? "[^\\p{" : "[\\p{";
    out += name;
    out += "}";
    out += extra;
    out += "]";
  } else if (!negated) {
    out += atom;
    out += extra;
  } else {
    out += atom;  // a negated property inside a class cannot take the supplement (rare)
  }
}

// \d \w \s and their negations, with Oniguruma's extra code points.
void translate_shorthand(char c, bool in_class, std::string& out) {
  const char lower = char(c | 0x20);
  const bool negated = c != lower;
  std::string extra(unicode_supplement(std::string_view(&lower, 1)));
  if (lower == 's') extra += "\\x{85}";  // Oniguruma's \s is White_Space, which has NEL
  if (extra.empty()) {
    out += '\\';
    out += c;
  } else if (!in_class) {
    out += negated ? "[^\\" : "[\\";
    out += lower;
    out += extra;
    out += "]";
  } else if (!negated) {
    out += '\\';
    out += c;
    out += extra;
  } else {
    out += '\\';
    out += c;  // negated shorthand inside a class keeps PCRE2's meaning (rare)
  }
}

}  // namespace

std::string translate_onig_pattern(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 16);
  int class_depth = 0;
  size_t class_start = 0;  // index just after the last '[' or '[^' that opened a class
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char n = p[++i];
      const bool in_class = class_depth > 0;
      switch (n) {
        case 's': case 'S': case 'd': case 'D': case 'w': case 'W':
          translate_shorthand(n, in_class, out);
          break;
        case 'h':
          out += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]";
          break;
        case 'H':
          out += in_class ? "\\x{0}-/:-@G-`g-\\x{10FFFF}" : "[^0-9a-fA-F]";
          break;
        case 'u':
          if (i + 4 < p.size() && is_hex(p[i + 1]) && is_hex(p[i + 2]) && is_hex(p[i + 3]) &&
              is_hex(p[i + 4])) {
            out += "\\x{";
            out.append(p.substr(i + 1, 4));
            out += "}";
            i += 4;
          } else {
            out += "\\u";
          }
          break;
        case 'p': case 'P': {
          const bool negated = n == 'P';
          if (i + 1 < p.size() && p[i + 1] == '{') {
            size_t close = p.find('}', i + 2);
            if (close == std::string_view::npos) {
              out += '\\';
              out += n;
              break;
            }
            translate_property(p.substr(i + 2, close - i - 2), negated, in_class, out);
            i = close;
          } else if (i + 1 < p.size()) {
            translate_property(p.substr(i + 1, 1), negated, in_class, out);
            ++i;
          } else {
            out += '\\';
            out += n;
          }
          break;
        }
        default:
          out += '\\';
          out += n;
      }
      continue;
    }
    if (c == '[') {
      if (class_depth > 0 && i + 1 < p.size() && p[i + 1] == ':') {  // POSIX [:alpha:]
        size_t close = p.find(":]", i + 2);
        if (close != std::string_view::npos) {
          out.append(p.substr(i, close + 2 - i));
          i = close + 1;
          continue;
        }
      }
      if (class_depth == 0) {
        ++class_depth;
        out += c;
        if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
        class_start = i + 1;
        continue;
      }
      // Nested classes are an Oniguruma extension PCRE2 lacks; '[' stays a literal here.
      out += "\\[";
      continue;
    }
    if (c == ']' && class_depth > 0 && i != class_start) {
      --class_depth;
    }
    out += c;
  }
  return out;
}

std::string regex_escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
      if (u < 0x20 || u == 0x7f) {
        static const char* hex = "0123456789abcdef";
        out += "\\x{";
        out += hex[u >> 4];
        out += hex[u & 15];
        out += "}";
        continue;
      }
      out += '\\';
    }
    out += c;
  }
  return out;
}

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

Regex::Regex(std::string_view pattern, const std::string& origin) : code_(std::make_unique<Code>()) {
  pattern_ = translate_onig_pattern(pattern);
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &err_offset, nullptr);
  if (!code_->code) {
    fail(origin, ": invalid regex pattern \"", std::string(pattern), "\": ", pcre2_message(err),
         " at offset ", err_offset);
  }
  pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

void Regex::find_all(std::string_view text, std::vector<Match>& out) const {
  MatchState& st = match_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t search_from = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  while (search_from <= text.size()) {
    int rc = pcre2_match(code_->code, subject, text.size(), search_from, PCRE2_NO_UTF_CHECK,
                         st.data, st.context);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) fail("regex \"", pattern_, "\": match failed: ", pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    size_t s = ov[0], e = ov[1];
    if (s == e && have_last && s == last_match_end) {
      // The onig crate's FindMatches: no empty match right after the previous match; step
      // one character and search again.
      if (search_from >= text.size()) return;
      size_t step = utf8_valid_len(text, search_from);
      search_from += step ? step : 1;
      continue;
    }
    out.emplace_back(s, e);
    search_from = e;
    have_last = true;
    last_match_end = e;
  }
}

bool Regex::matches_at_start(std::string_view text, size_t* match_len) const {
  MatchState& st = match_state();
  int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                       PCRE2_NO_UTF_CHECK | PCRE2_ANCHORED, st.data, st.context);
  if (rc < 0) return false;
  if (match_len) *match_len = pcre2_get_ovector_pointer(st.data)[1];
  return true;
}

}  // namespace dsv3::tok
