#include "tokenizer/tokenizer_writer.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/safetensors.h"
#include "tokenizer/byte_level.h"

namespace dsv3 {

std::vector<SpecialToken> deepseek_special_tokens() {
  return {{"<｜begin▁of▁sentence｜>"}, {"<｜end▁of▁sentence｜>"}, {"<｜▁pad▁｜>"},
          {"<｜User｜>", false},       {"<｜Assistant｜>", false},  {"<think>", false},
          {"</think>", false},        {"<｜tool▁calls▁begin｜>", false}, {"<｜tool▁calls▁end｜>", false},
          {"<｜tool▁call▁begin｜>", false}, {"<｜tool▁call▁end｜>", false}, {"<｜tool▁outputs▁begin｜>", false},
          {"<｜tool▁outputs▁end｜>", false}, {"<｜tool▁output▁begin｜>", false},
          {"<｜tool▁output▁end｜>", false}, {"<｜tool▁sep｜>", false}};
}

std::string deepseek_style_chat_template() {
  return "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
         "{{ bos_token }}{% for message in messages %}"
         "{% if message['role'] == 'system' %}{{ message['content'] }}"
         "{% elif message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}"
         "{% elif message['role'] == 'assistant' %}{{ '<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>' }}"
         "{% endif %}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}";
}

int64_t bpe_tokenizer_size(const BpeTokenizerSpec& spec) {
  return int64_t(spec.specials.size()) + 256 + int64_t(spec.merges.size());
}

namespace {

std::string byte_level(const std::string& bytes) {
  std::string out;
  tok::byte_level_encode(bytes, out);
  return out;
}

// DeepSeek-V3's pre-tokenizer: digits in runs of up to 3, CJK/kana runs, then the GPT-4-style
// word/punctuation/whitespace split, then byte-level mapping (tokenizer.json of the release).
nlohmann::json deepseek_pre_tokenizer() {
  auto split = [](const std::string& re) {
    return nlohmann::json{{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}};
  };
  return {{"type", "Sequence"},
          {"pretokenizers",
           {split("\\p{N}{1,3}"), split("[一-龥぀-ゟ゠-ヿ]+"),
            split("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
                  "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"),
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
}

}  // namespace

void write_bpe_tokenizer(const std::string& dir, const BpeTokenizerSpec& spec) {
  DSV3_CHECK(spec.specials.size() >= 2, "a tokenizer needs at least BOS and EOS special tokens");
  nlohmann::json vocab = nlohmann::json::object(), added = nlohmann::json::array(), merges = nlohmann::json::array();
  int64_t id = 0;
  for (const auto& s : spec.specials) {
    vocab[s.content] = id;
    added.push_back({{"id", id}, {"content", s.content}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", s.special}});
    ++id;
  }
  for (int b = 0; b < 256; ++b) vocab[byte_level(std::string(1, char(b)))] = id++;
  for (const auto& [a, b] : spec.merges) {
    const std::string la = byte_level(a), lb = byte_level(b), merged = byte_level(a + b);
    DSV3_CHECK(!vocab.contains(merged), "duplicate merge result '", merged, "'");
    merges.push_back(la + " " + lb);
    vocab[merged] = id++;
  }
  nlohmann::json model = {{"type", "BPE"},         {"dropout", nullptr},
                          {"unk_token", nullptr},  {"continuing_subword_prefix", nullptr},
                          {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                          {"byte_fallback", false}, {"ignore_merges", false},
                          {"vocab", vocab},        {"merges", merges}};
  nlohmann::json byte_level_pp = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  nlohmann::json tj = {{"version", "1.0"},
                       {"truncation", nullptr},
                       {"padding", nullptr},
                       {"added_tokens", added},
                       {"normalizer", {{"type", "Sequence"}, {"normalizers", nlohmann::json::array()}}},
                       {"pre_tokenizer", deepseek_pre_tokenizer()},
                       {"post_processor", byte_level_pp},
                       {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
                       {"model", model}};
  auto token_obj = [](const std::string& c) {
    return nlohmann::json{{"__type", "AddedToken"}, {"content", c}, {"lstrip", false}, {"normalized", true},
                          {"rstrip", false}, {"single_word", false}};
  };
  nlohmann::json cfg = {{"add_bos_token", true},
                        {"add_eos_token", false},
                        {"bos_token", token_obj(spec.specials[0].content)},
                        {"eos_token", token_obj(spec.specials[1].content)},
                        {"pad_token", token_obj(spec.specials[1].content)},
                        {"clean_up_tokenization_spaces", false},
                        {"legacy", true},
                        {"model_max_length", 131072},
                        {"unk_token", nullptr},
                        {"tokenizer_class", "LlamaTokenizerFast"}};
  if (!spec.chat_template.empty()) cfg["chat_template"] = spec.chat_template;
  write_file_atomic(dir + "/tokenizer.json", tj.dump(1) + "\n");
  write_file_atomic(dir + "/tokenizer_config.json", cfg.dump(2) + "\n");
}

}  // namespace dsv3
