// Language features of the chat-template interpreter against Python jinja2 with transformers'
// settings (tests/fixtures/template/language.jsonl, made by language_cases.py), plus error
// cases: syntax errors name line and column, run-time errors are one-line dsv3::Errors.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "template/template.h"

namespace dsv3 {
namespace {

using json = nlohmann::ordered_json;

std::string render(const std::string& source, const json& vars = json::object()) {
  return ChatTemplate(source).render(vars);
}

// The message of the dsv3::Error that rendering throws ("" when it does not throw).
std::string error_of(const std::string& source, const json& vars = json::object()) {
  try {
    render(source, vars);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TemplateLanguage, MatchesPythonJinja2) {
  std::ifstream f(std::string(DSV3_SOURCE_DIR) + "/tests/fixtures/template/language.jsonl");
  ASSERT_TRUE(f.good());
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    const json c = json::parse(line);
    ++n;
    std::string got;
    try {
      got = render(c.at("template"), c.at("vars"));
    } catch (const Error& e) {
      got = std::string("<error: ") + e.what() + ">";
    }
    EXPECT_EQ(got, c.at("output").get<std::string>()) << c.at("name") << ": " << c.at("template").dump();
  }
  EXPECT_GE(n, 60);
}

TEST(TemplateLanguage, FloatsPrintLikePython) {
  EXPECT_EQ(render("{{ x }}", {{"x", 0.1}}), "0.1");
  EXPECT_EQ(render("{{ x }}", {{"x", 1e16}}), "1e+16");
  EXPECT_EQ(render("{{ x }}", {{"x", 1.5e-7}}), "1.5e-07");
  EXPECT_EQ(render("{{ x }}", {{"x", 123456789.125}}), "123456789.125");
  EXPECT_EQ(render("{{ x }}", {{"x", -2.0}}), "-2.0");
  EXPECT_EQ(render("{{ x|tojson }}", {{"x", 3.0}}), "3.0");
}

TEST(TemplateLanguage, JsonInputKeepsOrderAndTypes) {
  const json vars = json::parse(R"({"d": {"z": 1, "a": [true, null, 2.5, "s"]}})");
  EXPECT_EQ(render("{{ d }}|{{ d|tojson }}", vars), "{'z': 1, 'a': [True, None, 2.5, 's']}|{\"z\": 1, \"a\": [true, null, 2.5, \"s\"]}");
}

TEST(TemplateLanguage, RaiseException) {
  const std::string msg = error_of("{% if messages|length == 0 %}{{ raise_exception('No messages!') }}{% endif %}",
                                   {{"messages", json::array()}});
  EXPECT_EQ(msg, "chat template raised an exception: No messages!");
}

TEST(TemplateLanguage, StrftimeNow) {
  const std::string year = render("{{ strftime_now('%Y') }}");
  EXPECT_EQ(year.size(), 4u);
  EXPECT_EQ(year.substr(0, 1), "2");
}

TEST(TemplateLanguage, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("ab\n{% if x %}"), "chat template syntax error at line 2, column 11: unexpected end of template, expected '{% endif %}'");
  EXPECT_EQ(error_of("{{ 1 + }}"), "chat template syntax error at line 1, column 8: unexpected '}}'");
  EXPECT_EQ(error_of("x\n  {% frobnicate %}"), "chat template syntax error at line 2, column 6: unknown or unsupported statement 'frobnicate'");
  EXPECT_EQ(error_of("{{ 'abc }}"), "chat template syntax error at line 1, column 4: unterminated string literal");
  EXPECT_EQ(error_of("{{ x "), "chat template syntax error at line 1, column 1: unclosed '{{' (missing '}}')");
  EXPECT_EQ(error_of("{# never closed"), "chat template syntax error at line 1, column 1: unclosed comment (missing '#}')");
  EXPECT_EQ(error_of("{% for x in y %}{% endif %}"),
            "chat template syntax error at line 1, column 20: unexpected '{% endif %}', expected '{% endfor %}'");
  EXPECT_EQ(error_of("{{ a ) }}"), "chat template syntax error at line 1, column 6: unexpected ')'");
  EXPECT_EQ(error_of("{% set = 1 %}"), "chat template syntax error at line 1, column 8: expected a name, got '='");
}

TEST(TemplateLanguage, RuntimeErrors) {
  EXPECT_EQ(error_of("{{ x|frobnicate }}", {{"x", 1}}), "chat template error at line 1, column 6: no filter named 'frobnicate'");
  EXPECT_EQ(error_of("{{ x is frobnicated }}", {{"x", 1}}), "chat template error at line 1, column 9: no test named 'frobnicated'");
  EXPECT_EQ(error_of("\n{{ 'a' + missing }}"), "chat template error at line 2, column 8: 'missing' is undefined");
  EXPECT_EQ(error_of("{{ 'a' + none }}"),
            "chat template error at line 1, column 8: unsupported operand type(s) for +: 'str' and 'NoneType'");
  EXPECT_EQ(error_of("{{ missing.attr }}"), "chat template error at line 1, column 11: 'missing' is undefined");
  EXPECT_EQ(error_of("{{ m['content'] + 'x' }}", {{"m", json::object()}}),
            "chat template error at line 1, column 17: 'dict object' has no attribute 'content'");
  EXPECT_EQ(error_of("{{ 1 / 0 }}"), "chat template error at line 1, column 6: division by zero");
  EXPECT_EQ(error_of("{{ 1 < 'a' }}"),
            "chat template error at line 1, column 4: chat template: '<' not supported between instances of 'int' and 'str'");
  EXPECT_EQ(error_of("{% set x.y = 1 %}"), "chat template error at line 1, column 4: cannot assign attribute on non-namespace object 'x'");
  EXPECT_EQ(error_of("{{ 3 in 'abc' }}"),
            "chat template error at line 1, column 4: 'in <string>' requires string as left operand, not int");
  EXPECT_EQ(error_of("{{ x() }}", {{"x", 1}}), "chat template error at line 1, column 5: 'int' object is not callable");
}

// Every error is one line, so the CLI can print it as one line.
TEST(TemplateLanguage, ErrorsAreOneLine) {
  for (const char* src : {"{% if %}", "{{ 'a' + none }}", "{{ raise_exception('bad\\nline') }}", "{% for %}", "{{ [1, }}",
                          "{{ {'a': 1}['x\\ny'] + 1 }}"}) {
    const std::string msg = error_of(src);
    EXPECT_FALSE(msg.empty()) << src;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(TemplateLanguage, ApplyChatTemplateDefaults) {
  const ChatTemplate t(
      "{{ bos_token }}{{ tools is none }}{{ documents is none }}{{ add_generation_prompt }}{{ thinking | default('-') }}{{ eos_token }}");
  EXPECT_EQ(apply_chat_template(t, json::parse(R"({"messages": []})"), "<s>", "</s>"), "<s>TrueTrueFalse-</s>");
  EXPECT_EQ(apply_chat_template(t, json::parse(R"({"messages": [], "thinking": true, "add_generation_prompt": true})"), "", ""),
            "TrueTrueTrueTrue");
  EXPECT_THROW(apply_chat_template(t, json::parse(R"({"messages": {}})"), "", ""), Error);
  EXPECT_THROW(apply_chat_template(t, json::parse(R"({"messages": [3]})"), "", ""), Error);
}

}  // namespace
}  // namespace dsv3
