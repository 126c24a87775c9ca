// A DeepSeek-style byte-level tokenizer and token shards of a small synthetic text (20
// documents of jury/court phrases, 10 % validation), shared by the training tests.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tokenizer/tokenizer_writer.h"
#include "train/data_prep.h"

namespace dsv3::test {

struct TrainTextFixture {
  std::string dir, tokenizer, data;
  TrainTextFixture(const std::string& name, int64_t seq_len) {
    dir = make_temp_dir(name);
    tokenizer = dir + "/tok";
    data = dir + "/data";
    std::filesystem::create_directories(tokenizer);
    write_bpe_tokenizer(tokenizer, {deepseek_special_tokens(), {}, deepseek_style_chat_template()});
    std::ofstream f(dir + "/text.jsonl");
    for (int d = 0; d < 20; ++d) {
      std::string text = "Document " + std::to_string(d) + ".";
      for (int w = 0; w < 40; ++w) text += (w * 7 + d) % 3 ? " the jury said" : " county court";
      f << nlohmann::json{{"text", text}}.dump() << "\n";
    }
    f.close();
    PrepareDataOptions o;
    o.tokenizer_dir = tokenizer;
    o.inputs = {dir + "/text.jsonl"};
    o.out_dir = data;
    o.val_fraction = 0.1;
    o.seq_len = seq_len;
    prepare_data(o);
  }
  ~TrainTextFixture() { std::filesystem::remove_all(dir); }
  TrainTextFixture(const TrainTextFixture&) = delete;
  TrainTextFixture& operator=(const TrainTextFixture&) = delete;
};

}  // namespace dsv3::test
