// Tree-walking interpreter of the chat-template language with jinja2 semantics: scopes
// (a for loop opens one, if does not), the `loop` variable, namespace attribute assignment,
// Python operators, undefined values that print as '' but fail in arithmetic.
#include <cmath>
#include <unordered_map>

#include "template/ast.h"
#include "template/builtins.h"
#include "template/template.h"

namespace dsv3 {

using tmpl::Body;
using tmpl::CallArgs;
using tmpl::Expr;
using tmpl::List;
using tmpl::Node;
using tmpl::Value;

struct ChatTemplate::Impl {
  Body body;
};

namespace {

enum class Flow { kNormal, kBreak, kContinue };

[[noreturn]] void undefined_error(const Value& v) {
  fail(v.s.empty() ? std::string("value is undefined") : v.s);
}

int64_t as_int(const Value& v) { return v.kind == Value::Kind::kBool ? int64_t(v.b) : v.i; }

class Interpreter {
 public:
  explicit Interpreter(const Value& globals) {
    scopes_.emplace_back();
    for (const auto& [k, v] : *globals.dict) scopes_.back()[k] = v;
  }

  Flow exec(const Body& body, std::string& out) {
    for (const auto& n : body) {
      const Flow f = exec_node(*n, out);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

 private:
  using Scope = std::unordered_map<std::string, Value>;

  // Messages stay on one line: newlines from names or strings in the template are escaped.
  [[noreturn]] static void located(int line, int col, std::string msg) {
    for (size_t p = 0; (p = msg.find('\n', p)) != std::string::npos; p += 2) msg.replace(p, 1, "\\n");
    throw tmpl::LocatedError("chat template error at line " + std::to_string(line) + ", column " + std::to_string(col) +
                             ": " + msg);
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    if (tmpl::is_global_function(name)) return Value::function(name);
    return Value::undefined("'" + name + "' is undefined");
  }

  Value* lookup_ref(const std::string& name) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return &f->second;
    }
    return nullptr;
  }

  void assign(const std::vector<std::string>& targets, const Value& v) {
    if (targets.size() == 1) {
      scopes_.back()[targets[0]] = v;
      return;
    }
    const List items = tmpl::iterate(v);
    if (items.size() != targets.size())
      fail("cannot unpack ", items.size(), " values into ", targets.size(), " names");
    for (size_t k = 0; k < targets.size(); ++k) scopes_.back()[targets[k]] = items[k];
  }

  Flow exec_node(const Node& n, std::string& out) {
    try {
      return exec_node_inner(n, out);
    } catch (const tmpl::LocatedError&) {
      throw;
    } catch (const Error& e) {
      located(n.line, n.col, e.what());
    }
  }

  Flow exec_node_inner(const Node& n, std::string& out) {
    switch (n.type) {
      case Node::Type::kText: out += n.text; return Flow::kNormal;
      case Node::Type::kOutput: out += tmpl::to_str(eval(*n.expr)); return Flow::kNormal;
      case Node::Type::kIf:
        for (const auto& [cond, body] : n.branches)
          if (tmpl::truthy(eval(*cond))) return exec(body, out);
        return exec(n.else_body, out);
      case Node::Type::kFor: return exec_for(n, out);
      case Node::Type::kSet: {
        Value v = eval(*n.expr);
        if (!n.attr.empty()) {
          Value* ns = lookup_ref(n.targets[0]);
          if (!ns || ns->kind != Value::Kind::kNamespace)
            fail("cannot assign attribute on non-namespace object '", n.targets[0], "'");
          for (auto& kv : *ns->dict)
            if (kv.first == n.attr) {
              kv.second = std::move(v);
              return Flow::kNormal;
            }
          ns->dict->emplace_back(n.attr, std::move(v));
          return Flow::kNormal;
        }
        assign(n.targets, v);
        return Flow::kNormal;
      }
      case Node::Type::kSetBlock: {
        std::string captured;
        exec(n.body, captured);
        assign(n.targets, Value::string(std::move(captured)));
        return Flow::kNormal;
      }
      case Node::Type::kBreak: return Flow::kBreak;
      case Node::Type::kContinue: return Flow::kContinue;
      case Node::Type::kGeneration: return exec(n.body, out);
      case Node::Type::kMacro:
        macros_[n.text] = &n;
        scopes_.back()[n.text] = Value::function("macro:" + n.text);
        return Flow::kNormal;
    }
    return Flow::kNormal;
  }

