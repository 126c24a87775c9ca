#include "server/output_pipeline.h"

namespace dsv3::server {

void OutputDelta::append(OutputDelta&& o) {
  content += o.content;
  reasoning += o.reasoning;
  for (auto& c : o.tool_calls) tool_calls.push_back(std::move(c));
}

OutputPipeline::OutputPipeline(const OutputOptions& o, std::function<std::string()> make_id)
    : split_reasoning_(o.split_reasoning),
      parse_tools_(o.parse_tool_calls),
      stop_(o.stop),
      reasoning_(o.starts_in_reasoning),
      tools_(std::move(make_id)) {}

// Text that passed the stop matcher goes through the reasoning and tool-call stages; `last`
// flushes them.
OutputDelta OutputPipeline::after_stop(std::string_view text, bool last) {
  OutputDelta d;
  std::string content;
  if (split_reasoning_) {
    auto r = reasoning_.push(text);
    if (last) {
      auto f = reasoning_.flush();
      r.reasoning += f.reasoning;
      r.content += f.content;
    }
    d.reasoning = std::move(r.reasoning);
    content = std::move(r.content);
  } else {
    content = std::string(text);
  }
  if (parse_tools_) {
    auto t = tools_.push(content);
    if (last) {
      auto f = tools_.flush();
      t.content += f.content;
      for (auto& c : f.calls) t.calls.push_back(std::move(c));
    }
    d.content = std::move(t.content);
    d.tool_calls = std::move(t.calls);
  } else {
    d.content = std::move(content);
  }
  return d;
}

OutputDelta OutputPipeline::push(std::string_view text) {
  if (finished_) return {};
  auto s = stop_.push(text);
  if (s.stopped) finished_ = true;
  return after_stop(s.text, s.stopped);
}

OutputDelta OutputPipeline::finish() {
  if (finished_) return {};
  finished_ = true;
  return after_stop(stop_.flush(), true);
}

}  // namespace dsv3::server
