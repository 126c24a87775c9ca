// Compares dsv3::ChatTemplate with fixtures rendered by @huggingface/jinja
// (tests/reference/template_fixtures.mjs) for the DeepSeek-V3, R1 and V3.1 chat templates, and
// runs the real DeepSeek-V3 tokenizer_config.json (npm cache filled by
// scripts/fetch_test_assets.sh) through the library and through `dsv3 template`.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "template/template.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace dsv3 {
namespace {

using json = nlohmann::ordered_json;

const char* const kBos = "<｜begin▁of▁sentence｜>";
const char* const kEos = "<｜end▁of▁sentence｜>";

std::string fixture(const std::string& name) { return std::string(DSV3_SOURCE_DIR) + "/tests/fixtures/template/" + name; }
std::string deepseek_dir() { return test::deepseek_tokenizer_dir(); }

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "missing " << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<json> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "missing fixture " << path;
  std::vector<json> out;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

// Renders every case of <name>.jsonl with <name>.jinja; returns the number of cases.
int run_fixture(const std::string& name, const ChatTemplate& tmpl) {
  int n = 0, failures = 0;
  for (const json& c : read_jsonl(fixture(name + ".jsonl"))) {
    ++n;
    std::string got;
    try {
      got = apply_chat_template(tmpl, c.at("request"), kBos, kEos);
    } catch (const Error& e) {
      got = std::string("<error: ") + e.what() + ">";
    }
    if (got != c.at("output").get<std::string>() && ++failures <= 10)
      ADD_FAILURE() << name << " case " << c.at("id") << ":\n got      " << json(got).dump() << "\n expected "
                    << c.at("output").dump();
  }
  EXPECT_EQ(failures, 0) << name;
  return n;
}

TEST(TemplateFixture, DeepSeekV3) {
  EXPECT_GE(run_fixture("deepseek_v3", ChatTemplate(read_file(fixture("deepseek_v3.jinja")))), 80);
}

TEST(TemplateFixture, DeepSeekR1) {
  EXPECT_GE(run_fixture("deepseek_r1", ChatTemplate(read_file(fixture("deepseek_r1.jinja")))), 80);
}

TEST(TemplateFixture, DeepSeekV31) {
  EXPECT_GE(run_fixture("deepseek_v3_1", ChatTemplate(read_file(fixture("deepseek_v3_1.jinja")))), 280);
}

// The real tokenizer_config.json: its chat_template, bos_token and eos_token through the
// tokenizer API, equal to the fixture template and to every fixture output.
TEST(TemplateFixture, RealDeepSeekV3TokenizerConfig) {
  const Tokenizer& tok = test::deepseek_tokenizer();
  EXPECT_EQ(tok.chat_template(), read_file(fixture("deepseek_v3.jinja")));
  EXPECT_EQ(tok.bos_token(), kBos);
  EXPECT_EQ(tok.eos_token(), kEos);
  const ChatTemplate tmpl(tok.chat_template());
  EXPECT_GE(run_fixture("deepseek_v3", tmpl), 80);
  const json req = json::parse(R"({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}],
                                   "add_generation_prompt": true})");
  EXPECT_EQ(apply_chat_template(tmpl, req, tok.bos_token(), tok.eos_token()),
            std::string(kBos) + "S<｜User｜>Hi<｜Assistant｜>");
}

std::string run_cli(const std::string& model, const std::string& input, int& status) {
  const std::string in_path = test::make_temp_dir("tpl") + "/in.json";
  std::ofstream(in_path, std::ios::binary) << input;
  const std::string cmd = std::string(DSV3_BINARY) + " template --model '" + model + "' < '" + in_path + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  status = pclose(p);
  return out;
}

// `dsv3 template` prints exactly the rendered prompt: no trailing newline added.
TEST(TemplateFixture, CliMatchesFixtures) {
  int checked = 0;
  for (const json& c : read_jsonl(fixture("deepseek_v3.jsonl"))) {
    if (c.at("id").get<std::string>().rfind("tool_double_call", 0) != 0 &&
        c.at("id").get<std::string>().rfind("unicode_1/", 0) != 0 && c.at("id") != "multi_turn/gen")
      continue;
    int status = 0;
    EXPECT_EQ(run_cli(deepseek_dir(), c.at("request").dump(), status), c.at("output").get<std::string>()) << c.at("id");
    EXPECT_EQ(status, 0);
    ++checked;
  }
  EXPECT_GE(checked, 4);
  int status = 0;
  const std::string err = run_cli(deepseek_dir(), "{\"messages\": 3}", status);
  EXPECT_NE(status, 0);
  EXPECT_EQ(err.rfind("dsv3: error: ", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

}  // namespace
}  // namespace dsv3
