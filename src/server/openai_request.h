// OpenAI request bodies (/v1/completions, /v1/chat/completions) -> one validated request.
// Every bad field is an ApiError 400 whose message and `param` name the field; unknown
// fields are ignored as the OpenAI API does. Limits that need the model (prompt length,
// max_tokens against the context) are checked later, by the handler that tokenizes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/sampler.h"

namespace dsv3::server {

enum class ApiKind { kCompletion, kChat };

inline constexpr int64_t kMaxChoices = 16;      // n
inline constexpr int64_t kMaxTopLogprobs = 20;  // logprobs (completions), top_logprobs (chat)
inline constexpr int64_t kMaxStopStrings = 16;

struct OpenAIRequest {
  ApiKind kind = ApiKind::kCompletion;
  std::string model;  // "" when absent

  // Completions: the prompt as text, or as token ids (prompt_is_ids).
  bool prompt_is_ids = false;
  std::string prompt_text;
  std::vector<int32_t> prompt_ids;

  // Chat: passed to the chat template (content parts joined to strings, "developer" -> "system").
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;           // null when absent
  std::string tool_choice = "auto";       // "none" | "auto" | "required" | a function name
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();  // chat_template_kwargs

  bool stream = false, include_usage = false;
  std::optional<int64_t> max_tokens;  // max_tokens or max_completion_tokens; >= 1
  SamplingOverrides sampling;         // temperature, top_p, top_k, min_p, seed
  std::vector<std::string> stop;      // non-empty strings
  int64_t n = 1;
  int64_t logprobs = -1;  // -1: none; k >= 0: the chosen token's logprob and the top k
  bool ignore_eos = false;  // extension (vLLM): do not stop at the end-of-sequence token

  // Tool calls are parsed out of the output when the request offers tools.
  bool parse_tool_calls() const { return tools.is_array() && !tools.empty() && tool_choice != "none"; }
};

// Parse + validate a request body (JSON text). Throws ApiError(400) naming the field.
OpenAIRequest parse_openai_request(const std::string& body, ApiKind kind);

}  // namespace dsv3::server
