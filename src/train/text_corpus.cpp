#include "train/text_corpus.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace dsv3 {

CorpusFormat corpus_format(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  return ext == ".jsonl" || ext == ".ndjson" ? CorpusFormat::JsonLines : CorpusFormat::Text;
}

namespace {

// MappedFile's own error is fine for missing files; an empty file may not map at all, and a
// directory must be named as such, so check those first for a clear one-line message.
void check_readable(const std::string& path) {
  std::error_code ec;
  DSV3_CHECK(std::filesystem::exists(path, ec), "cannot read ", path, ": no such file");
  DSV3_CHECK(!std::filesystem::is_directory(path, ec), "cannot read ", path, ": is a directory");
  std::ifstream f(path, std::ios::binary);
  DSV3_CHECK(f.good(), "cannot read ", path, ": ", std::strerror(errno));
}

}  // namespace

CorpusFile::CorpusFile(const std::string& path) : path_(path), format_(corpus_format(path)) {
  check_readable(path);
  std::error_code ec;
  if (std::filesystem::file_size(path, ec) > 0) {
    try {
      map_ = MappedFile(path);
    } catch (const Error& e) {
      fail("cannot read ", path, ": ", e.what());
    }
  }
}

std::string_view CorpusFile::bytes() const {
  return {reinterpret_cast<const char*>(map_.data()), map_.size()};
}

void CorpusFile::for_each_document(const std::function<void(const DocumentRange&)>& fn) const {
  const std::string_view b = bytes();
  if (format_ == CorpusFormat::Text) {
    fn({0, b.size(), 0});
    return;
  }
  int64_t line = 0;
  for (size_t pos = 0; pos < b.size();) {
    size_t end = b.find('\n', pos);
    if (end == std::string_view::npos) end = b.size();
    ++line;
    const std::string_view l = b.substr(pos, end - pos);
    if (l.find_first_not_of(" \t\r") != std::string_view::npos) fn({pos, end - pos, line});
    pos = end + 1;
  }
}

std::optional<std::string> CorpusFile::text(const DocumentRange& d) const {
  const std::string_view raw = bytes().substr(d.offset, d.size);
  if (!tok::utf8_is_valid(raw)) return std::nullopt;
  if (format_ == CorpusFormat::Text) return std::string(raw);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(raw);
  } catch (const nlohmann::json::parse_error& e) {
    if (std::strstr(e.what(), "surrogate")) return std::nullopt;
    fail(path_, ":", d.line, ": invalid JSON: ", e.what());
  }
  DSV3_CHECK(j.is_object() && j.contains("text"), path_, ":", d.line, ": expected an object with a \"text\" field");
  DSV3_CHECK(j["text"].is_string(), path_, ":", d.line, ": \"text\" must be a string");
  return j["text"].get<std::string>();
}

void for_each_line(std::string_view text, const std::function<void(std::string_view)>& fn) {
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    end = end == std::string_view::npos ? text.size() : end + 1;
    fn(text.substr(pos, end - pos));
    pos = end;
  }
}

}  // namespace dsv3
