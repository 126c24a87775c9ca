#include "template/builtins.h"

#include <algorithm>
#include <cmath>
#include <cctype>
#include <ctime>
#include <set>

namespace dsv3::tmpl {

Value CallArgs::get(size_t idx, const char* name, Value def) const {
  if (idx < pos.size()) return pos[idx];
  for (const auto& [k, v] : kw)
    if (k == name) return v;
  return def;
}

bool CallArgs::has(size_t idx, const char* name) const {
  if (idx < pos.size()) return true;
  for (const auto& kv : kw)
    if (kv.first == name) return true;
  return false;
}

namespace {

[[noreturn]] void undefined_error(const Value& v) {
  fail(v.s.empty() ? std::string("value is undefined") : v.s);
}

uint32_t decode_cp(const std::string& s, size_t a, size_t b) {
  const unsigned char c = s[a];
  if (b - a == 1) return c;
  uint32_t cp = c & (b - a == 2 ? 0x1F : b - a == 3 ? 0x0F : 0x07);
  for (size_t k = a + 1; k < b; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[k]) & 0x3F);
  return cp;
}

// Python's str.isspace() code points.
bool is_py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// str.strip / lstrip / rstrip with chars=None (whitespace) or a set of characters.
std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  const auto off = utf8_offsets(s);
  std::set<uint32_t> set;
  const bool ws = chars.is_none() || chars.is_undefined();
  if (!ws) {
    if (!chars.is_string()) fail("strip arg must be None or str");
    const auto co = utf8_offsets(chars.s);
    for (size_t k = 0; k + 1 < co.size(); ++k) set.insert(decode_cp(chars.s, co[k], co[k + 1]));
  }
  auto drop = [&](size_t k) {
    const uint32_t cp = decode_cp(s, off[k], off[k + 1]);
    return ws ? is_py_space(cp) : set.count(cp) > 0;
  };
  size_t a = 0, b = off.size() - 1;
  if (left)
    while (a < b && drop(a)) ++a;
  if (right)
    while (b > a && drop(b - 1)) --b;
  return s.substr(off[a], off[b] - off[a]);
}

List split(const std::string& s, const Value& sep, int64_t maxsplit, bool from_right) {
  List out;
  if (sep.is_none() || sep.is_undefined()) {
    // Runs of whitespace separate; leading/trailing whitespace gives no empty items.
    const auto off = utf8_offsets(s);
    std::vector<std::pair<size_t, size_t>> words;  // code point ranges
    size_t k = 0, n = off.size() - 1;
    while (k < n) {
      while (k < n && is_py_space(decode_cp(s, off[k], off[k + 1]))) ++k;
      if (k >= n) break;
      size_t e = k;
      while (e < n && !is_py_space(decode_cp(s, off[e], off[e + 1]))) ++e;
      words.emplace_back(k, e);
      k = e;
    }
    if (maxsplit < 0 || size_t(maxsplit) + 1 >= words.size()) {
      for (auto [a, b] : words) out.push_back(Value::string(s.substr(off[a], off[b] - off[a])));
      return out;
    }
    const size_t m = size_t(maxsplit);
    if (!from_right) {
      for (size_t w = 0; w < m; ++w) out.push_back(Value::string(s.substr(off[words[w].first], off[words[w].second] - off[words[w].first])));
      const std::string rest = s.substr(off[words[m].first]);
      out.push_back(Value::string(strip(rest, Value::none(), false, true)));
    } else {
      const size_t first = words.size() - m;
      const std::string head = s.substr(0, off[words[first - 1].second]);
      out.push_back(Value::string(strip(head, Value::none(), true, false)));
      for (size_t w = first; w < words.size(); ++w)
        out.push_back(Value::string(s.substr(off[words[w].first], off[words[w].second] - off[words[w].first])));
    }
    return out;
  }
  if (!sep.is_string()) fail("must be str or None, not ", type_name(sep));
  const std::string& d = sep.s;
  if (d.empty()) fail("empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    size_t p = 0;
    int64_t n = 0;
    for (;;) {
      const size_t q = (maxsplit < 0 || n < maxsplit) ? s.find(d, p) : std::string::npos;
      if (q == std::string::npos) {
        parts.push_back(s.substr(p));
        break;
      }
      parts.push_back(s.substr(p, q - p));
      p = q + d.size();
      ++n;
    }
  } else {
    size_t end = s.size();
    int64_t n = 0;
    for (;;) {
      size_t q = std::string::npos;
      if ((maxsplit < 0 || n < maxsplit) && end >= d.size()) q = s.rfind(d, end - d.size());
      if (q == std::string::npos) {
        parts.push_back(s.substr(0, end));
        break;
      }
      parts.push_back(s.substr(q + d.size(), end - q - d.size()));
      end = q;
      ++n;
    }
    std::reverse(parts.begin(), parts.end());
  }
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return out;
}

