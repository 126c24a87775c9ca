// Stop strings across token boundaries: nothing of a stop string is ever emitted, text that
// only looked like a stop string is released, every split gives the same text.
#include <gtest/gtest.h>

#include "server/stop_matcher.h"

namespace dsv3::server {
namespace {

struct Run {
  std::vector<std::string> emitted;
  std::string text;
  bool stopped = false;
};

Run feed(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopMatcher m(stops);
  Run r;
  for (const auto& p : pieces) {
    auto x = m.push(p);
    r.emitted.push_back(x.text);
    r.text += x.text;
    if (x.stopped) {
      r.stopped = true;
      break;
    }
  }
  if (!r.stopped) r.text += m.flush();
  return r;
}

TEST(ServerStopMatcher, PartialSuffix) {
  EXPECT_EQ(partial_suffix("hello wo", "world"), 2u);
  EXPECT_EQ(partial_suffix("hello", "world"), 0u);
  EXPECT_EQ(partial_suffix("abab", "abac"), 2u);
  EXPECT_EQ(partial_suffix("world", "world"), 0u);  // a full match is not "partial"
  EXPECT_EQ(partial_suffix("a worldwor", "world"), 3u);
  EXPECT_EQ(partial_suffix("x", ""), 0u);
}

TEST(ServerStopMatcher, StopSpanningThreeTokens) {
  auto r = feed({"STOP"}, {"abc S", "T", "Op", "more"});  // no match: case differs
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, "abc STOpmore");
  r = feed({"STOP"}, {"abc S", "T", "O", "P tail", "never"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "abc ");
  // The held-back "S", "ST", "STO" never reach the client.
  EXPECT_EQ(r.emitted, (std::vector<std::string>{"abc ", "", "", ""}));
}

TEST(ServerStopMatcher, PartialMatchThatFailsLater) {
  auto r = feed({"</end>"}, {"x </e", "n", "x y"});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.emitted, (std::vector<std::string>{"x ", "", "</enx y"}));
  EXPECT_EQ(r.text, "x </enx y");
  // A failed partial match that itself contains the start of a real match.
  r = feed({"aab"}, {"a", "a", "a", "b", "c"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "a");
}

TEST(ServerStopMatcher, HeldTextReleasedAtEnd) {
  auto r = feed({"STOP"}, {"abc ST"});
  EXPECT_EQ(r.emitted, (std::vector<std::string>{"abc "}));
  EXPECT_EQ(r.text, "abc ST");  // flush releases it
}

TEST(ServerStopMatcher, EarliestOfSeveralStops) {
  auto r = feed({"world", "lo w"}, {"hello world"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "hel");
  r = feed({"\n\n", "###"}, {"a\n", "b##", "#c"});
  EXPECT_EQ(r.text, "a\nb");
}

TEST(ServerStopMatcher, EverySplitGivesTheSameText) {
  const std::string text = "The answer is 4</s>2 and more</s>";
  for (const auto& stops : std::vector<std::vector<std::string>>{{"</s>"}, {"is 4<"}, {"zzz"}, {"re</s>", "2 a"}}) {
    const auto whole = feed(stops, {text});
    for (size_t a = 0; a <= text.size(); ++a)
      for (size_t b = a; b <= text.size(); b += 3) {
        auto r = feed(stops, {text.substr(0, a), text.substr(a, b - a), text.substr(b)});
        EXPECT_EQ(r.text, whole.text) << a << " " << b;
        EXPECT_EQ(r.stopped, whole.stopped);
      }
  }
}

TEST(ServerStopMatcher, NothingAfterStop) {
  StopMatcher m({"x"});
  EXPECT_TRUE(m.push("ax").stopped);
  EXPECT_EQ(m.push("more").text, "");
  EXPECT_EQ(m.flush(), "");
}

}  // namespace
}  // namespace dsv3::server
