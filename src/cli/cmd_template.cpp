// dsv3 template --model DIR: one JSON object {"messages": [...], "add_generation_prompt": bool,
// "tools": [...] (optional)} on stdin -> the prompt rendered by the model's chat_template
// (tokenizer_config.json) exactly as transformers' apply_chat_template(tokenize=False), with
// no newline added. Other keys of the object are passed to the template as variables (e.g.
// "thinking" for DeepSeek-V3.1).
#include <iostream>
#include <iterator>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

namespace dsv3::cli {

namespace {

void render_template(const std::string& dir) {
  const Tokenizer tok = Tokenizer::load(dir);
  DSV3_CHECK(!tok.chat_template().empty(), dir, "/tokenizer_config.json has no chat_template");
  const ChatTemplate tmpl(tok.chat_template());
  const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  nlohmann::ordered_json request;  // key order reaches the template (tojson, dict loops)
  try {
    request = nlohmann::ordered_json::parse(input);
  } catch (const nlohmann::ordered_json::exception& e) {
    fail("stdin: invalid JSON: ", e.what());
  }
  DSV3_CHECK(request.is_object(), "stdin: expected one JSON object {\"messages\": [...], \"add_generation_prompt\": bool}");
  if (request.contains("add_generation_prompt"))
    DSV3_CHECK(request["add_generation_prompt"].is_boolean(), "stdin: \"add_generation_prompt\" must be true or false");
  if (request.contains("tools"))
    DSV3_CHECK(request["tools"].is_array() || request["tools"].is_null(), "stdin: \"tools\" must be a list");
  const std::string prompt = apply_chat_template(tmpl, request, tok.bos_token(), tok.eos_token());
  std::cout.write(prompt.data(), std::streamsize(prompt.size()));
  std::cout.flush();
}

}  // namespace

void add_template(CLI::App& app) {
  auto* cmd = app.add_subcommand("template", "JSON chat request on stdin -> prompt rendered by the model's chat_template");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("--model", *dir, "Model (or tokenizer) folder")->required();
  cmd->callback([dir] { render_template(*dir); });
}

DSV3_COMMAND(45, add_template);

}  // namespace dsv3::cli
