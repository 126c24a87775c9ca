#include "server/sse.h"

namespace dsv3::server {

std::string to_json_text(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

std::string sse_event(const nlohmann::json& chunk) { return "data: " + to_json_text(chunk) + "\n\n"; }

std::string sse_done() { return "data: [DONE]\n\n"; }

std::vector<std::string> sse_parse(std::string_view stream) {
  std::vector<std::string> events;
  std::string data;
  bool has_data = false;
  while (!stream.empty()) {
    size_t eol = stream.find('\n');
    std::string_view line = stream.substr(0, eol);
    stream.remove_prefix(eol == std::string_view::npos ? stream.size() : eol + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) {  // blank line: dispatch
      if (has_data) events.push_back(data);
      data.clear();
      has_data = false;
      continue;
    }
    if (line.starts_with(':')) continue;
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (line.starts_with(' ')) line.remove_prefix(1);
      if (has_data) data += '\n';
      data.append(line);
      has_data = true;
    }
  }
  return events;  // an event without its blank line is incomplete and not dispatched
}

}  // namespace dsv3::server
