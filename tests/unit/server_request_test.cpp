// OpenAI request validation: every supported field parses, every bad field is a 400 whose
// message and param name the field, unknown fields are ignored.
#include <gtest/gtest.h>

#include "server/openai_errors.h"
#include "server/openai_request.h"

namespace dsv3::server {
namespace {

OpenAIRequest completion(const std::string& body) { return parse_openai_request(body, ApiKind::kCompletion); }
OpenAIRequest chat(const std::string& body) { return parse_openai_request(body, ApiKind::kChat); }

// Expects a 400 ApiError whose param is `param` and whose message mentions it.
void expect_bad(const std::string& body, ApiKind kind, const std::string& param) {
  try {
    parse_openai_request(body, kind);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << " -> " << e.what();
    EXPECT_NE(std::string(e.what()).find(param), std::string::npos) << e.what();
    const auto j = error_body(e);
    EXPECT_EQ(j["error"]["type"], "invalid_request_error");
    EXPECT_EQ(j["error"]["param"], param.empty() ? nlohmann::json() : nlohmann::json(param));
    return;
  }
  ADD_FAILURE() << "accepted: " << body;
}

TEST(ServerRequest, CompletionFields) {
  auto r = completion(R"({"model": "m", "prompt": "hi", "max_tokens": 7, "temperature": 0, "top_p": 0.5,
    "top_k": 3, "min_p": 0.1, "seed": 42, "stop": ["a", "bc"], "n": 2, "logprobs": 3, "stream": true,
    "stream_options": {"include_usage": true}, "user": "x", "some_future_field": {"a": 1}})");
  EXPECT_EQ(r.model, "m");
  EXPECT_FALSE(r.prompt_is_ids);
  EXPECT_EQ(r.prompt_text, "hi");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(*r.sampling.temperature, 0.0f);
  EXPECT_EQ(*r.sampling.top_p, 0.5f);
  EXPECT_EQ(*r.sampling.top_k, 3);
  EXPECT_FLOAT_EQ(*r.sampling.min_p, 0.1f);
  EXPECT_EQ(*r.sampling.seed, 42u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(r.n, 2);
  EXPECT_EQ(r.logprobs, 3);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(ServerRequest, PromptForms) {
  EXPECT_EQ(completion(R"({"prompt": [1, 2, 3]})").prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_TRUE(completion(R"({"prompt": [1, 2, 3]})").prompt_is_ids);
  EXPECT_EQ(completion(R"({"prompt": [[4, 5]]})").prompt_ids, (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(completion(R"({"prompt": ["text"]})").prompt_text, "text");
  EXPECT_EQ(completion(R"({"prompt": "x", "stop": "END"})").stop, (std::vector<std::string>{"END"}));
  EXPECT_EQ(completion(R"({"prompt": "x", "max_completion_tokens": 5, "max_tokens": 9})").max_tokens, 5);
  EXPECT_EQ(completion(R"({"prompt": "x", "max_tokens": 3.0})").max_tokens, 3);
  EXPECT_EQ(*completion(R"({"prompt": "x", "top_k": -1})").sampling.top_k, 0);
  // null means "unset", as OpenAI clients send it.
  auto r = completion(R"({"prompt": "x", "max_tokens": null, "stop": null, "temperature": null})");
  EXPECT_FALSE(r.max_tokens);
  EXPECT_FALSE(r.sampling.temperature);
}

TEST(ServerRequest, ChatFields) {
  auto r = chat(R"({"messages": [{"role": "developer", "content": "sys"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "42"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}], "tool_choice": "auto",
    "logprobs": true, "top_logprobs": 2, "chat_template_kwargs": {"thinking": true}})");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "ab");
  EXPECT_EQ(r.messages[2]["tool_calls"][0]["type"], "function");
  EXPECT_TRUE(r.parse_tool_calls());
  EXPECT_EQ(r.logprobs, 2);
  EXPECT_EQ(r.template_kwargs["thinking"], true);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})").logprobs, 0);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}]})").logprobs, -1);
  EXPECT_FALSE(chat(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
      "function": {"name": "f"}}], "tool_choice": "none"})").parse_tool_calls());
}

