#include "train/brown_corpus.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/file_text.h"

namespace dsv3 {
namespace {

struct Token {
  std::string_view word, tag;
};

std::vector<Token> split_tokens(std::string_view line) {
  std::vector<Token> out;
  size_t pos = 0;
  while (pos < line.size()) {
    pos = line.find_first_not_of(" \t\r", pos);
    if (pos == std::string_view::npos) break;
    size_t end = line.find_first_of(" \t\r", pos);
    if (end == std::string_view::npos) end = line.size();
    const std::string_view t = line.substr(pos, end - pos);
    const size_t slash = t.rfind('/');
    if (slash == std::string_view::npos || slash == 0) out.push_back({t, {}});
    else out.push_back({t.substr(0, slash), t.substr(slash + 1)});
    pos = end;
  }
  return out;
}

bool is_headline(const std::vector<Token>& tokens) {
  return !tokens.empty() && std::all_of(tokens.begin(), tokens.end(), [](const Token& t) {
           return t.tag.size() >= 3 && t.tag.substr(t.tag.size() - 3) == "-hl";
         });
}

// Builds one paragraph, deciding the space before each word from its role.
class Paragraph {
 public:
  void add(std::string_view w) {
    bool closer = w == "," || w == "." || w == ";" || w == ":" || w == "?" || w == "!" || w == ")" || w == "''";
    bool opener = w == "``" || w == "(";
    if (w == "'") {
      closer = single_open_;
      opener = !single_open_;
      single_open_ = !single_open_;
    }
    if (w == "." && !text_.empty() && text_.back() == '.') return;  // "Jr." ends the sentence
    // The tagged files repeat a mark that ends a sentence (`Ann/np ;/. ;/.`, `?/. ?/.`).
    if ((w == ";" || w == "?" || w == "!" || w == ":" || w == ",") && w == last_) return;
    last_ = w;
    if ((w == "," || w == ".") && after_close_quote_) {
      // Brown tokens put them after the quote; American print puts them inside: ," ."
      text_.insert(text_.size() - 1, w);
      after_close_quote_ = false;
      return;
    }
    after_close_quote_ = w == "''";
    if (!text_.empty() && !closer && !glue_next_) text_ += ' ';
    text_ += (w == "``" || w == "''") ? std::string_view("\"") : w;
    glue_next_ = opener;
  }
  void sentence_break() { glue_next_ = false; }
  bool empty() const { return text_.empty(); }
  std::string take() {
    single_open_ = glue_next_ = after_close_quote_ = false;
    last_ = {};
    return std::move(text_);
  }

 private:
  std::string text_;
  bool glue_next_ = false, single_open_ = false, after_close_quote_ = false;
  std::string_view last_;  // previous token (views into the tagged text)
};

bool is_brown_name(const std::string& n) {
  return n.size() == 4 && n[0] == 'c' && n[1] >= 'a' && n[1] <= 'r' && std::isdigit((unsigned char)n[2]) &&
         std::isdigit((unsigned char)n[3]);
}

}  // namespace

std::string brown_to_text(std::string_view tagged) {
  std::vector<std::string> paragraphs;
  Paragraph para;
  auto flush = [&] {
    if (!para.empty()) paragraphs.push_back(para.take());
  };
  for (size_t pos = 0; pos <= tagged.size();) {
    size_t end = tagged.find('\n', pos);
    if (end == std::string_view::npos) end = tagged.size();
    const std::string_view line = tagged.substr(pos, end - pos);
    pos = end + 1;
    const std::vector<Token> tokens = split_tokens(line);
    if (tokens.empty()) continue;
    const bool headline = is_headline(tokens);
    if (headline || line[0] == '\t') flush();
    para.sentence_break();
    for (const Token& t : tokens) para.add(t.word);
    if (headline) flush();
  }
  flush();
  std::string out;
  for (size_t i = 0; i < paragraphs.size(); ++i) out += (i ? "\n\n" : "") + paragraphs[i];
  return out;
}

std::vector<BrownDocument> read_brown_corpus(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  DSV3_CHECK(fs::is_directory(dir, ec), "cannot read ", dir, ": not a directory");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (is_brown_name(e.path().filename().string())) names.push_back(e.path().filename().string());
  DSV3_CHECK(!ec, "cannot list ", dir, ": ", ec.message());
  DSV3_CHECK(!names.empty(), dir, " holds no Brown corpus files (ca01 ... cr09); run scripts/fetch_corpus.sh");
  std::sort(names.begin(), names.end());
  std::map<std::string, std::string> cats;
  if (fs::exists(dir + "/cats.txt", ec)) {
    std::istringstream is(read_file_text(dir + "/cats.txt"));
    std::string id, cat;
    while (is >> id >> cat) cats[id] = cat;
  }
  std::vector<BrownDocument> docs;
  for (const std::string& n : names)
    docs.push_back({n, cats.count(n) ? cats[n] : "", brown_to_text(read_file_text(dir + "/" + n))});
  return docs;
}

}  // namespace dsv3
