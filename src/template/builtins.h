// Filters, tests, methods of str/dict and global functions of the chat-template language,
// with jinja2 / Python semantics. They throw dsv3::Error with a message that the interpreter
// prefixes with the template position.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "template/value.h"

namespace dsv3::tmpl {

// An error that already names its position (or needs none): not wrapped again.
class LocatedError : public Error {
 public:
  using Error::Error;
};

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // Argument `idx` by position or by keyword `name`; `def` when absent.
  Value get(size_t idx, const char* name, Value def = Value::undefined()) const;
  bool has(size_t idx, const char* name) const;
};

Value apply_filter(const std::string& name, const Value& v, const CallArgs& args);
bool has_filter(const std::string& name);
bool apply_test(const std::string& name, const Value& v, const CallArgs& args);
bool has_test(const std::string& name);
// obj.name(args) for str and dict methods; nullopt when `obj` has no such method.
std::optional<Value> call_method(const Value& obj, const std::string& name, const CallArgs& args);
// namespace(), range(), dict(), raise_exception(), strftime_now().
std::optional<Value> call_global(const std::string& name, const CallArgs& args);
bool is_global_function(const std::string& name);

// Python `item in container`.
bool contains(const Value& container, const Value& item);
// Python's iteration: list items, dict keys, string code points; undefined is empty.
List iterate(const Value& v);

}  // namespace dsv3::tmpl