TEST(ServerRequest, BadFieldsNameTheField) {
  const auto C = ApiKind::kCompletion, H = ApiKind::kChat;
  expect_bad(R"({"prompt": "x", "max_tokens": -1})", C, "max_tokens");
  expect_bad(R"({"prompt": "x", "max_tokens": 0})", C, "max_tokens");
  expect_bad(R"({"prompt": "x", "max_tokens": "5"})", C, "max_tokens");
  expect_bad(R"({"prompt": "x", "max_completion_tokens": 1.5})", C, "max_completion_tokens");
  expect_bad(R"({"prompt": "x", "temperature": -0.5})", C, "temperature");
  expect_bad(R"({"prompt": "x", "temperature": 3})", C, "temperature");
  expect_bad(R"({"prompt": "x", "top_p": 0})", C, "top_p");
  expect_bad(R"({"prompt": "x", "top_p": 1.5})", C, "top_p");
  expect_bad(R"({"prompt": "x", "top_k": -2})", C, "top_k");
  expect_bad(R"({"prompt": "x", "min_p": 2})", C, "min_p");
  expect_bad(R"({"prompt": "x", "seed": "s"})", C, "seed");
  expect_bad(R"({"prompt": "x", "n": 0})", C, "n");
  expect_bad(R"({"prompt": "x", "n": 1000})", C, "n");
  expect_bad(R"({"prompt": "x", "stop": 5})", C, "stop");
  expect_bad(R"({"prompt": "x", "stop": ["a", 1]})", C, "stop[1]");
  expect_bad(R"({"prompt": "x", "logprobs": 100})", C, "logprobs");
  expect_bad(R"({"prompt": "x", "stream": "yes"})", C, "stream");
  expect_bad(R"({"prompt": "x", "stream_options": {"include_usage": 1}})", C, "stream_options.include_usage");
  expect_bad(R"({"prompt": "x", "model": 3})", C, "model");
  expect_bad(R"({"prompt": "x", "echo": true})", C, "echo");
  expect_bad(R"({"prompt": "x", "presence_penalty": 0.5})", C, "presence_penalty");
  expect_bad(R"({"prompt": "x", "logit_bias": {"5": 1}})", C, "logit_bias");
  expect_bad(R"({})", C, "prompt");
  expect_bad(R"({"prompt": 5})", C, "prompt");
  expect_bad(R"({"prompt": []})", C, "prompt");
  expect_bad(R"({"prompt": [1, -2]})", C, "prompt[1]");
  expect_bad(R"({"prompt": ["a", "b"]})", C, "prompt");
  expect_bad(R"({})", H, "messages");
  expect_bad(R"({"messages": []})", H, "messages");
  expect_bad(R"({"messages": ["hi"]})", H, "messages[0]");
  expect_bad(R"({"messages": [{"content": "hi"}]})", H, "messages[0].role");
  expect_bad(R"({"messages": [{"role": "wizard", "content": "hi"}]})", H, "messages[0].role");
  expect_bad(R"({"messages": [{"role": "user"}]})", H, "messages[0].content");
  expect_bad(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", H, "messages[0].content[0]");
  expect_bad(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": 1})", H, "logprobs");
  expect_bad(R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", H, "top_logprobs");
  expect_bad(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21})", H,
             "top_logprobs");
  expect_bad(R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})", H, "tools");
  expect_bad(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})", H, "tools[0]");
  expect_bad(R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "maybe"})", H, "tool_choice");
  expect_bad(R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})", H,
             "response_format");
}

TEST(ServerRequest, MalformedJson) {
  for (const char* body : {"{", "not json", "[1, 2]", "\"text\"", ""}) {
    try {
      completion(body);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_TRUE(e.param.empty());
    }
  }
}

TEST(ServerErrors, Body) {
  auto j = error_body(401, "bad key", "", "invalid_api_key");
  EXPECT_EQ(j["error"]["message"], "bad key");
  EXPECT_EQ(j["error"]["type"], "authentication_error");
  EXPECT_TRUE(j["error"]["param"].is_null());
  EXPECT_EQ(j["error"]["code"], "invalid_api_key");
  EXPECT_EQ(error_body(429, "busy")["error"]["type"], "rate_limit_error");
  EXPECT_EQ(error_body(500, "x")["error"]["type"], "server_error");
  EXPECT_EQ(error_body(404, "x")["error"]["type"], "invalid_request_error");
}

}  // namespace
}  // namespace dsv3::server
