// Recursive-descent parser for the Jinja subset (lexer.cpp makes the tokens). The expression
// grammar follows jinja2's parser; precedence from lowest: `x if c else y`, or, and, not,
// comparisons/in, + -, ~, * / // %, **, unary - +, then postfix . [] () and filters | / tests `is`.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "core/error.h"
#include "template/ast.h"
#include "template/lexer.h"

namespace dsv3::tmpl {

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Body parse_all() {
    Body body = parse_body({});
    if (cur().type != Tok::kEof) error("unexpected '" + cur().text + "'");
    return body;
  }

 private:
  const Token& cur() const { return t_[p_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  [[noreturn]] void error(const std::string& msg) const { syntax_error(cur().line, cur().col, msg); }
  bool is_op(const char* op) const { return cur().type == Tok::kOp && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::kName && cur().text == n; }
  void expect_op(const char* op) {
    if (!is_op(op)) error(std::string("expected '") + op + "', got " + describe(cur()));
    ++p_;
  }
  std::string expect_name() {
    if (cur().type != Tok::kName) error("expected a name, got " + describe(cur()));
    return t_[p_++].text;
  }
  void expect_block_end() {
    if (cur().type != Tok::kBlockEnd) error("expected end of statement '%}', got " + describe(cur()));
    ++p_;
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::kEof: return "end of template";
      case Tok::kBlockEnd: return "'%}'";
      case Tok::kVarEnd: return "'}}'";
      case Tok::kString: return "a string";
      case Tok::kText: return "template text";
      default: return "'" + t.text + "'";
    }
  }

  // Parses nodes until a block tag whose name is in `stops` (left unconsumed: the caller
  // sees BLOCK_BEGIN name) or the end of input.
  Body parse_body(const std::vector<std::string>& stops) {
    Body body;
    for (;;) {
      const Token& t = cur();
      if (t.type == Tok::kEof) {
        if (!stops.empty()) error("unexpected end of template, expected '{% " + stops.back() + " %}'");
        return body;
      }
      if (t.type == Tok::kText) {
        auto n = node(Node::Type::kText, t);
        n->text = t.text;
        body.push_back(std::move(n));
        ++p_;
      } else if (t.type == Tok::kVarBegin) {
        auto n = node(Node::Type::kOutput, t);
        ++p_;
        n->expr = parse_expr();
        if (cur().type != Tok::kVarEnd) error("expected end of print statement '}}', got " + describe(cur()));
        ++p_;
        body.push_back(std::move(n));
      } else if (t.type == Tok::kBlockBegin) {
        const Token& name = peek();
        if (name.type != Tok::kName) {
          ++p_;
          error("expected a statement name, got " + describe(cur()));
        }
        for (const auto& s : stops)
          if (name.text == s) return body;
        static const char* const kClosers[] = {"endif", "elif", "else", "endfor", "endset", "endmacro", "endgeneration", "endraw"};
        for (const char* closer : kClosers)
          if (name.text == closer) {
            ++p_;
            error("unexpected '{% " + name.text + " %}'" + (stops.empty() ? std::string() : ", expected '{% " + stops.back() + " %}'"));
          }
        body.push_back(parse_statement());
      } else {
        error("unexpected " + describe(t));
      }
    }
  }

  std::unique_ptr<Node> node(Node::Type type, const Token& at) {
    auto n = std::make_unique<Node>();
    n->type = type;
    n->line = at.line;
    n->col = at.col;
    return n;
  }

  void expect_tag(const char* name) {
    if (cur().type != Tok::kBlockBegin || peek().text != name) error(std::string("expected '{% ") + name + " %}'");
    p_ += 2;
  }

  std::unique_ptr<Node> parse_statement() {
    ++p_;  // BLOCK_BEGIN
    const Token& kw = cur();
    const std::string name = kw.text;
    ++p_;
    if (name == "if") {
      auto n = node(Node::Type::kIf, kw);
      ExprPtr cond = parse_expr();
      expect_block_end();
      for (;;) {
        Body b = parse_body({"elif", "else", "endif"});
        n->branches.emplace_back(std::move(cond), std::move(b));
        const std::string next = peek().text;
        p_ += 2;
        if (next == "elif") {
          cond = parse_expr();
          expect_block_end();
          continue;
        }
        if (next == "else") {
          expect_block_end();
          n->else_body = parse_body({"endif"});
          expect_tag("endif");
        }
        expect_block_end();
        return n;
      }
    }
    if (name == "for") {
      auto n = node(Node::Type::kFor, kw);
      n->targets.push_back(expect_name());
      while (is_op(",")) {
        ++p_;
        n->targets.push_back(expect_name());
      }
      if (!is_name("in")) error("expected 'in' in for loop, got " + describe(cur()));
      ++p_;
      n->expr = parse_ternary(false);
      if (is_name("if")) {
        ++p_;
        n->filter = parse_ternary(true);
      }
      if (is_name("recursive")) error("recursive for loops are not supported");
      expect_block_end();
      n->body = parse_body({"else", "endfor"});
      if (peek().text == "else") {
        p_ += 2;
        expect_block_end();
        n->else_body = parse_body({"endfor"});
      }
      expect_tag("endfor");
      expect_block_end();
      return n;
    }
    if (name == "set") {
      auto n = node(Node::Type::kSet, kw);
      n->targets.push_back(expect_name());
      if (is_op(".")) {
        ++p_;
        n->attr = expect_name();
      } else {
        while (is_op(",")) {
          ++p_;
          n->targets.push_back(expect_name());
        }
      }
      if (cur().type == Tok::kBlockEnd && n->attr.empty() && n->targets.size() == 1) {
        ++p_;
        n->type = Node::Type::kSetBlock;
        n->body = parse_body({"endset"});
        expect_tag("endset");
        expect_block_end();
        return n;
      }
      expect_op("=");
      n->expr = parse_tuple_or_expr();
      expect_block_end();
      return n;
    }
    if (name == "break" || name == "continue") {
      auto n = node(name == "break" ? Node::Type::kBreak : Node::Type::kContinue, kw);
      expect_block_end();
      return n;
    }
    if (name == "generation") {
      auto n = node(Node::Type::kGeneration, kw);
      expect_block_end();
      n->body = parse_body({"endgeneration"});
      expect_tag("endgeneration");
      expect_block_end();
      return n;
    }
    if (name == "macro") {
      auto n = node(Node::Type::kMacro, kw);
      n->text = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        n->targets.push_back(expect_name());
        if (is_op("=")) {
          ++p_;
          n->param_defaults.push_back(parse_expr());
        } else {
          n->param_defaults.push_back(nullptr);
        }
        if (!is_op(")")) expect_op(",");
      }
      ++p_;
      expect_block_end();
      n->body = parse_body({"endmacro"});
      expect_tag("endmacro");
      expect_block_end();
      return n;
    }
    p_ -= 1;
    error("unknown or unsupported statement '" + name + "'");
  }

