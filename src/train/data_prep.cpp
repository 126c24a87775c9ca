#include "train/data_prep.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <utility>

#include "core/error.h"
#include "core/file_text.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "format/atomic_write.h"
#include "format/safetensors.h"
#include "tokenizer/tokenizer.h"
#include "train/sha256.h"
#include "train/text_corpus.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kSplits[2] = {"train", "val"};
constexpr int64_t kBatchDocs = 256;  // documents encoded in parallel between progress reports

struct DocRef {
  int32_t file;
  DocumentRange range;
};

std::string shard_name(int split, int64_t k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s-%05lld.bin", kSplits[split], (long long)k);
  return buf;
}

// Shard records of an interrupted run whose files still hold exactly what they recorded.
std::vector<json> reusable_shards(const std::string& dir, const json& progress) {
  std::vector<json> kept;
  int next[2] = {0, 0};
  for (const json& s : progress.at("shards")) {
    const int split = s.at("split").get<int>();
    const std::string file = s.at("file").get<std::string>();
    if (file != shard_name(split, next[split])) break;
    std::error_code ec;
    const std::string path = dir + "/" + file;
    if (!fs::exists(path, ec) || int64_t(fs::file_size(path, ec)) != 4 * s.at("tokens").get<int64_t>() ||
        sha256_file(path) != s.at("sha256").get<std::string>())
      break;
    kept.push_back(s);
    ++next[split];
  }
  return kept;
}

}  // namespace