std::string replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
  std::string out;
  int64_t n = 0;
  if (old.empty()) {
    const auto off = utf8_offsets(s);
    for (size_t k = 0; k + 1 < off.size(); ++k) {
      if (count < 0 || n < count) {
        out += repl;
        ++n;
      }
      out += s.substr(off[k], off[k + 1] - off[k]);
    }
    if (count < 0 || n < count) out += repl;
    return out;
  }
  size_t p = 0;
  for (;;) {
    const size_t q = (count < 0 || n < count) ? s.find(old, p) : std::string::npos;
    if (q == std::string::npos) break;
    out += s.substr(p, q - p) + repl;
    p = q + old.size();
    ++n;
  }
  return out + s.substr(p);
}

// Case mapping is ASCII-only (see README: non-ASCII letters keep their case).
std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = char(c - 32);
  return s;
}
std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = char(c + 32);
  return s;
}
bool is_alpha_byte(unsigned char c) { return std::isalpha(c) || c >= 0x80; }
std::string title(std::string s) {
  bool prev_cased = false;
  for (char& c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      c = char(prev_cased ? std::tolower(u) : std::toupper(u));
      prev_cased = true;
    } else {
      prev_cased = is_alpha_byte(u) && u >= 0x80 ? prev_cased : false;
    }
  }
  return s;
}
std::string capitalize(std::string s) {
  s = lower(std::move(s));
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = char(s[0] - 32);
  return s;
}

int64_t length(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return int64_t(utf8_offsets(v.s).size() - 1);
    case Value::Kind::kList: return int64_t(v.list->size());
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: return int64_t(v.dict->size());
    default: fail("object of type '", type_name(v), "' has no len()");
  }
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// jinja2's attribute lookup for filters (selectattr, map, sort, join): dotted path, dict
// keys, integer path parts index lists.
Value get_attribute(const Value& v, const std::string& path) {
  Value cur = v;
  size_t p = 0;
  while (p <= path.size()) {
    size_t q = path.find('.', p);
    if (q == std::string::npos) q = path.size();
    const std::string part = path.substr(p, q - p);
    if (cur.is_dict() || cur.kind == Value::Kind::kNamespace) {
      const Value* f = cur.find(part);
      cur = f ? *f : Value::undefined("'dict object' has no attribute '" + part + "'");
    } else if (cur.is_list() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit)) {
      const size_t idx = std::stoul(part);
      cur = idx < cur.list->size() ? (*cur.list)[idx] : Value::undefined();
    } else {
      cur = Value::undefined("'" + type_name(cur) + " object' has no attribute '" + part + "'");
    }
    p = q + 1;
  }
  return cur;
}

Value to_list(const Value& v) { return Value::make_list(iterate(v)); }

int64_t to_int(const Value& v) {
  if (v.kind == Value::Kind::kInt) return v.i;
  if (v.kind == Value::Kind::kBool) return v.b;
  if (v.kind == Value::Kind::kFloat) return int64_t(v.f);
  fail("expected an integer, got ", type_name(v));
}

