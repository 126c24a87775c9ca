// DeepSeek tool-call parsing: both syntaxes, streamed equals non-streamed for every split,
// malformed sections come back as plain content.
#include <gtest/gtest.h>

#include "server/output_pipeline.h"
#include "server/tool_calls.h"

namespace dsv3::server {
namespace {

const std::string kV3 =
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```"
    "<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜>"
    "<｜tool▁calls▁end｜>";
const std::string kV31 =
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜>"
    "<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁calls▁end｜>";

struct Parsed {
  std::string content;
  std::vector<ToolCall> calls;
};

std::function<std::string()> counter_ids() {
  auto n = std::make_shared<int>(0);
  return [n] { return "call_" + std::to_string((*n)++); };
}

Parsed parse(const std::string& text, const std::vector<size_t>& cuts) {
  ToolCallParser p(counter_ids());
  Parsed r;
  size_t prev = 0;
  auto take = [&](ToolCallParser::Delta d) {
    r.content += d.content;
    for (auto& c : d.calls) r.calls.push_back(c);
  };
  for (size_t c : cuts) {
    take(p.push(text.substr(prev, c - prev)));
    prev = c;
  }
  take(p.push(text.substr(prev)));
  take(p.flush());
  return r;
}

void expect_same(const Parsed& a, const Parsed& b, const std::string& what) {
  EXPECT_EQ(a.content, b.content) << what;
  ASSERT_EQ(a.calls.size(), b.calls.size()) << what;
  for (size_t i = 0; i < a.calls.size(); ++i) {
    EXPECT_EQ(a.calls[i].name, b.calls[i].name) << what;
    EXPECT_EQ(a.calls[i].arguments, b.calls[i].arguments) << what;
    EXPECT_EQ(a.calls[i].id, b.calls[i].id) << what;
  }
}

TEST(ServerToolCalls, BothSyntaxes) {
  for (const auto& text : {kV3, kV31}) {
    auto r = parse("Let me check." + text, {});
    EXPECT_EQ(r.content, "Let me check.");
    ASSERT_EQ(r.calls.size(), 2u);
    EXPECT_EQ(r.calls[0].name, "get_weather");
    EXPECT_EQ(r.calls[0].arguments, "{\"city\": \"Paris\"}");
    EXPECT_EQ(r.calls[0].id, "call_0");
    EXPECT_EQ(r.calls[1].name, "get_time");
    EXPECT_EQ(r.calls[1].arguments, "{}");
  }
}

TEST(ServerToolCalls, StreamedEqualsWhole) {
  for (const std::string& text : std::vector<std::string>{kV3, kV31, "pre " + kV3 + " post", "x<｜tool▁calls▁begin｜>junk<｜tool▁calls▁end｜>y",
                           "a <｜tool▁calls▁beg", kV31.substr(0, kV31.size() - 40)}) {
    const auto whole = parse(text, {});
    for (size_t a = 0; a <= text.size(); ++a) {
      expect_same(parse(text, {a}), whole, "cut " + std::to_string(a));
      for (size_t b = a; b <= text.size(); b += 7) expect_same(parse(text, {a, b}), whole, "cuts");
    }
  }
  // Every piece size, including one byte at a time.
  for (size_t piece = 1; piece < 12; ++piece) {
    std::vector<size_t> cuts;
    for (size_t c = piece; c < kV3.size(); c += piece) cuts.push_back(c);
    expect_same(parse(kV3, cuts), parse(kV3, {}), "piece " + std::to_string(piece));
  }
}

TEST(ServerToolCalls, MalformedIsPlainContent) {
  const std::vector<std::string> bad = {
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{not json}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f {}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",  // no separator
      "<｜tool▁calls▁begin｜>hello<｜tool▁calls▁end｜>",
      "<｜tool▁calls▁begin｜><｜tool▁calls▁end｜>",
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{}\n<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>[1]<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{}",  // unterminated call
  };
  for (const auto& text : bad) {
    auto r = parse(text, {});
    EXPECT_TRUE(r.calls.empty()) << text;
    EXPECT_EQ(r.content, text);
  }
}

TEST(ServerToolCalls, CutOffAfterCompleteCalls) {
  // EOS right after the last call, without the section end marker.
  auto r = parse(kV31.substr(0, kV31.size() - std::string("<｜tool▁calls▁end｜>").size()), {});
  EXPECT_EQ(r.calls.size(), 2u);
  EXPECT_EQ(r.content, "");
}

TEST(ServerToolCalls, IdsAreFresh) {
  const std::string a = new_tool_call_id(), b = new_tool_call_id();
  EXPECT_EQ(a.size(), 29u);
  EXPECT_EQ(a.rfind("call_", 0), 0u);
  EXPECT_NE(a, b);
}

// The whole pipeline: stop strings, reasoning, then tool calls.
TEST(ServerOutputPipeline, StopReasoningTools) {
  OutputOptions o;
  o.stop = {"STOP"};
  o.split_reasoning = o.starts_in_reasoning = o.parse_tool_calls = true;
  const std::string text = "think hard</think>\n\nCalling." + kV31 + "STOP ignored";
  auto run = [&](size_t piece) {
    OutputPipeline p(o, counter_ids());
    OutputDelta all;
    for (size_t i = 0; i < text.size() && !p.stopped(); i += piece) all.append(p.push(text.substr(i, piece)));
    all.append(p.finish());
    EXPECT_TRUE(p.stopped());
    EXPECT_TRUE(p.produced_tool_calls());
    return all;
  };
  const auto whole = run(text.size());
  EXPECT_EQ(whole.reasoning, "think hard");
  EXPECT_EQ(whole.content, "Calling.");
  ASSERT_EQ(whole.tool_calls.size(), 2u);
  for (size_t piece = 1; piece < 40; ++piece) {
    const auto d = run(piece);
    EXPECT_EQ(d.reasoning, whole.reasoning);
    EXPECT_EQ(d.content, whole.content);
    EXPECT_EQ(d.tool_calls.size(), 2u);
  }
}

TEST(ServerOutputPipeline, PlainTextPassesThrough) {
  OutputPipeline p(OutputOptions{});
  OutputDelta all;
  all.append(p.push("<think>a</think><｜tool▁calls▁begin｜>"));
  all.append(p.finish());
  EXPECT_EQ(all.content, "<think>a</think><｜tool▁calls▁begin｜>");
  EXPECT_TRUE(p.finish().empty());
}

}  // namespace
}  // namespace dsv3::server
