// Chat-template rendering exactly as Hugging Face transformers does it: a Jinja subset with
// Python jinja2 semantics and transformers' environment (trim_blocks, lstrip_blocks, no
// trailing newline kept, loopcontrols, `tojson` = json.dumps(ensure_ascii=False),
// `raise_exception`, `strftime_now`). What is supported is listed in README.md ("Chat
// templates"); anything else is a dsv3::Error naming the line and column.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace dsv3::tmpl {
struct Node;
}

namespace dsv3 {

class ChatTemplate {
 public:
  // Parses the template; throws dsv3::Error "chat template syntax error at line L, column C: ...".
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with the given variables (key order matters for tojson and dict loops, hence
  // ordered_json) (a JSON object: messages, add_generation_prompt, tools,
  // bos_token, ...). Throws dsv3::Error on run-time errors (raise_exception, undefined
  // arithmetic, unknown filters, type errors).
  std::string render(const nlohmann::ordered_json& variables) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// transformers' apply_chat_template(conversation, tools=..., add_generation_prompt=...,
// tokenize=False, **kwargs): `request` is {"messages": [...], "add_generation_prompt": bool,
// "tools": [...] (optional), any other key is passed as a template variable}. tools and
// documents are None when absent, as transformers passes them.
std::string apply_chat_template(const ChatTemplate& tmpl, const nlohmann::ordered_json& request, const std::string& bos_token,
                                const std::string& eos_token);

}  // namespace dsv3