// select/reject/selectattr/rejectattr: args[0] (after the attribute for *attr) names the test.
Value select_items(const Value& seq, const CallArgs& args, bool use_attr, bool keep) {
  List out;
  const size_t t0 = use_attr ? 1 : 0;
  std::string attr;
  if (use_attr) {
    const Value a = args.get(0, "attribute");
    if (!a.is_string()) fail("selectattr/rejectattr need an attribute name");
    attr = a.s;
  }
  const bool with_test = args.pos.size() > t0;
  std::string test;
  CallArgs targs;
  if (with_test) {
    if (!args.pos[t0].is_string()) fail("test name must be a string");
    test = args.pos[t0].s;
    targs.pos.assign(args.pos.begin() + long(t0) + 1, args.pos.end());
    if (!has_test(test)) fail("no test named '", test, "'");
  }
  for (const Value& item : iterate(seq)) {
    const Value x = use_attr ? get_attribute(item, attr) : item;
    const bool ok = with_test ? apply_test(test, x, targs) : truthy(x);
    if (ok == keep) out.push_back(item);
  }
  return Value::make_list(std::move(out));
}

}  // namespace

List iterate(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return {};
    case Value::Kind::kList: return *v.list;
    case Value::Kind::kDict: {
      List keys;
      for (const auto& kv : *v.dict) keys.push_back(Value::string(kv.first));
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      const auto off = utf8_offsets(v.s);
      for (size_t k = 0; k + 1 < off.size(); ++k) chars.push_back(Value::string(v.s.substr(off[k], off[k + 1] - off[k])));
      return chars;
    }
    default: fail("'", type_name(v), "' object is not iterable");
  }
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind) {
    case Value::Kind::kUndefined: return false;
    case Value::Kind::kString:
      if (!item.is_string()) fail("'in <string>' requires string as left operand, not ", type_name(item));
      return container.s.find(item.s) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& x : *container.list)
        if (equal(x, item)) return true;
      return false;
    case Value::Kind::kDict: return item.is_string() && container.find(item.s) != nullptr;
    default: fail("argument of type '", type_name(container), "' is not iterable");
  }
}

namespace {

const std::set<std::string>& test_names() {
  static const std::set<std::string> names = {
      "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number", "string",
      "mapping", "iterable", "sequence", "callable", "sameas", "eq", "equalto", "==", "ne", "!=", "lt",
      "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "odd", "even", "divisibleby",
      "lower", "upper", "escaped", "filter", "test"};
  return names;
}

}  // namespace

bool has_test(const std::string& name) { return test_names().count(name) > 0; }

bool apply_test(const std::string& name, const Value& v, const CallArgs& args) {
  using K = Value::Kind;
  const Value a = args.get(0, "other");
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.kind == K::kBool;
  if (name == "false") return v.kind == K::kBool && !v.b;
  if (name == "true") return v.kind == K::kBool && v.b;
  if (name == "integer") return v.kind == K::kInt;
  if (name == "float") return v.kind == K::kFloat;
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_string() || v.is_list() || v.is_dict();
  if (name == "sequence") return v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.kind == K::kFunction;
  if (name == "sameas") {
    if (v.kind != a.kind) return false;
    if (v.is_list()) return v.list == a.list;
    if (v.is_dict() || v.kind == K::kNamespace) return v.dict == a.dict;
    return equal(v, a);  // None/True/False singletons, small ints and interned strings
  }
  if (name == "eq" || name == "equalto" || name == "==") return equal(v, a);
  if (name == "ne" || name == "!=") return !equal(v, a);
  if (name == "lt" || name == "lessthan" || name == "<") return less(v, a);
  if (name == "le" || name == "<=") return !less(a, v);
  if (name == "gt" || name == "greaterthan" || name == ">") return less(a, v);
  if (name == "ge" || name == ">=") return !less(v, a);
  if (name == "in") return contains(a, v);
  if (name == "odd") return to_int(v) % 2 != 0;
  if (name == "even") return to_int(v) % 2 == 0;
  if (name == "divisibleby") {
    const int64_t d = to_int(args.get(0, "num"));
    if (d == 0) fail("integer division or modulo by zero");
    return to_int(v) % d == 0;
  }
  if (name == "lower") return v.is_string() && lower(v.s) == v.s;
  if (name == "upper") return v.is_string() && upper(v.s) == v.s;
  if (name == "escaped") return false;
  if (name == "filter") return a.is_string() && has_filter(a.s);
  if (name == "test") return a.is_string() && has_test(a.s);
  fail("no test named '", name, "'");
}

