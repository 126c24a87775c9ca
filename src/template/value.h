// Values of the chat-template language (a Jinja subset with Python jinja2 semantics, as
// Hugging Face transformers renders `chat_template`): undefined, none, bool, int, float,
// string, list, dict (insertion-ordered, string keys), namespace (the one mutable object)
// and built-in functions. Lists and dicts are immutable once built (transformers uses an
// ImmutableSandboxedEnvironment), so copies share them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsv3::tmpl {

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;

struct Value {
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kFunction };
  Kind kind = Kind::kUndefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // string text, function name, or the name an undefined came from
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;  // dict items or namespace attributes
  bool tuple = false;          // a list that Python would hold as a tuple (prints with parentheses)

  static Value undefined(std::string hint = {}) { Value v; v.s = std::move(hint); return v; }
  static Value none() { Value v; v.kind = Kind::kNone; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::kBool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::kInt; v.i = x; return v; }
  static Value number(double x) { Value v; v.kind = Kind::kFloat; v.f = x; return v; }
  static Value string(std::string x) { Value v; v.kind = Kind::kString; v.s = std::move(x); return v; }
  static Value make_list(List items = {});
  static Value make_tuple(List items) { Value v = make_list(std::move(items)); v.tuple = true; return v; }
  static Value make_dict(Dict items = {});
  static Value make_namespace(Dict attrs = {});
  static Value function(std::string name) { Value v; v.kind = Kind::kFunction; v.s = std::move(name); return v; }
  // JSON objects keep their key order (parse input with nlohmann::ordered_json).
  static Value from_json(const nlohmann::ordered_json& j);

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat || kind == Kind::kBool; }
  bool is_list() const { return kind == Kind::kList; }
  bool is_dict() const { return kind == Kind::kDict; }

  // Looks `key` up in a dict or namespace; nullptr when absent.
  const Value* find(std::string_view key) const;
  double as_double() const { return kind == Kind::kFloat ? f : double(kind == Kind::kBool ? int64_t(b) : i); }
};

// Python's bool(x).
bool truthy(const Value& v);
// Python's str(x) (what {{ x }} prints): None, True, 1.5, ['a', 1], {'k': 'v'}.
std::string to_str(const Value& v);
// Python's repr(x).
std::string repr(const Value& v);
// json.dumps(x, ensure_ascii=False, indent=..., separators=(", ", ": "), sort_keys=...) as
// transformers' `tojson` filter; indent < 0 means None.
std::string to_json_text(const Value& v, int indent = -1, bool sort_keys = false);
// Python ==.
bool equal(const Value& a, const Value& b);
// Python <: numbers with numbers, strings with strings, lists element-wise; else throws.
bool less(const Value& a, const Value& b);
// The kind's name in Python terms for error messages ("str", "int", "dict", ...).
std::string type_name(const Value& v);
// Python repr(float): shortest round-trip digits, exponent form below 1e-4 and from 1e16.
std::string format_float(double x);

// Unicode code points of UTF-8 text (Python strings index by code point). Invalid bytes
// count as one code point each.
std::vector<size_t> utf8_offsets(const std::string& s);  // start byte of every code point, plus size()

}  // namespace dsv3::tmpl
