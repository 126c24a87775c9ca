#include "template/lexer.h"

#include <cctype>
#include <string_view>

#include "core/error.h"

namespace dsv3::tmpl {

[[noreturn]] void syntax_error(int line, int col, const std::string& msg) {
  fail("chat template syntax error at line ", line, ", column ", col, ": ", msg);
}


namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Decodes a Python string literal body (jinja2 uses the "unicode-escape" codec).
std::string decode_escapes(const std::string& raw, int line, int col) {
  std::string out;
  auto put_cp = [&](uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  };
  for (size_t p = 0; p < raw.size(); ++p) {
    if (raw[p] != '\\' || p + 1 >= raw.size()) {
      out += raw[p];
      continue;
    }
    const char c = raw[++p];
    auto hex = [&](size_t n) {
      if (p + n >= raw.size()) syntax_error(line, col, "truncated escape in string");
      uint32_t v = 0;
      for (size_t k = 1; k <= n; ++k) {
        const char h = raw[p + k];
        if (!std::isxdigit(static_cast<unsigned char>(h))) syntax_error(line, col, "bad escape in string");
        v = v * 16 + uint32_t(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
      }
      p += n;
      return v;
    };
    switch (c) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '0': out += '\0'; break;
      case '\n': break;
      case 'x': put_cp(hex(2)); break;
      case 'u': put_cp(hex(4)); break;
      case 'U': put_cp(hex(8)); break;
      default: out += '\\'; out += c;
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Token> run() {
    bool line_starting = true;  // the previous tag ended a line (or we are at the start)
    bool strip_next = false;    // the previous tag ended with '-': drop leading whitespace
    while (pos_ < src_.size()) {
      size_t q = pos_;
      char kind = 0;
      while ((q = src_.find('{', q)) != std::string::npos) {
        if (q + 1 < src_.size() && (src_[q + 1] == '{' || src_[q + 1] == '%' || src_[q + 1] == '#')) {
          kind = src_[q + 1];
          break;
        }
        ++q;
      }
      if (q == std::string::npos) q = src_.size();
      std::string text = src_.substr(pos_, q - pos_);
      const int text_line = line_, text_col = col_;
      advance_to(q);
      if (strip_next) {
        size_t k = 0;
        while (k < text.size() && is_space(text[k])) ++k;
        text.erase(0, k);
        strip_next = false;
      }
      if (kind) {
        const char sign = q + 2 < src_.size() ? src_[q + 2] : 0;
        if (sign == '-') {
          size_t k = text.size();
          while (k > 0 && is_space(text[k - 1])) --k;
          text.resize(k);
        } else if (sign != '+' && kind != '{') {
          const size_t l_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
          if (l_pos > 0 || line_starting) {
            bool only_ws = true;
            for (size_t k = l_pos; k < text.size(); ++k)
              if (text[k] != ' ' && text[k] != '\t') only_ws = false;
            if (only_ws) text.resize(l_pos);
          }
        }
      }
      if (!text.empty()) out_.push_back({Tok::kText, text, text_line, text_col});
      if (!kind) break;
      const bool had_sign = q + 2 < src_.size() && (src_[q + 2] == '-' || src_[q + 2] == '+');
      const int tag_line = line_, tag_col = col_;
      advance_to(q + 2 + (had_sign ? 1 : 0));
      if (kind == '#') {
        const size_t e = src_.find("#}", pos_);
        if (e == std::string::npos) syntax_error(tag_line, tag_col, "unclosed comment (missing '#}')");
        const bool minus = e > pos_ && src_[e - 1] == '-';
        const bool plus = e > pos_ && src_[e - 1] == '+';
        advance_to(e + 2);
        finish_tag(minus, plus, strip_next, line_starting);
        continue;
      }
      out_.push_back({kind == '{' ? Tok::kVarBegin : Tok::kBlockBegin, "", tag_line, tag_col});
      lex_tag(kind == '{', tag_line, tag_col, strip_next, line_starting);
      if (kind == '%') maybe_raw(strip_next, line_starting);
    }
    out_.push_back({Tok::kEof, "", line_, col_});
    return std::move(out_);
  }

 private:
  void advance_to(size_t q) {
    for (; pos_ < q; ++pos_) {
      if (src_[pos_] == '\n') {
        ++line_;
        col_ = 1;
      } else if ((static_cast<unsigned char>(src_[pos_]) & 0xC0) != 0x80) {
        ++col_;
      }
    }
  }

  // After a block/comment end: '-' strips following whitespace, otherwise trim_blocks
  // removes one newline unless '+' asked to keep it.
  void finish_tag(bool minus, bool plus, bool& strip_next, bool& line_starting) {
    line_starting = false;
    if (minus) {
      strip_next = true;
    } else if (!plus && pos_ < src_.size() && src_[pos_] == '\n') {
      advance_to(pos_ + 1);
      line_starting = true;
    }
  }

  void lex_tag(bool is_var, int start_line, int start_col, bool& strip_next, bool& line_starting) {
    int depth = 0;
    for (;;) {
      while (pos_ < src_.size() && is_space(src_[pos_])) advance_to(pos_ + 1);
      if (pos_ >= src_.size()) syntax_error(start_line, start_col, is_var ? "unclosed '{{' (missing '}}')" : "unclosed '{%' (missing '%}')");
      const std::string_view rest(src_.data() + pos_, src_.size() - pos_);
      if (depth == 0) {
        const char* end = is_var ? "}}" : "%}";
        for (const char* prefix : {"-", "+", ""}) {
          const std::string e = std::string(prefix) + end;
          if (rest.substr(0, e.size()) == e && !(is_var && prefix[0] == '+')) {
            out_.push_back({is_var ? Tok::kVarEnd : Tok::kBlockEnd, "", line_, col_});
            advance_to(pos_ + e.size());
            if (is_var) {
              line_starting = false;
              if (prefix[0] == '-') strip_next = true;
            } else {
              finish_tag(prefix[0] == '-', prefix[0] == '+', strip_next, line_starting);
            }
            return;
          }
        }
      }
      const char c = src_[pos_];
      const int l = line_, cl = col_;
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = pos_;
        while (e < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        out_.push_back({Tok::kName, src_.substr(pos_, e - pos_), l, cl});
        advance_to(e);
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t e = pos_;
        bool is_float = false;
        while (e < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        if (e + 1 < src_.size() && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
          is_float = true;
          ++e;
          while (e < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        }
        if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
          size_t f = e + 1;
          if (f < src_.size() && (src_[f] == '+' || src_[f] == '-')) ++f;
          if (f < src_.size() && std::isdigit(static_cast<unsigned char>(src_[f]))) {
            is_float = true;
            e = f;
            while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
          }
        }
        std::string num = src_.substr(pos_, e - pos_);
        std::erase(num, '_');
        out_.push_back({is_float ? Tok::kFloat : Tok::kInt, num, l, cl});
        advance_to(e);
      } else if (c == '\'' || c == '"') {
        size_t e = pos_ + 1;
        while (e < src_.size() && src_[e] != c) e += src_[e] == '\\' ? 2 : 1;
        if (e >= src_.size()) syntax_error(l, cl, "unterminated string literal");
        out_.push_back({Tok::kString, decode_escapes(src_.substr(pos_ + 1, e - pos_ - 1), l, cl), l, cl});
        advance_to(e + 1);
      } else {
        static const char* const kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]",
                                           "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};
        const char* found = nullptr;
        for (const char* op : kOps)
          if (rest.substr(0, std::char_traits<char>::length(op)) == op) {
            found = op;
            break;
          }
        if (!found) syntax_error(l, cl, std::string("unexpected character '") + c + "'");
        const std::string op = found;
        if (op == "(" || op == "[" || op == "{") ++depth;
        if (op == ")" || op == "]" || op == "}") {
          if (depth == 0) syntax_error(l, cl, "unexpected '" + op + "'");
          --depth;
        }
        out_.push_back({Tok::kOp, op, l, cl});
        advance_to(pos_ + op.size());
      }
    }
  }

  // {% raw %}...{% endraw %}: everything between is text.
  void maybe_raw(bool& strip_next, bool& line_starting) {
    const size_t n = out_.size();
    if (n < 3 || out_[n - 3].type != Tok::kBlockBegin || out_[n - 2].type != Tok::kName || out_[n - 2].text != "raw") return;
    const int l = out_[n - 3].line, c = out_[n - 3].col;
    out_.resize(n - 3);
    size_t search = pos_;
    for (;;) {
      const size_t b = src_.find("{%", search);
      if (b == std::string::npos) syntax_error(l, c, "missing '{% endraw %}'");
      size_t p = b + 2;
      const bool minus_open = p < src_.size() && src_[p] == '-';
      if (minus_open || (p < src_.size() && src_[p] == '+')) ++p;
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (src_.compare(p, 6, "endraw") != 0) {
        search = b + 2;
        continue;
      }
      p += 6;
      while (p < src_.size() && is_space(src_[p])) ++p;
      const bool minus_close = p < src_.size() && src_[p] == '-';
      const bool plus_close = p < src_.size() && src_[p] == '+';
      if (minus_close || plus_close) ++p;
      if (src_.compare(p, 2, "%}") != 0) syntax_error(l, c, "bad '{% endraw %}'");
      std::string text = src_.substr(pos_, b - pos_);
      if (strip_next) {
        size_t k = 0;
        while (k < text.size() && is_space(text[k])) ++k;
        text.erase(0, k);
        strip_next = false;
      }
      if (minus_open) {
        size_t k = text.size();
        while (k > 0 && is_space(text[k - 1])) --k;
        text.resize(k);
      }
      if (!text.empty()) out_.push_back({Tok::kText, text, l, c});
      advance_to(p + 2);
      finish_tag(minus_close, plus_close, strip_next, line_starting);
      return;
    }
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> lex_template(std::string source) { return Lexer(std::move(source)).run(); }

}  // namespace dsv3::tmpl