namespace {

const std::set<std::string>& filter_names() {
  static const std::set<std::string> names = {
      "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "forceescape",
      "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
      "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
      "title", "tojson", "trim", "unique", "upper", "wordcount"};
  return names;
}

}  // namespace

bool has_filter(const std::string& name) { return filter_names().count(name) > 0; }

Value apply_filter(const std::string& name, const Value& v, const CallArgs& args) {
  using K = Value::Kind;
  if (!has_filter(name)) fail("no filter named '", name, "'");
  if (name == "default" || name == "d") {
    const bool boolean = truthy(args.get(1, "boolean", Value::boolean(false)));
    if (v.is_undefined() || (boolean && !truthy(v))) return args.get(0, "default_value", Value::string(""));
    return v;
  }
  if (name == "safe") return v;
  if (name == "string") return Value::string(to_str(v));
  if (name == "length" || name == "count") return Value::integer(length(v));
  if (name == "tojson") {
    const Value ind = args.get(0, "indent", Value::none());
    const int indent = ind.is_none() || ind.is_undefined() ? -1 : int(to_int(ind));
    return Value::string(to_json_text(v, indent, truthy(args.get(99, "sort_keys", Value::boolean(false)))));
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::make_list();
    if (!v.is_dict()) fail("can only get item pairs from a mapping, not ", type_name(v));
    List out;
    for (const auto& [k, x] : *v.dict) out.push_back(Value::make_tuple({Value::string(k), x}));
    return Value::make_list(std::move(out));
  }
  if (name == "list") return to_list(v);
  if (name == "first" || name == "last") {
    const List items = iterate(v);
    if (items.empty()) return Value::undefined("'" + type_name(v) + " object' has no first/last item");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    const Value sep = args.get(0, "d", Value::string(""));
    const Value attr = args.get(1, "attribute", Value::none());
    std::string out;
    bool first = true;
    for (const Value& x : iterate(v)) {
      if (!first) out += to_str(sep);
      first = false;
      out += to_str(attr.is_string() ? get_attribute(x, attr.s) : x);
    }
    return Value::string(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      const auto off = utf8_offsets(v.s);
      std::string out;
      for (size_t k = off.size() - 1; k > 0; --k) out += v.s.substr(off[k - 1], off[k] - off[k - 1]);
      return Value::string(std::move(out));
    }
    List items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::make_list(std::move(items));
  }
  if (v.is_undefined() && name != "map" && name != "select" && name != "reject" && name != "selectattr" &&
      name != "rejectattr" && name != "unique" && name != "sum" && name != "sort")
    undefined_error(v);
  if (name == "trim") return Value::string(strip(v.is_string() ? v.s : to_str(v), args.get(0, "chars", Value::none()), true, true));
  if (name == "upper") return Value::string(upper(to_str(v)));
  if (name == "lower") return Value::string(lower(to_str(v)));
  if (name == "title") return Value::string(title(to_str(v)));
  if (name == "capitalize") return Value::string(capitalize(to_str(v)));
  if (name == "escape" || name == "e" || name == "forceescape") return Value::string(html_escape(to_str(v)));
  if (name == "replace") {
    const Value old = args.get(0, "old"), repl = args.get(1, "new"), count = args.get(2, "count", Value::none());
    return Value::string(replace(to_str(v), to_str(old), to_str(repl), count.is_none() ? -1 : to_int(count)));
  }
  if (name == "wordcount") return Value::integer(int64_t(split(to_str(v), Value::none(), -1, false).size()));
  if (name == "int") {
    if (v.kind == K::kInt || v.kind == K::kBool || v.kind == K::kFloat) return Value::integer(to_int(v));
    if (v.is_string()) {
      try {
        size_t used = 0;
        const std::string t = strip(v.s, Value::none(), true, true);
        const double d = std::stod(t, &used);
        if (used == t.size()) return Value::integer(int64_t(d));
      } catch (const std::exception&) {
      }
    }
    return args.get(0, "default", Value::integer(0));
  }
  if (name == "float") {
    if (v.is_number()) return Value::number(v.as_double());
    if (v.is_string()) {
      try {
        size_t used = 0;
        const std::string t = strip(v.s, Value::none(), true, true);
        const double d = std::stod(t, &used);
        if (used == t.size()) return Value::number(d);
      } catch (const std::exception&) {
      }
    }
    return args.get(0, "default", Value::number(0));
  }
  if (name == "abs") {
    if (v.kind == K::kFloat) return Value::number(std::fabs(v.f));
    return Value::integer(std::llabs(to_int(v)));
  }
  if (name == "round") {
    const int64_t prec = to_int(args.get(0, "precision", Value::integer(0)));
    const std::string method = to_str(args.get(1, "method", Value::string("common")));
    const double scale = std::pow(10.0, double(prec));
    double x = v.as_double() * scale;
    x = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);  // Python rounds halves to even
    return Value::number(x / scale);
  }
  if (name == "indent") {
    const Value w = args.get(0, "width", Value::integer(4));
    const std::string pad = w.is_string() ? w.s : std::string(size_t(to_int(w)), ' ');
    const bool first = truthy(args.get(1, "first", Value::boolean(false)));
    const bool blank = truthy(args.get(2, "blank", Value::boolean(false)));
    const std::string s = to_str(v);
    std::string out;
    size_t p = 0;
    bool is_first = true;
    for (;;) {
      const size_t q = s.find('\n', p);
      const std::string line = s.substr(p, q == std::string::npos ? std::string::npos : q - p);
      const bool indent_it = is_first ? first : (blank || !line.empty());
      out += (indent_it ? pad : "") + line;
      if (q == std::string::npos) break;
      out += '\n';
      p = q + 1;
      is_first = false;
    }
    return Value::string(std::move(out));
  }
  if (name == "select" || name == "reject") return select_items(v, args, false, name == "select");
  if (name == "selectattr" || name == "rejectattr") return select_items(v, args, true, name == "selectattr");
  if (name == "map") {
    List out;
    const Value attr = args.get(99, "attribute");
    if (attr.is_string()) {
      const Value def = args.get(99, "default");
      for (const Value& x : iterate(v)) {
        Value y = get_attribute(x, attr.s);
        out.push_back(y.is_undefined() && !def.is_undefined() ? def : y);
      }
    } else {
      if (args.pos.empty() || !args.pos[0].is_string()) fail("map needs a filter name or attribute=");
      CallArgs rest;
      rest.pos.assign(args.pos.begin() + 1, args.pos.end());
      rest.kw = args.kw;
      for (const Value& x : iterate(v)) out.push_back(apply_filter(args.pos[0].s, x, rest));
    }
    return Value::make_list(std::move(out));
  }
  if (name == "unique") {
    List out;
    for (const Value& x : iterate(v)) {
      bool seen = false;
      for (const Value& y : out) seen = seen || equal(x, y);
      if (!seen) out.push_back(x);
    }
    return Value::make_list(std::move(out));
  }
  if (name == "sort" || name == "min" || name == "max") {
    List items = iterate(v);
    const Value attr = args.get(name == "sort" ? 2 : 1, "attribute", Value::none());
    auto key = [&](const Value& x) { return attr.is_string() ? get_attribute(x, attr.s) : x; };
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) { return less(key(a), key(b)); });
    if (name == "sort") {
      if (truthy(args.get(0, "reverse", Value::boolean(false)))) std::reverse(items.begin(), items.end());
      return Value::make_list(std::move(items));
    }
    if (items.empty()) return Value::undefined("no min/max of an empty sequence");
    return name == "min" ? items.front() : items.back();
  }
  if (name == "sum") {
    Value total = args.get(1, "start", Value::integer(0));
    const Value attr = args.get(0, "attribute", Value::none());
    for (const Value& x : iterate(v)) {
      const Value y = attr.is_string() ? get_attribute(x, attr.s) : x;
      if (!y.is_number() || !total.is_number()) fail("unsupported operand type(s) for +: '", type_name(total), "' and '", type_name(y), "'");
      if (y.kind == K::kFloat || total.kind == K::kFloat) total = Value::number(total.as_double() + y.as_double());
      else total = Value::integer(to_int(total) + to_int(y));
    }
    return total;
  }
  if (name == "dictsort") {
    if (!v.is_dict()) fail("dictsort expects a mapping");
    List out;
    for (const auto& [k, x] : *v.dict) out.push_back(Value::make_tuple({Value::string(k), x}));
    const bool by_value = to_str(args.get(1, "by", Value::string("key"))) == "value";
    std::stable_sort(out.begin(), out.end(), [&](const Value& a, const Value& b) {
      return less((*a.list)[by_value ? 1 : 0], (*b.list)[by_value ? 1 : 0]);
    });
    if (truthy(args.get(2, "reverse", Value::boolean(false)))) std::reverse(out.begin(), out.end());
    return Value::make_list(std::move(out));
  }
  fail("no filter named '", name, "'");
}

