// SSE framing and the Prometheus exposition format of /metrics.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "server/metrics.h"
#include "server/sse.h"

namespace dsv3::server {
namespace {

TEST(ServerSse, Framing) {
  const nlohmann::json chunk = {{"text", "line1\nline2 \"q\""}, {"n", 1}};
  const std::string ev = sse_event(chunk);
  EXPECT_EQ(ev.rfind("data: {", 0), 0u);
  EXPECT_TRUE(ev.ends_with("}\n\n"));
  EXPECT_EQ(ev.find('\n'), ev.size() - 2);  // newlines inside strings are escaped
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
  const auto events = sse_parse(ev + ": comment\n\n" + sse_event({{"a", 2}}) + sse_done());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(events[0]), chunk);
  EXPECT_EQ(events[2], "[DONE]");
  EXPECT_EQ(sse_parse("data: a\r\ndata: b\r\n\r\ndata: incomplete\n"), (std::vector<std::string>{"a\nb"}));
}

TEST(ServerSse, InvalidUtf8IsReplaced) {
  const std::string s = to_json_text({{"t", std::string("a\xff", 2)}});
  EXPECT_EQ(s, "{\"t\":\"a\xEF\xBF\xBD\"}");
}

TEST(ServerMetrics, Numbers) {
  EXPECT_EQ(prom_number(0.001), "0.001");
  EXPECT_EQ(prom_number(3), "3");
  EXPECT_EQ(prom_number(1.0 / 0.0), "+Inf");
  EXPECT_EQ(prom_number(0.0 / 0.0), "NaN");
}

TEST(ServerMetrics, Histogram) {
  Histogram h({0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(0.7);
  h.observe(5);
  EXPECT_EQ(prom_histogram("x_seconds", "Help.", h),
            "# HELP x_seconds Help.\n# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.1\"} 1\nx_seconds_bucket{le=\"1\"} 3\nx_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_seconds_sum 6.25\nx_seconds_count 4\n");
}

// Every line is a comment (# HELP / # TYPE) or `name{labels} value`; every sample's metric
// has a TYPE line; the required names are there.
TEST(ServerMetrics, ExpositionFormat) {
  ServerMetrics m;
  m.count_request("chat");
  m.count_response(200);
  m.count_response(200);
  m.count_response(429);
  EngineStats s;
  s.prefix_query_tokens = 100;
  s.prefix_hit_tokens = 25;
  s.cache_blocks_total = 10;
  s.cache_blocks_free = 7;
  s.cache_blocks_used = 3;
  s.time_to_first_token.observe(0.02);
  const std::string text = m.render(s);
  std::istringstream in(text);
  std::string line;
  std::set<std::string> typed;
  int samples = 0;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream ls(line.substr(7));
      std::string name, type;
      ls >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      typed.insert(name);
      continue;
    }
    if (line[0] == '#') {
      EXPECT_EQ(line.rfind("# HELP ", 0), 0u) << line;
      continue;
    }
    ++samples;
    const size_t name_end = line.find_first_of("{ ");
    ASSERT_NE(name_end, std::string::npos) << line;
    std::string name = line.substr(0, name_end);
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (!typed.count(name) && name.ends_with(suffix)) name.resize(name.size() - std::string(suffix).size());
    EXPECT_TRUE(typed.count(name)) << "no TYPE for " << line;
    const std::string value = line.substr(line.rfind(' ') + 1);
    EXPECT_NO_THROW((void)std::stod(value == "+Inf" ? "inf" : value)) << line;
  }
  EXPECT_GT(samples, 20);
  for (const char* want :
       {"dsv3_http_requests_total{endpoint=\"chat\"} 1\n", "dsv3_http_responses_total{code=\"200\"} 2\n",
        "dsv3_http_responses_total{code=\"429\"} 1\n", "dsv3_prefix_cache_hit_rate 0.25\n", "dsv3_cache_blocks_free 7\n",
        "dsv3_cache_blocks_used 3\n", "dsv3_queue_depth 0\n", "dsv3_running_sequences 0\n",
        "dsv3_time_to_first_token_seconds_count 1\n", "dsv3_time_per_output_token_seconds_bucket{le=\"+Inf\"} 0\n",
        "dsv3_prompt_tokens_total 0\n", "dsv3_generation_tokens_total 0\n", "dsv3_requests_cancelled_total 0\n"})
    EXPECT_NE(text.find(want), std::string::npos) << want;
}

}  // namespace
}  // namespace dsv3::server