  Flow exec_for(const Node& n, std::string& out) {
    List items = tmpl::iterate(eval(*n.expr));
    scopes_.emplace_back();
    if (n.filter) {
      List kept;
      for (const Value& item : items) {
        assign(n.targets, item);
        if (tmpl::truthy(eval(*n.filter))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const int64_t len = int64_t(items.size());
    for (int64_t k = 0; k < len; ++k) {
      assign(n.targets, items[size_t(k)]);
      tmpl::Dict loop = {
          {"index", Value::integer(k + 1)},
          {"index0", Value::integer(k)},
          {"revindex", Value::integer(len - k)},
          {"revindex0", Value::integer(len - k - 1)},
          {"first", Value::boolean(k == 0)},
          {"last", Value::boolean(k == len - 1)},
          {"length", Value::integer(len)},
          {"depth", Value::integer(1)},
          {"depth0", Value::integer(0)},
          {"previtem", k > 0 ? items[size_t(k - 1)] : Value::undefined("there is no previous item")},
          {"nextitem", k + 1 < len ? items[size_t(k + 1)] : Value::undefined("there is no next item")},
      };
      scopes_.back()["loop"] = Value::make_dict(std::move(loop));
      if (exec(n.body, out) == Flow::kBreak) break;
    }
    scopes_.pop_back();
    if (len == 0) return exec(n.else_body, out);
    return Flow::kNormal;
  }

  Value eval(const Expr& e) {
    try {
      return eval_inner(e);
    } catch (const tmpl::LocatedError&) {
      throw;
    } catch (const Error& err) {
      located(e.line, e.col, err.what());
    }
  }

  CallArgs eval_args(const Expr& e, size_t first) {
    CallArgs a;
    for (size_t k = first; k < e.args.size(); ++k) a.pos.push_back(eval(*e.args[k]));
    for (const auto& [k, x] : e.kwargs) a.kw.emplace_back(k, eval(*x));
    return a;
  }

  static Value getattr(const Value& obj, const std::string& name) {
    if (obj.is_undefined()) undefined_error(obj);
    if (obj.is_dict() || obj.kind == Value::Kind::kNamespace) {
      if (const Value* f = obj.find(name)) return *f;
      std::string hint = obj.is_dict() ? "'dict object'" : "'namespace'";
      hint += " has no attribute '";
      hint += name;
      hint += "'";
      return Value::undefined(std::move(hint));
    }
    return Value::undefined("'" + tmpl::type_name(obj) + " object' has no attribute '" + name + "'");
  }

  static Value getitem(const Value& obj, const Value& key) {
    if (obj.is_undefined()) undefined_error(obj);
    if (obj.is_dict() || obj.kind == Value::Kind::kNamespace) {
      if (key.is_string()) return getattr(obj, key.s);
      return Value::undefined("'dict object' has no attribute " + tmpl::repr(key));
    }
    if ((obj.is_list() || obj.is_string()) && (key.kind == Value::Kind::kInt || key.kind == Value::Kind::kBool)) {
      int64_t idx = as_int(key);
      if (obj.is_list()) {
        const int64_t n = int64_t(obj.list->size());
        if (idx < 0) idx += n;
        if (idx < 0 || idx >= n) return Value::undefined("'list object' has no element " + std::to_string(as_int(key)));
        return (*obj.list)[size_t(idx)];
      }
      const auto off = tmpl::utf8_offsets(obj.s);
      const int64_t n = int64_t(off.size()) - 1;
      if (idx < 0) idx += n;
      if (idx < 0 || idx >= n) return Value::undefined("'str object' has no element " + std::to_string(as_int(key)));
      return Value::string(obj.s.substr(off[size_t(idx)], off[size_t(idx) + 1] - off[size_t(idx)]));
    }
    if (key.is_string()) return getattr(obj, key.s);
    return Value::undefined("'" + tmpl::type_name(obj) + " object' has no element " + tmpl::repr(key));
  }

  // Python slice semantics (negative indices and steps, clamping).
  static Value slice(const Value& obj, const Value& a, const Value& b, const Value& c) {
    if (obj.is_undefined()) undefined_error(obj);
    auto opt = [](const Value& v, const char* what) -> std::optional<int64_t> {
      if (v.is_undefined() || v.is_none()) return std::nullopt;
      if (v.kind != Value::Kind::kInt && v.kind != Value::Kind::kBool)
        fail("slice ", what, " must be an integer or None, not ", tmpl::type_name(v));
      return as_int(v);
    };
    const auto step_opt = opt(c, "step");
    const int64_t step = step_opt.value_or(1);
    if (step == 0) fail("slice step cannot be zero");
    std::vector<size_t> off;
    int64_t n;
    if (obj.is_list()) {
      n = int64_t(obj.list->size());
    } else if (obj.is_string()) {
      off = tmpl::utf8_offsets(obj.s);
      n = int64_t(off.size()) - 1;
    } else {
      fail("'", tmpl::type_name(obj), "' object is not subscriptable");
    }
    auto norm = [&](std::optional<int64_t> v, int64_t def) {
      if (!v) return def;
      int64_t x = *v;
      if (x < 0) x += n;
      if (step > 0) return std::clamp<int64_t>(x, 0, n);
      return std::clamp<int64_t>(x, -1, n - 1);
    };
    const int64_t start = norm(opt(a, "start"), step > 0 ? 0 : n - 1);
    const int64_t stop = norm(opt(b, "stop"), step > 0 ? n : -1);
    List items;
    std::string text;
    for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
      if (obj.is_list()) items.push_back((*obj.list)[size_t(k)]);
      else text += obj.s.substr(off[size_t(k)], off[size_t(k) + 1] - off[size_t(k)]);
    }
    return obj.is_list() ? Value::make_list(std::move(items)) : Value::string(std::move(text));
  }

  static Value arith(const std::string& op, const Value& l, const Value& r) {
    if (l.is_undefined()) undefined_error(l);
    if (r.is_undefined()) undefined_error(r);
    auto type_err = [&]() -> Value {
      fail("unsupported operand type(s) for ", op, ": '", tmpl::type_name(l), "' and '", tmpl::type_name(r), "'");
    };
    if (l.is_number() && r.is_number()) {
      const bool flt = l.kind == Value::Kind::kFloat || r.kind == Value::Kind::kFloat;
      const double x = l.as_double(), y = r.as_double();
      const int64_t a = as_int(l), b = as_int(r);
      if (op == "+") return flt ? Value::number(x + y) : Value::integer(a + b);
      if (op == "-") return flt ? Value::number(x - y) : Value::integer(a - b);
      if (op == "*") return flt ? Value::number(x * y) : Value::integer(a * b);
      if (op == "/") {
        if (y == 0) fail("division by zero");
        return Value::number(x / y);
      }
      if (op == "//" || op == "%") {
        if (flt ? y == 0 : b == 0) fail("integer division or modulo by zero");
        if (flt) {
          const double q = std::floor(x / y);
          return op == "//" ? Value::number(q) : Value::number(x - q * y);
        }
        int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
        return op == "//" ? Value::integer(q) : Value::integer(a - q * b);
      }
      if (op == "**") {
        if (!flt && b >= 0) {
          int64_t p = 1;
          for (int64_t k = 0; k < b; ++k) p *= a;
          return Value::integer(p);
        }
        return Value::number(std::pow(x, y));
      }
    }
    if (op == "+") {
      if (l.is_string() && r.is_string()) return Value::string(l.s + r.s);
      if (l.is_list() && r.is_list()) {
        List items = *l.list;
        items.insert(items.end(), r.list->begin(), r.list->end());
        return Value::make_list(std::move(items));
      }
    }
    if (op == "*") {
      const Value* seq = l.is_string() || l.is_list() ? &l : r.is_string() || r.is_list() ? &r : nullptr;
      const Value* cnt = seq == &l ? &r : &l;
      if (seq && (cnt->kind == Value::Kind::kInt || cnt->kind == Value::Kind::kBool)) {
        const int64_t times = std::max<int64_t>(0, as_int(*cnt));
        if (seq->is_string()) {
          std::string s;
          for (int64_t k = 0; k < times; ++k) s += seq->s;
          return Value::string(std::move(s));
        }
        List items;
        for (int64_t k = 0; k < times; ++k) items.insert(items.end(), seq->list->begin(), seq->list->end());
        return Value::make_list(std::move(items));
      }
    }
    return type_err();
  }

  Value call(const Expr& e) {
    const Expr& callee = *e.args[0];
    if (callee.type == Expr::Type::kGetattr) {
      const Value obj = eval(*callee.args[0]);
      if (obj.is_undefined()) undefined_error(obj);
      if (obj.is_string() || obj.is_dict()) {
        const CallArgs args = eval_args(e, 1);
        if (auto r = tmpl::call_method(obj, callee.name, args)) return *r;
        if (obj.is_string()) fail("'str object' has no attribute '", callee.name, "'");
      }
      return call_value(getattr(obj, callee.name), e);
    }
    return call_value(eval(callee), e);
  }

  Value call_value(const Value& f, const Expr& e) {
    if (f.kind != Value::Kind::kFunction) {
      if (f.is_undefined()) undefined_error(f);
      fail("'", tmpl::type_name(f), "' object is not callable");
    }
    const CallArgs args = eval_args(e, 1);
    if (f.s.rfind("macro:", 0) == 0) return call_macro(f.s.substr(6), args);
    if (auto r = tmpl::call_global(f.s, args)) return *r;
    fail("'", f.s, "' is not callable");
  }

  Value call_macro(const std::string& name, const CallArgs& args) {
    auto it = macros_.find(name);
    if (it == macros_.end()) fail("macro '", name, "' is undefined");
    const Node& m = *it->second;
    if (args.pos.size() > m.targets.size()) fail("macro '", name, "' takes at most ", m.targets.size(), " arguments");
    Scope scope;
    for (size_t k = 0; k < m.targets.size(); ++k) {
      Value v = args.get(k, m.targets[k].c_str());
      if (v.is_undefined() && m.param_defaults[k]) v = eval(*m.param_defaults[k]);
      scope[m.targets[k]] = v;
    }
    scopes_.push_back(std::move(scope));
    std::string out;
    exec(m.body, out);
    scopes_.pop_back();
    return Value::string(std::move(out));
  }

  Value eval_inner(const Expr& e) {
    switch (e.type) {
      case Expr::Type::kLiteral: return e.literal;
      case Expr::Type::kName: return lookup(e.name);
      case Expr::Type::kList:
      case Expr::Type::kTuple: {
        List items;
        for (const auto& a : e.args) items.push_back(eval(*a));
        return e.type == Expr::Type::kTuple ? Value::make_tuple(std::move(items)) : Value::make_list(std::move(items));
      }
      case Expr::Type::kDict: {
        tmpl::Dict items;
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          const Value key = eval(*e.args[k]);
          if (!key.is_string()) fail("dict keys must be strings here, not ", tmpl::type_name(key));
          Value v = eval(*e.args[k + 1]);
          bool replaced = false;
          for (auto& kv : items)
            if (kv.first == key.s) {
              kv.second = v;
              replaced = true;
            }
          if (!replaced) items.emplace_back(key.s, std::move(v));
        }
        return Value::make_dict(std::move(items));
      }
      case Expr::Type::kGetattr: return getattr(eval(*e.args[0]), e.name);
      case Expr::Type::kGetitem: return getitem(eval(*e.args[0]), eval(*e.args[1]));
      case Expr::Type::kSlice: {
        const Value obj = eval(*e.args[0]);
        Value parts[3];
        for (int k = 0; k < 3; ++k)
          if (e.args[size_t(k) + 1]) parts[k] = eval(*e.args[size_t(k) + 1]);
        return slice(obj, parts[0], parts[1], parts[2]);
      }
      case Expr::Type::kCall: return call(e);
      case Expr::Type::kFilter: {
        const Value v = eval(*e.args[0]);
        return tmpl::apply_filter(e.name, v, eval_args(e, 1));
      }
      case Expr::Type::kTest: {
        if (!tmpl::has_test(e.name)) fail("no test named '", e.name, "'");
        const Value v = eval(*e.args[0]);
        return Value::boolean(tmpl::apply_test(e.name, v, eval_args(e, 1)) != e.negated);
      }
      case Expr::Type::kUnary: {
        const Value v = eval(*e.args[0]);
        if (e.name == "not") return Value::boolean(!tmpl::truthy(v));
        if (v.is_undefined()) undefined_error(v);
        if (!v.is_number()) fail("bad operand type for unary ", e.name, ": '", tmpl::type_name(v), "'");
        if (e.name == "+") return v.kind == Value::Kind::kBool ? Value::integer(v.b) : v;
        return v.kind == Value::Kind::kFloat ? Value::number(-v.f) : Value::integer(-as_int(v));
      }
      case Expr::Type::kBinary: {
        if (e.name == "and") {
          Value l = eval(*e.args[0]);
          return tmpl::truthy(l) ? eval(*e.args[1]) : l;
        }
        if (e.name == "or") {
          Value l = eval(*e.args[0]);
          return tmpl::truthy(l) ? l : eval(*e.args[1]);
        }
        const Value l = eval(*e.args[0]), r = eval(*e.args[1]);
        if (e.name == "~") return Value::string(tmpl::to_str(l) + tmpl::to_str(r));
        return arith(e.name, l, r);
      }
      case Expr::Type::kCompare: {
        Value l = eval(*e.args[0]);
        for (size_t k = 0; k < e.ops.size(); ++k) {
          Value r = eval(*e.args[k + 1]);
          const std::string& op = e.ops[k];
          bool ok;
          if (op == "==") ok = tmpl::equal(l, r);
          else if (op == "!=") ok = !tmpl::equal(l, r);
          else if (op == "<") ok = tmpl::less(l, r);
          else if (op == ">") ok = tmpl::less(r, l);
          else if (op == "<=") ok = !tmpl::less(r, l);
          else if (op == ">=") ok = !tmpl::less(l, r);
          else if (op == "in") ok = tmpl::contains(r, l);
          else ok = !tmpl::contains(r, l);
          if (!ok) return Value::boolean(false);
          l = std::move(r);
        }
        return Value::boolean(true);
      }
      case Expr::Type::kCond:
        if (tmpl::truthy(eval(*e.args[1]))) return eval(*e.args[0]);
        return e.args[2] ? eval(*e.args[2]) : Value::undefined();
    }
    return Value::undefined();
  }

  std::vector<Scope> scopes_;
  std::unordered_map<std::string, const Node*> macros_;
};

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source) : impl_(std::make_unique<Impl>()) {
  impl_->body = tmpl::parse_template(source);
}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::ordered_json& variables) const {
  DSV3_CHECK(variables.is_object(), "chat template: variables must be a JSON object");
  Interpreter interp(Value::from_json(variables));
  std::string out;
  interp.exec(impl_->body, out);
  return out;
}

std::string apply_chat_template(const ChatTemplate& tmpl, const nlohmann::ordered_json& request, const std::string& bos_token,
                                const std::string& eos_token) {
  DSV3_CHECK(request.is_object(), "chat request must be a JSON object");
  DSV3_CHECK(request.contains("messages") && request["messages"].is_array(),
             "chat request: \"messages\" must be a list of message objects");
  for (const auto& m : request["messages"])
    DSV3_CHECK(m.is_object(), "chat request: every message must be a JSON object, got ", m.dump());
  nlohmann::ordered_json vars = request;
  if (!vars.contains("tools")) vars["tools"] = nullptr;
  if (!vars.contains("documents")) vars["documents"] = nullptr;
  if (!vars.contains("add_generation_prompt")) vars["add_generation_prompt"] = false;
  vars["bos_token"] = bos_token;
  vars["eos_token"] = eos_token;
  return tmpl.render(vars);
}

}  // namespace dsv3