std::optional<Value> call_method(const Value& obj, const std::string& name, const CallArgs& args) {
  if (obj.is_string()) {
    const std::string& s = obj.s;
    if (name == "strip") return Value::string(strip(s, args.get(0, "chars", Value::none()), true, true));
    if (name == "lstrip") return Value::string(strip(s, args.get(0, "chars", Value::none()), true, false));
    if (name == "rstrip") return Value::string(strip(s, args.get(0, "chars", Value::none()), false, true));
    if (name == "split" || name == "rsplit") {
      const Value ms = args.get(1, "maxsplit", Value::integer(-1));
      return Value::make_list(split(s, args.get(0, "sep", Value::none()), to_int(ms), name == "rsplit"));
    }
    if (name == "startswith" || name == "endswith") {
      const Value p = args.get(0, "prefix");
      List options = p.is_list() ? *p.list : List{p};
      for (const Value& o : options) {
        if (!o.is_string()) fail(name, " first arg must be str or a tuple of str, not ", type_name(o));
        if (o.s.size() > s.size()) continue;
        if (name == "startswith" ? s.compare(0, o.s.size(), o.s) == 0 : s.compare(s.size() - o.s.size(), o.s.size(), o.s) == 0)
          return Value::boolean(true);
      }
      return Value::boolean(false);
    }
    if (name == "upper") return Value::string(upper(s));
    if (name == "lower") return Value::string(lower(s));
    if (name == "title") return Value::string(title(s));
    if (name == "capitalize") return Value::string(capitalize(s));
    if (name == "replace") {
      const Value count = args.get(2, "count", Value::integer(-1));
      const Value a = args.get(0, "old"), b = args.get(1, "new");
      if (!a.is_string() || !b.is_string()) fail("replace() arguments must be str");
      return Value::string(replace(s, a.s, b.s, to_int(count)));
    }
    if (name == "find" || name == "count") {
      const Value sub = args.get(0, "sub");
      if (!sub.is_string()) fail("must be str, not ", type_name(sub));
      if (name == "count") {
        if (sub.s.empty()) return Value::integer(int64_t(utf8_offsets(s).size()));
        int64_t n = 0;
        for (size_t p = s.find(sub.s); p != std::string::npos; p = s.find(sub.s, p + sub.s.size())) ++n;
        return Value::integer(n);
      }
      const size_t p = s.find(sub.s);
      if (p == std::string::npos) return Value::integer(-1);
      const auto off = utf8_offsets(s.substr(0, p));
      return Value::integer(int64_t(off.size() - 1));
    }
    if (name == "join") {
      std::string out;
      bool first = true;
      for (const Value& x : iterate(args.get(0, "iterable"))) {
        if (!x.is_string()) fail("sequence item: expected str instance, ", type_name(x), " found");
        if (!first) out += s;
        first = false;
        out += x.s;
      }
      return Value::string(std::move(out));
    }
    return std::nullopt;
  }
  if (obj.is_dict()) {
    if (name == "items") return apply_filter("items", obj, {});
    if (name == "keys") return Value::make_list(iterate(obj));
    if (name == "values") {
      List out;
      for (const auto& kv : *obj.dict) out.push_back(kv.second);
      return Value::make_list(std::move(out));
    }
    if (name == "get") {
      const Value key = args.get(0, "key");
      const Value* f = key.is_string() ? obj.find(key.s) : nullptr;
      return f ? *f : args.get(1, "default", Value::none());
    }
    return std::nullopt;
  }
  return std::nullopt;
}

