#include "cli/cli_common.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "core/thread_pool.h"

namespace dsv3::cli {

std::vector<int32_t> parse_id_list(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    DSV3_CHECK(!item.empty() && ec == std::errc() && p == item.data() + item.size() && v >= 0 && v <= INT32_MAX,
               "invalid token id '", item, "' in --ids (expected comma-separated non-negative integers)");
    ids.push_back(int32_t(v));
    i = j + 1;
  }
  return ids;
}

bool read_json_line(nlohmann::json& out, int64_t& line_no) {
  std::string line;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    DSV3_CHECK(is_valid_utf8(line), "stdin line ", line_no, ": input is not valid UTF-8");
    out = nlohmann::json::parse(line, nullptr, false);
    DSV3_CHECK(!out.is_discarded(), "stdin line ", line_no, ": not valid JSON");
    DSV3_CHECK(out.is_object(), "stdin line ", line_no, ": expected a JSON object");
    return true;
  }
  return false;
}

std::string default_model_dir() {
  namespace fs = std::filesystem;
  std::vector<std::string> tried;
  if (const char* env = std::getenv("DSV3_MODEL"); env && *env) {
    if (fs::exists(fs::path(env) / "config.json")) return env;
    tried.push_back(std::string(env) + " ($DSV3_MODEL)");
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path p = exe.parent_path().parent_path() / "models" / "default";
    if (fs::exists(p / "config.json")) return p.string();
    tried.push_back(p.string());
  }
  if (fs::exists(fs::path("models/default/config.json"))) return "models/default";
  tried.push_back("./models/default");
  std::string where;
  for (const auto& t : tried) where += (where.empty() ? "" : ", ") + t;
  fail("no --model given and no default model found (looked in ", where, ")");
}

std::string model_dir_or_default(const std::string& explicit_dir) {
  return explicit_dir.empty() ? default_model_dir() : explicit_dir;
}

void use_threads(int threads) {
  if (threads <= 0) return;
  ::setenv("DSV3_THREADS", std::to_string(threads).c_str(), 1);
  ThreadPool::set_global_threads(threads);
}

void add_sampling_options(CLI::App* cmd, SamplingOverrides& s) {
  cmd->add_option("--temperature", s.temperature, "Sampling temperature (0 = greedy)");
  cmd->add_option("--top-k", s.top_k, "Keep the K most likely tokens (0 = off)");
  cmd->add_option("--top-p", s.top_p, "Nucleus sampling mass (1 = off)");
  cmd->add_option("--min-p", s.min_p, "Drop tokens below min-p x the top probability (0 = off)");
  cmd->add_option("--seed", s.seed, "Random seed (same seed, same output)");
}

void add_kv_cache_option(CLI::App* cmd, LatentFormat& f) {
  cmd->add_option_function<std::string>(
      "--kv-cache", [&f](const std::string& s) { f = parse_latent_format(s); },
      "Latent cache rows: f32 (default) or fp8 (e4m3 latent with a scale per 128 values, bf16 rope key; "
      "3.5x fewer bytes per token)");
}

void add_speculative_options(CLI::App* cmd, std::string& method, int64_t& draft) {
  cmd->add_option("--speculative", method, "Speculative decoding: mtp (the model's MTP module drafts)");
  cmd->add_option("--draft", draft, "Tokens drafted per step with --speculative (default 2, at most 16)");
}

int64_t speculative_draft_of(const std::string& method, int64_t draft) {
  if (method.empty()) return 0;
  DSV3_CHECK(method == "mtp", "--speculative: only 'mtp' is supported, got '", method, "'");
  DSV3_CHECK(draft >= 1 && draft <= 16, "--draft must be in [1, 16], got ", draft);
  return draft;
}

bool is_valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) { ++i; continue; }
    int len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + size_t(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      if ((p[i + size_t(k)] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + size_t(k)] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += size_t(len);
  }
  return true;
}

}  // namespace dsv3::cli