  ExprPtr make(Expr::Type type, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->type = type;
    e->line = at.line;
    e->col = at.col;
    return e;
  }

  // `a, b` at statement level (set x = a, b) builds a tuple.
  ExprPtr parse_tuple_or_expr() {
    const Token& at = cur();
    ExprPtr first = parse_expr();
    if (!is_op(",")) return first;
    auto t = make(Expr::Type::kTuple, at);
    t->args.push_back(std::move(first));
    while (is_op(",")) {
      ++p_;
      if (cur().type == Tok::kBlockEnd) break;
      t->args.push_back(parse_expr());
    }
    return t;
  }

  ExprPtr parse_expr() { return parse_ternary(true); }

  ExprPtr parse_ternary(bool with_cond) {
    ExprPtr e = parse_or();
    while (with_cond && is_name("if")) {
      const Token& at = cur();
      ++p_;
      auto c = make(Expr::Type::kCond, at);
      c->args.push_back(std::move(e));
      c->args.push_back(parse_or());
      if (is_name("else")) {
        ++p_;
        c->args.push_back(parse_ternary(true));
      } else {
        c->args.push_back(nullptr);
      }
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(const Token& at, const std::string& op, ExprPtr l, ExprPtr r) {
    auto b = make(Expr::Type::kBinary, at);
    b->name = op;
    b->args.push_back(std::move(l));
    b->args.push_back(std::move(r));
    return b;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const Token& at = cur();
      ++p_;
      e = binary(at, "or", std::move(e), parse_and());
    }
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const Token& at = cur();
      ++p_;
      e = binary(at, "and", std::move(e), parse_not());
    }
    return e;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      auto u = make(Expr::Type::kUnary, cur());
      ++p_;
      u->name = "not";
      u->args.push_back(parse_not());
      return u;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    const Token& at = cur();
    ExprPtr e = parse_math1();
    ExprPtr cmp;
    for (;;) {
      std::string op;
      if (cur().type == Tok::kOp && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                     cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
        op = cur().text;
        ++p_;
      } else if (is_name("in")) {
        op = "in";
        ++p_;
      } else if (is_name("not") && peek().type == Tok::kName && peek().text == "in") {
        op = "notin";
        p_ += 2;
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(Expr::Type::kCompare, at);
        cmp->args.push_back(std::move(e));
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(e);
  }
  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = cur();
      ++p_;
      e = binary(at, at.text, std::move(e), parse_concat());
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const Token& at = cur();
      ++p_;
      e = binary(at, "~", std::move(e), parse_math2());
    }
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = cur();
      ++p_;
      e = binary(at, at.text, std::move(e), parse_pow());
    }
    return e;
  }
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const Token& at = cur();
      ++p_;
      e = binary(at, "**", std::move(e), parse_unary(true));
    }
    return e;
  }
  ExprPtr parse_unary(bool with_filter) {
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = make(Expr::Type::kUnary, cur());
      e->name = cur().text;
      ++p_;
      e->args.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    switch (t.type) {
      case Tok::kName: {
        ++p_;
        auto e = make(Expr::Type::kLiteral, t);
        if (t.text == "true" || t.text == "True") e->literal = Value::boolean(true);
        else if (t.text == "false" || t.text == "False") e->literal = Value::boolean(false);
        else if (t.text == "none" || t.text == "None") e->literal = Value::none();
        else {
          e->type = Expr::Type::kName;
          e->name = t.text;
        }
        return e;
      }
      case Tok::kString: {
        std::string s;
        while (cur().type == Tok::kString) s += t_[p_++].text;  // adjacent literals concatenate
        auto e = make(Expr::Type::kLiteral, t);
        e->literal = Value::string(std::move(s));
        return e;
      }
      case Tok::kInt: {
        ++p_;
        auto e = make(Expr::Type::kLiteral, t);
        errno = 0;
        const long long v = std::strtoll(t.text.c_str(), nullptr, 10);
        if (errno == ERANGE) e->literal = Value::number(std::strtod(t.text.c_str(), nullptr));
        else e->literal = Value::integer(v);
        return e;
      }
      case Tok::kFloat: {
        ++p_;
        auto e = make(Expr::Type::kLiteral, t);
        e->literal = Value::number(std::strtod(t.text.c_str(), nullptr));
        return e;
      }
      case Tok::kOp:
        if (t.text == "(") {
          ++p_;
          if (is_op(")")) {
            ++p_;
            return make(Expr::Type::kTuple, t);
          }
          ExprPtr first = parse_expr();
          if (is_op(")")) {
            ++p_;
            return first;
          }
          auto tup = make(Expr::Type::kTuple, t);
          tup->args.push_back(std::move(first));
          while (is_op(",")) {
            ++p_;
            if (is_op(")")) break;
            tup->args.push_back(parse_expr());
          }
          expect_op(")");
          return tup;
        }
        if (t.text == "[") {
          ++p_;
          auto l = make(Expr::Type::kList, t);
          while (!is_op("]")) {
            l->args.push_back(parse_expr());
            if (!is_op("]")) expect_op(",");
          }
          ++p_;
          return l;
        }
        if (t.text == "{") {
          ++p_;
          auto d = make(Expr::Type::kDict, t);
          while (!is_op("}")) {
            d->args.push_back(parse_expr());
            expect_op(":");
            d->args.push_back(parse_expr());
            if (!is_op("}")) expect_op(",");
          }
          ++p_;
          return d;
        }
        break;
      default: break;
    }
    error("unexpected " + describe(t));
  }

  void parse_call_args(Expr& call) {
    expect_op("(");
    while (!is_op(")")) {
      if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().text == "=") {
        std::string key = t_[p_].text;
        p_ += 2;
        call.kwargs.emplace_back(std::move(key), parse_expr());
      } else {
        if (!call.kwargs.empty()) error("positional argument after keyword argument");
        call.args.push_back(parse_expr());
      }
      if (!is_op(")")) expect_op(",");
    }
    ++p_;
  }

  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      const Token& at = cur();
      if (is_op(".")) {
        ++p_;
        auto g = make(Expr::Type::kGetattr, at);
        if (cur().type == Tok::kInt) {
          g->type = Expr::Type::kGetitem;
          g->args.push_back(std::move(e));
          auto idx = make(Expr::Type::kLiteral, cur());
          idx->literal = Value::integer(std::strtoll(cur().text.c_str(), nullptr, 10));
          ++p_;
          g->args.push_back(std::move(idx));
        } else {
          g->name = expect_name();
          g->args.push_back(std::move(e));
        }
        e = std::move(g);
      } else if (is_op("[")) {
        ++p_;
        ExprPtr parts[3];
        bool slice = false;
        for (int k = 0; k < 3; ++k) {
          if (!is_op(":") && !is_op("]")) parts[k] = parse_expr();
          if (k < 2 && is_op(":")) {
            slice = true;
            ++p_;
          } else {
            break;
          }
        }
        expect_op("]");
        auto g = make(slice ? Expr::Type::kSlice : Expr::Type::kGetitem, at);
        g->args.push_back(std::move(e));
        if (!slice && !parts[0]) syntax_error(at.line, at.col, "empty subscript");
        for (int k = 0; k < (slice ? 3 : 1); ++k) g->args.push_back(std::move(parts[k]));
        e = std::move(g);
      } else if (is_op("(")) {
        auto c = make(Expr::Type::kCall, at);
        c->args.push_back(std::move(e));
        parse_call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    for (;;) {
      if (is_op("|")) {
        ++p_;
        const Token& at = cur();
        auto f = make(Expr::Type::kFilter, at);
        f->name = expect_name();
        f->args.push_back(std::move(e));
        if (is_op("(")) parse_call_args(*f);
        e = std::move(f);
      } else if (is_name("is")) {
        ++p_;
        const Token& at = cur();
        auto t = make(Expr::Type::kTest, at);
        if (is_name("not")) {
          t->negated = true;
          ++p_;
        }
        t->name = expect_name();
        t->args.push_back(std::move(e));
        if (is_op("(")) {
          parse_call_args(*t);
        } else if ((cur().type == Tok::kName || cur().type == Tok::kString || cur().type == Tok::kInt ||
                    cur().type == Tok::kFloat || is_op("(") || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and")) {
          // `x is divisibleby 3`, `x is sameas none`: one argument without parentheses.
          t->args.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else if (is_op("(")) {
        auto c = make(Expr::Type::kCall, cur());
        c->args.push_back(std::move(e));
        parse_call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  std::vector<Token> t_;
  size_t p_ = 0;
};

}  // namespace

Body parse_template(const std::string& source) {
  // jinja2 normalises \r\n and \r to \n and drops one trailing newline
  // (keep_trailing_newline=False).
  std::string src;
  src.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      src += '\n';
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      src += source[k];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  Parser parser(lex_template(std::move(src)));
  return parser.parse_all();
}

}  // namespace dsv3::tmpl
