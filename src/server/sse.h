// Server-sent events framing for streamed responses: each chunk is one `data: <json>` event
// ended by a blank line, the stream ends with `data: [DONE]` (what OpenAI clients expect).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsv3::server {

// Compact JSON on one line; invalid UTF-8 is replaced (U+FFFD) instead of throwing.
std::string to_json_text(const nlohmann::json& j);

std::string sse_event(const nlohmann::json& chunk);  // "data: {...}\n\n"
std::string sse_done();                              // "data: [DONE]\n\n"

// The data payloads of a complete event stream, in order (multi-line data joined with
// "\n", comment lines and other fields skipped). For tests and the load client.
std::vector<std::string> sse_parse(std::string_view stream);

}  // namespace dsv3::server
