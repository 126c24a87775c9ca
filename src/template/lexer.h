// Lexer of the chat-template language: splits template source into text and the tokens
// inside {{ }} / {% %}, applying whitespace control exactly as jinja2's lexer does with
// trim_blocks=True, lstrip_blocks=True (comments and {% raw %} included).
#pragma once
#include <string>
#include <vector>

namespace dsv3::tmpl {

enum class Tok { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  Tok type;
  std::string text;  // text data, name, decoded string, operator, number spelling
  int line, col;
};

// Throws dsv3::Error "chat template syntax error at line L, column C: msg".
[[noreturn]] void syntax_error(int line, int col, const std::string& msg);

// Tokens of `source` (newlines already normalised), ending with kEof.
std::vector<Token> lex_template(std::string source);

}  // namespace dsv3::tmpl
