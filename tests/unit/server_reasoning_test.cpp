// R1 reasoning split: pieces of every size concatenate to the whole-text split.
#include <gtest/gtest.h>

#include "server/reasoning.h"

namespace dsv3::server {
namespace {

ReasoningSplitter::Delta split(const std::string& text, bool in_reasoning, size_t piece) {
  ReasoningSplitter s(in_reasoning);
  ReasoningSplitter::Delta all;
  for (size_t i = 0; i < text.size(); i += piece) {
    auto d = s.push(text.substr(i, piece));
    all.reasoning += d.reasoning;
    all.content += d.content;
  }
  auto d = s.flush();
  all.reasoning += d.reasoning;
  all.content += d.content;
  return all;
}

TEST(ServerReasoning, PromptOpensReasoning) {
  EXPECT_TRUE(prompt_opens_reasoning("<｜User｜>hi<｜Assistant｜><think>\n"));
  EXPECT_TRUE(prompt_opens_reasoning("x<think>"));
  EXPECT_FALSE(prompt_opens_reasoning("<｜Assistant｜></think>"));  // V3.1 non-thinking
  EXPECT_FALSE(prompt_opens_reasoning("<｜Assistant｜>"));
}

TEST(ServerReasoning, Splits) {
  auto d = split("Let me think.\nOK.\n</think>\n\nThe answer is 4.", true, 1000);
  EXPECT_EQ(d.reasoning, "Let me think.\nOK.\n");
  EXPECT_EQ(d.content, "The answer is 4.");
  d = split("\n<think>\nhmm</think>yes", false, 1000);  // the model opens <think> itself
  EXPECT_EQ(d.reasoning, "hmm");
  EXPECT_EQ(d.content, "yes");
  d = split("plain answer </think> x", false, 1000);  // no opening tag: all content
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "plain answer </think> x");
  d = split("still thinking </thi", true, 1000);  // cut off by the length limit
  EXPECT_EQ(d.reasoning, "still thinking </thi");
  EXPECT_EQ(d.content, "");
  d = split("<thin", false, 1000);
  EXPECT_EQ(d.content, "<thin");
  d = split("  ", false, 1000);
  EXPECT_EQ(d.content, "  ");
}

TEST(ServerReasoning, EveryPieceSizeGivesTheSameSplit) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"step 1 </ step 2 </think>\n\nanswer </think> again", true},
      {"\n\n<think>\n\nr</thinkx</think>\n\n\nc\n", false},
      {"<th>not a tag", false},
      {"é</think>ü", true},
  };
  for (const auto& [text, in] : cases) {
    const auto whole = split(text, in, text.size() + 1);
    for (size_t piece = 1; piece <= text.size(); ++piece) {
      const auto d = split(text, in, piece);
      EXPECT_EQ(d.reasoning, whole.reasoning) << text << " piece " << piece;
      EXPECT_EQ(d.content, whole.content) << text << " piece " << piece;
    }
  }
}

}  // namespace
}  // namespace dsv3::server