bool is_global_function(const std::string& name) {
  return name == "namespace" || name == "range" || name == "dict" || name == "raise_exception" || name == "strftime_now";
}

std::optional<Value> call_global(const std::string& name, const CallArgs& args) {
  if (name == "namespace" || name == "dict") {
    Dict attrs;
    auto put = [&](const std::string& k, const Value& x) {
      for (auto& kv : attrs)
        if (kv.first == k) {
          kv.second = x;
          return;
        }
      attrs.emplace_back(k, x);
    };
    for (const Value& p : args.pos) {
      if (!p.is_dict()) fail(name, "() positional argument must be a mapping");
      for (const auto& [k, x] : *p.dict) put(k, x);
    }
    for (const auto& [k, x] : args.kw) put(k, x);
    return name == "namespace" ? Value::make_namespace(std::move(attrs)) : Value::make_dict(std::move(attrs));
  }
  if (name == "range") {
    int64_t start = 0, stop = 0, step = 1;
    if (args.pos.size() == 1) {
      stop = to_int(args.pos[0]);
    } else if (args.pos.size() >= 2) {
      start = to_int(args.pos[0]);
      stop = to_int(args.pos[1]);
      if (args.pos.size() >= 3) step = to_int(args.pos[2]);
    } else {
      fail("range expected at least 1 argument");
    }
    if (step == 0) fail("range() arg 3 must not be zero");
    List out;
    for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
      out.push_back(Value::integer(k));
      if (out.size() > 100000) fail("range too big");  // the sandbox's MAX_RANGE
    }
    return Value::make_list(std::move(out));
  }
  if (name == "raise_exception") {
    std::string msg = to_str(args.get(0, "message"));
    for (size_t p = 0; (p = msg.find('\n', p)) != std::string::npos; p += 2) msg.replace(p, 1, "\\n");
    throw LocatedError("chat template raised an exception: " + msg);
  }
  if (name == "strftime_now") {
    const Value fmt = args.get(0, "format");
    if (!fmt.is_string()) fail("strftime_now needs a format string");
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[512];
    const size_t n = std::strftime(buf, sizeof buf, fmt.s.c_str(), &tm);
    return Value::string(std::string(buf, n));
  }
  return std::nullopt;
}

}  // namespace dsv3::tmpl
