// Syntax tree of a parsed chat template. Every node keeps the line and column where it
// starts so that run-time errors can point into the template.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/value.h"

namespace dsv3::tmpl {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Type {
    kLiteral,   // literal
    kName,      // name
    kList,      // args
    kTuple,     // args
    kDict,      // args = key0, value0, key1, value1, ...
    kGetattr,   // args[0] . name
    kGetitem,   // args[0] [ args[1] ]
    kSlice,     // args[0] [ args[1] : args[2] : args[3] ] (null for an omitted part)
    kCall,      // args[0] ( args[1..], kwargs )
    kFilter,    // args[0] | name ( args[1..], kwargs )
    kTest,      // args[0] is [not] name ( args[1..] )
    kUnary,     // name in {"-", "+", "not"} applied to args[0]
    kBinary,    // args[0] name args[1]; name in + - * / // % ** ~ and or
    kCompare,   // args[0] ops[0] args[1] ops[1] args[2] ...; ops == != < <= > >= in notin
    kCond,      // args[0] if args[1] else args[2] (args[2] may be null)
  };
  Type type;
  int line = 0, col = 0;
  Value literal;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  enum class Type {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // branches (condition, body); else_body
    kFor,       // targets in expr [if filter] body [else else_body]
    kSet,       // targets = expr (or ns.attr = expr when attr is set)
    kSetBlock,  // {% set targets[0] %} body {% endset %}
    kBreak,
    kContinue,
    kMacro,     // {% macro name(params) %} body {% endmacro %}; defaults in param_defaults
    kGeneration,  // transformers' {% generation %} ... {% endgeneration %}: renders its body
  };
  Type type;
  int line = 0, col = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::vector<std::string> targets;
  std::string attr;  // kSet on a namespace attribute: targets[0].attr = expr
  std::vector<ExprPtr> param_defaults;  // kMacro: one per target (null when none)
};

// Parses template source (Jinja syntax, transformers' settings: trim_blocks, lstrip_blocks,
// no trailing newline kept). Throws dsv3::Error "chat template syntax error at line L,
// column C: ..." on bad syntax.
Body parse_template(const std::string& source);

}  // namespace dsv3::tmpl