PrepareDataResult prepare_data(const PrepareDataOptions& opt) {
  DSV3_CHECK(!opt.inputs.empty(), "prepare-data needs at least one --input file");
  DSV3_CHECK(opt.val_fraction >= 0 && opt.val_fraction < 1, "--val-fraction must be in [0, 1), got ", opt.val_fraction);
  DSV3_CHECK(opt.seq_len >= 1, "--seq-len must be >= 1");
  DSV3_CHECK(opt.shard_tokens >= 1, "--shard-tokens must be >= 1");
  auto warn = [&](const std::string& s) {
    if (opt.warn) opt.warn(s);
  };

  // Tokenizer and its identity.
  const Tokenizer tok = Tokenizer::load(opt.tokenizer_dir);
  DSV3_CHECK(tok.eos_id().has_value(), opt.tokenizer_dir, ": the tokenizer names no EOS token (tokenizer_config.json eos_token)");
  const uint32_t eos = uint32_t(*tok.eos_id());
  json tok_files = json::object();
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    const std::string p = opt.tokenizer_dir + "/" + f;
    std::error_code ec;
    if (fs::exists(p, ec)) tok_files[f] = sha256_file(p);
  }

  // 1. Index documents.
  std::vector<std::unique_ptr<CorpusFile>> files;
  std::vector<DocRef> docs;
  json inputs = json::array();
  int64_t invalid_total = 0, empty_total = 0;
  for (const std::string& path : opt.inputs) {
    files.push_back(std::make_unique<CorpusFile>(path));
    const CorpusFile& f = *files.back();
    int64_t n = 0, invalid = 0, empty = 0;
    f.for_each_document([&](const DocumentRange& d) {
      const auto text = f.text(d);
      if (!text) {
        ++invalid;
        std::string where = path;  // appended piecewise: GCC 12 -Wrestrict misfires on ":" + string
        if (d.line) where.append(":").append(std::to_string(d.line));
        warn(where + ": invalid UTF-8, document skipped");
      } else if (text->empty()) {
        ++empty;
      } else {
        docs.push_back({int32_t(files.size() - 1), d});
        ++n;
      }
    });
    const std::string_view b = f.bytes();
    inputs.push_back({{"path", path}, {"sha256", sha256_hex(b.data(), b.size())}, {"bytes", b.size()},
                      {"documents", n}, {"invalid_utf8_skipped", invalid}, {"empty_skipped", empty}});
    invalid_total += invalid, empty_total += empty;
  }
  const int64_t n_docs = int64_t(docs.size());

  // 2. Shuffle and split.
  std::vector<int64_t> order(static_cast<size_t>(n_docs));
  for (int64_t i = 0; i < n_docs; ++i) order[size_t(i)] = i;
  Rng rng(opt.seed);
  for (int64_t i = n_docs - 1; i > 0; --i) std::swap(order[size_t(i)], order[size_t(rng.next() % uint64_t(i + 1))]);
  int64_t n_val = std::llround(opt.val_fraction * double(n_docs));
  if (opt.val_fraction > 0 && n_val == 0 && n_docs >= 2) n_val = 1;
  if (n_val >= n_docs && n_docs >= 1) n_val = n_docs - 1;
  std::vector<int64_t> split_docs[2] = {std::vector<int64_t>(order.begin() + n_val, order.end()),
                                        std::vector<int64_t>(order.begin(), order.begin() + n_val)};

  json settings = {{"tokenizer", tok_files}, {"inputs", inputs}, {"seed", opt.seed}, {"val_fraction", opt.val_fraction},
                   {"seq_len", opt.seq_len}, {"shard_tokens", opt.shard_tokens}};
  const std::string fingerprint = sha256_hex(settings.dump());

  // Resume state.
  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  DSV3_CHECK(!ec, "cannot create ", opt.out_dir, ": ", ec.message());
  const std::string manifest_path = opt.out_dir + "/manifest.json", progress_path = opt.out_dir + "/progress.json";
  PrepareDataResult res;
  if (fs::exists(manifest_path, ec)) {
    json m = json::parse(read_file_text(manifest_path), nullptr, false);
    DSV3_CHECK(!m.is_discarded() && m.value("fingerprint", "") == fingerprint, opt.out_dir,
               " already holds data prepared with different inputs or arguments; remove it or choose another --out");
    res.manifest = m;
    res.already_complete = true;
    return res;  // the caller verifies shards with TokenShards::open
  }
  std::vector<json> records;
  if (fs::exists(progress_path, ec)) {
    json p = json::parse(read_file_text(progress_path), nullptr, false);
    DSV3_CHECK(!p.is_discarded() && p.value("fingerprint", "") == fingerprint, opt.out_dir,
               " holds an interrupted run with different inputs or arguments; remove it or choose another --out");
    records = reusable_shards(opt.out_dir, p);
    res.shards_reused = int64_t(records.size());
  }
  for (const auto& e : fs::directory_iterator(opt.out_dir, ec))  // temp files of a killed writer
    if (e.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(e.path(), ec);

  auto save_progress = [&] {
    write_file_atomic(progress_path, json{{"fingerprint", fingerprint}, {"shards", records}}.dump(1) + "\n");
  };

  // 3. Encode and write shards, split by split.
  PrepareProgress prog;
  prog.documents_total = n_docs;
  std::vector<uint32_t> buffer;
  buffer.reserve(size_t(std::min<int64_t>(opt.shard_tokens, int64_t(1) << 26)));
  bool stopped = false;
  for (int split = 0; split < 2 && !stopped; ++split) {
    const std::vector<int64_t>& list = split_docs[split];
    const int64_t nd = int64_t(list.size());
    int64_t shard_k = 0, doc = 0, skip = 0;
    for (const json& r : records)
      if (r.at("split").get<int>() == split) ++shard_k, doc = r.at("end_doc").get<int64_t>(), skip = r.at("end_offset").get<int64_t>();
    prog.documents_done += doc;
    buffer.clear();
    auto write_shard = [&](int64_t end_doc, int64_t end_offset) {
      const std::string file = shard_name(split, shard_k++);
      write_parts_atomic(opt.out_dir + "/" + file, {{buffer.data(), buffer.size() * 4}});
      records.push_back({{"split", split}, {"file", file}, {"tokens", buffer.size()},
                         {"sha256", sha256_hex(buffer.data(), buffer.size() * 4)},
                         {"end_doc", end_doc}, {"end_offset", end_offset}});
      save_progress();
      prog.tokens += int64_t(buffer.size());
      buffer.clear();
      ++res.shards_written;
      if (opt.stop_after_shards >= 0 && res.shards_written >= opt.stop_after_shards) stopped = true;
    };
    std::vector<std::vector<int32_t>> encoded;
    while (doc < nd && !stopped) {
      const int64_t nb = std::min(kBatchDocs, nd - doc);
      encoded.assign(size_t(nb), {});
      std::vector<int64_t> bytes(size_t(nb), 0);
      ThreadPool::global().parallel_for(nb, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const DocRef& d = docs[size_t(list[size_t(doc + b)])];
          const std::string text = *files[size_t(d.file)]->text(d.range);  // validated while indexing
          encoded[size_t(b)] = tok.encode(text, true);
          encoded[size_t(b)].push_back(int32_t(eos));
          bytes[size_t(b)] = int64_t(text.size());
        }
      });
      for (int64_t b = 0; b < nb && !stopped; ++b) {
        const std::vector<int32_t>& t = encoded[size_t(b)];
        for (int64_t i = std::exchange(skip, 0); i < int64_t(t.size()) && !stopped;) {
          const int64_t take = std::min(int64_t(t.size()) - i, opt.shard_tokens - int64_t(buffer.size()));
          buffer.insert(buffer.end(), t.begin() + i, t.begin() + i + take);
          i += take;
          if (int64_t(buffer.size()) == opt.shard_tokens) {
            if (i == int64_t(t.size())) write_shard(doc + b + 1, 0);
            else write_shard(doc + b, i);
          }
        }
        prog.bytes += bytes[size_t(b)];
        ++prog.documents_done;
      }
      doc += nb;
      if (opt.progress) opt.progress(prog);
    }
    if (!stopped && !buffer.empty()) write_shard(nd, 0);
  }
  if (stopped) return res;

  // 4. Manifest.
  json splits = json::object();
  for (int split = 0; split < 2; ++split) {
    json shards = json::array();
    int64_t tokens = 0;
    for (const json& r : records)
      if (r.at("split").get<int>() == split) {
        shards.push_back({{"file", r["file"]}, {"tokens", r["tokens"]}, {"sha256", r["sha256"]}});
        tokens += r["tokens"].get<int64_t>();
      }
    splits[kSplits[split]] = {{"documents", split_docs[split].size()}, {"tokens", tokens}, {"shards", shards}};
    if (tokens < opt.seq_len + 1 && !split_docs[split].empty())
      warn(std::string(kSplits[split]) + " split has " + std::to_string(tokens) + " tokens, fewer than seq_len + 1 = " +
           std::to_string(opt.seq_len + 1) + " (sequences will wrap around)");
  }
  json tokenizer = {{"files_sha256", tok_files}, {"hash", tok_files.value("tokenizer.json", "")},
                    {"vocab_size", tok.vocab_size()}, {"eos_id", eos},
                    {"bos_id", tok.bos_id() ? json(*tok.bos_id()) : json(nullptr)}};
  res.manifest = {{"format", "dsv3-token-shards"},
                  {"version", 1},
                  {"dtype", "uint32"},
                  {"byte_order", "little"},
                  {"document_layout", "BOS (if the tokenizer adds one) + encode(text) + EOS"},
                  {"tokenizer", tokenizer},
                  {"tokenizer_dir", opt.tokenizer_dir},
                  {"seed", opt.seed},
                  {"seq_len", opt.seq_len},
                  {"val_fraction", opt.val_fraction},
                  {"shard_tokens", opt.shard_tokens},
                  {"shuffle", "Fisher-Yates over valid documents in --input order, Rng(seed) = xoshiro256**"},
                  {"inputs", inputs},
                  {"documents", {{"valid", n_docs}, {"invalid_utf8_skipped", invalid_total}, {"empty_skipped", empty_total}}},
                  {"splits", splits},
                  {"fingerprint", fingerprint}};
  write_file_atomic(manifest_path, res.manifest.dump(2) + "\n");
  fs::remove(progress_path, ec);
  prog.finished = true;
  if (opt.progress) opt.progress(prog);
  return res;
}

}  // namespace dsv3
