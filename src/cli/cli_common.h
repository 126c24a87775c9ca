// Helpers shared by the subcommands: id-list parsing, JSON Lines input, model defaults.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "model/latent_cache.h"
#include "runtime/sampler.h"

namespace dsv3::cli {

// Parses "1,2,3" (no spaces required, no empty items, every id within int32).
std::vector<int32_t> parse_id_list(const std::string& s);
// Reads one JSON object per non-empty line of stdin; line numbers start at 1 in errors.
// Returns false at end of input.
bool read_json_line(nlohmann::json& out, int64_t& line_no);
// The embedded default model (issue 4): $DSV3_MODEL when set, else models/default next to
// the source tree the executable was built in (<exe>/../models/default), else
// ./models/default. Throws Error listing where it looked when none has a config.json.
std::string default_model_dir();
// `explicit_dir` when given, else default_model_dir().
std::string model_dir_or_default(const std::string& explicit_dir);

// A --threads / -t value: > 0 sizes the global pool (and DSV3_THREADS, which the pool reads when
// it is first created, so the flag wins over the variable); 0 keeps the default. Call it
// before anything uses the pool.
void use_threads(int threads);

// --temperature, --top-k, --top-p, --min-p, --seed (unset ones come from generation_config.json).
void add_sampling_options(CLI::App* cmd, SamplingOverrides& s);

// --kv-cache f32|fp8: the latent cache's row format (model/latent_cache.h). A bad value is an
// Error naming the accepted ones.
void add_kv_cache_option(CLI::App* cmd, LatentFormat& f);

// --speculative mtp --draft N on the serving commands; speculative_draft_of() turns them into
// EngineOptions::speculative_draft (0 without --speculative) or an Error naming the problem.
void add_speculative_options(CLI::App* cmd, std::string& method, int64_t& draft);
int64_t speculative_draft_of(const std::string& method, int64_t draft);

// True when the bytes are valid UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool is_valid_utf8(const std::string& s);

}  // namespace dsv3::cli
