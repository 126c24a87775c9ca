// config.json parsing: the published DeepSeek-V3 and V2-Lite configs, defaults, every
// required field, type errors, consistency rules, and the to_json round trip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "format/model_config.h"
#include "test_util.h"

namespace dsv3 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// deepseek-ai/DeepSeek-V3 config.json (auto_map omitted: not read by dsv3).
const char* kDeepSeekV3 = R"({
  "architectures": ["DeepseekV3ForCausalLM"],
  "attention_bias": false, "attention_dropout": 0.0, "aux_loss_alpha": 0.001,
  "bos_token_id": 0, "eos_token_id": 1, "ep_size": 1, "first_k_dense_replace": 3,
  "hidden_act": "silu", "hidden_size": 7168, "initializer_range": 0.02,
  "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 163840,
  "model_type": "deepseek_v3", "moe_intermediate_size": 2048, "moe_layer_freq": 1,
  "n_group": 8, "n_routed_experts": 256, "n_shared_experts": 1, "norm_topk_prob": true,
  "num_attention_heads": 128, "num_experts_per_tok": 8, "num_hidden_layers": 61,
  "num_key_value_heads": 128, "num_nextn_predict_layers": 1, "pretraining_tp": 1,
  "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "weight_block_size": [128, 128]},
  "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                   "original_max_position_embeddings": 4096, "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "seq_aux": true,
  "tie_word_embeddings": false, "topk_group": 4, "topk_method": "noaux_tc", "torch_dtype": "bfloat16",
  "transformers_version": "4.33.1", "use_cache": true, "v_head_dim": 128, "vocab_size": 129280
})";

// deepseek-ai/DeepSeek-V2-Lite config.json (auto_map omitted).
const char* kDeepSeekV2Lite = R"({
  "architectures": ["DeepseekV2ForCausalLM"],
  "attention_bias": false, "attention_dropout": 0.0, "aux_loss_alpha": 0.001,
  "bos_token_id": 100000, "eos_token_id": 100001, "first_k_dense_replace": 1,
  "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
  "intermediate_size": 10944, "kv_lora_rank": 512, "max_position_embeddings": 163840,
  "model_type": "deepseek_v2", "moe_intermediate_size": 1408, "moe_layer_freq": 1,
  "n_group": 1, "n_routed_experts": 64, "n_shared_experts": 2, "norm_topk_prob": false,
  "num_attention_heads": 16, "num_experts_per_tok": 6, "num_hidden_layers": 27,
  "num_key_value_heads": 16, "pretraining_tp": 1, "q_lora_rank": null,
  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707,
                   "original_max_position_embeddings": 4096, "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 1.0, "scoring_func": "softmax", "seq_aux": true,
  "tie_word_embeddings": false, "topk_group": 1, "topk_method": "greedy", "torch_dtype": "bfloat16",
  "transformers_version": "4.33.1", "use_cache": true, "v_head_dim": 128, "vocab_size": 102400
})";

// Smallest valid configs: only the required fields.
json minimal(const char* arch = "DeepseekV3ForCausalLM") {
  return {{"architectures", {arch}},  {"vocab_size", 64},      {"hidden_size", 32},
          {"intermediate_size", 48},  {"num_hidden_layers", 2}, {"num_attention_heads", 4},
          {"kv_lora_rank", 16},       {"qk_rope_head_dim", 8},  {"qk_nope_head_dim", 8},
          {"v_head_dim", 8},          {"n_routed_experts", 8},  {"n_group", 2},
          {"topk_group", 1},          {"moe_intermediate_size", 16}, {"num_experts_per_tok", 2}};
}

ModelConfig parse(const json& j) { return parse_model_config(j.dump(), "test/config.json"); }

using test::expect_error;

void expect_bad(const json& j, const std::vector<std::string>& needles) {
  std::vector<std::string> all = needles;
  all.push_back("test/config.json");
  expect_error([&] { parse(j); }, all);
}

TEST(FormatConfig, DeepSeekV3Published) {
  ModelConfig c = parse_model_config(kDeepSeekV3, "v3/config.json");
  EXPECT_EQ(c.architecture, "DeepseekV3ForCausalLM");
  EXPECT_EQ(c.model_type, "deepseek_v3");
  EXPECT_FALSE(c.is_v2());
  EXPECT_EQ(c.vocab_size, 129280);
  EXPECT_EQ(c.hidden_size, 7168);
  EXPECT_EQ(c.intermediate_size, 18432);
  EXPECT_EQ(c.moe_intermediate_size, 2048);
  EXPECT_EQ(c.num_hidden_layers, 61);
  EXPECT_EQ(c.num_attention_heads, 128);
  EXPECT_EQ(c.num_key_value_heads, 128);
  EXPECT_EQ(c.q_lora_rank, 1536);
  EXPECT_EQ(c.kv_lora_rank, 512);
  EXPECT_EQ(c.qk_rope_head_dim, 64);
  EXPECT_EQ(c.qk_nope_head_dim, 128);
  EXPECT_EQ(c.qk_head_dim(), 192);
  EXPECT_EQ(c.v_head_dim, 128);
  EXPECT_EQ(c.n_routed_experts, 256);
  EXPECT_EQ(c.n_shared_experts, 1);
  EXPECT_EQ(c.num_experts_per_tok, 8);
  EXPECT_EQ(c.n_group, 8);
  EXPECT_EQ(c.topk_group, 4);
  EXPECT_EQ(c.topk_method, "noaux_tc");
  EXPECT_EQ(c.scoring_func, "sigmoid");
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_DOUBLE_EQ(c.routed_scaling_factor, 2.5);
  EXPECT_EQ(c.first_k_dense_replace, 3);
  EXPECT_EQ(c.moe_layer_freq, 1);
  EXPECT_FALSE(c.is_moe_layer(2));
  EXPECT_TRUE(c.is_moe_layer(3));
  EXPECT_EQ(c.num_nextn_predict_layers, 1);
  EXPECT_EQ(c.max_position_embeddings, 163840);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, "yarn");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 40.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.rope_scaling.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.beta_slow, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.mscale, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.mscale_all_dim, 1.0);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_EQ(c.eos_token_id, 1);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  ASSERT_TRUE(c.quantization_config.has_value());
  EXPECT_EQ(c.quantization_config->quant_method, "fp8");
  EXPECT_EQ(c.quantization_config->fmt, "e4m3");
  EXPECT_EQ(c.quantization_config->activation_scheme, "dynamic");
  EXPECT_EQ(c.quantization_config->block_rows, 128);
  EXPECT_EQ(c.quantization_config->block_cols, 128);
  EXPECT_EQ(c.raw.at("ep_size"), 1);  // unknown fields survive in raw
}

TEST(FormatConfig, DeepSeekV2LitePublished) {
  ModelConfig c = parse_model_config(kDeepSeekV2Lite, "v2/config.json");
  EXPECT_TRUE(c.is_v2());
  EXPECT_EQ(c.model_type, "deepseek_v2");
  EXPECT_FALSE(c.q_lora_rank.has_value());
  EXPECT_EQ(c.scoring_func, "softmax");
  EXPECT_EQ(c.topk_method, "greedy");
  EXPECT_EQ(c.n_group, 1);
  EXPECT_EQ(c.topk_group, 1);
  EXPECT_EQ(c.n_routed_experts, 64);
  EXPECT_EQ(c.n_shared_experts, 2);
  EXPECT_EQ(c.num_experts_per_tok, 6);
  EXPECT_EQ(c.moe_intermediate_size, 1408);
  EXPECT_FALSE(c.norm_topk_prob);
  EXPECT_DOUBLE_EQ(c.routed_scaling_factor, 1.0);
  EXPECT_EQ(c.first_k_dense_replace, 1);
  EXPECT_EQ(c.num_nextn_predict_layers, 0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.mscale, 0.707);
  EXPECT_DOUBLE_EQ(c.rope_scaling.mscale_all_dim, 0.707);
  EXPECT_EQ(c.bos_token_id, 100000);
  EXPECT_EQ(c.eos_token_id, 100001);
  EXPECT_FALSE(c.quantization_config.has_value());
}

TEST(FormatConfig, DefaultsDependOnArchitecture) {
  ModelConfig v3 = parse(minimal());
  EXPECT_EQ(v3.model_type, "deepseek_v3");
  EXPECT_EQ(v3.topk_method, "noaux_tc");
  EXPECT_EQ(v3.scoring_func, "sigmoid");
  EXPECT_TRUE(v3.norm_topk_prob);
  EXPECT_DOUBLE_EQ(v3.routed_scaling_factor, 2.5);
  EXPECT_EQ(v3.first_k_dense_replace, 3);
  EXPECT_EQ(v3.n_shared_experts, 1);
  EXPECT_EQ(v3.q_lora_rank, 1536);
  EXPECT_EQ(v3.num_key_value_heads, 4);
  EXPECT_EQ(v3.moe_layer_freq, 1);
  EXPECT_EQ(v3.num_nextn_predict_layers, 0);
  EXPECT_EQ(v3.max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(v3.rope_theta, 10000.0);
  EXPECT_TRUE(v3.rope_scaling.type.empty());
  EXPECT_DOUBLE_EQ(v3.rms_norm_eps, 1e-6);
  EXPECT_EQ(v3.hidden_act, "silu");
  EXPECT_EQ(v3.bos_token_id, 0);
  EXPECT_EQ(v3.eos_token_id, 1);
  EXPECT_TRUE(v3.torch_dtype.empty());

  json j2 = minimal("DeepseekV2ForCausalLM");
  j2.erase("n_group");
  j2.erase("topk_group");
  ModelConfig v2 = parse(j2);
  EXPECT_EQ(v2.model_type, "deepseek_v2");
  EXPECT_EQ(v2.topk_method, "greedy");
  EXPECT_EQ(v2.scoring_func, "softmax");
  EXPECT_FALSE(v2.norm_topk_prob);
  EXPECT_DOUBLE_EQ(v2.routed_scaling_factor, 1.0);
  EXPECT_EQ(v2.first_k_dense_replace, 0);
  EXPECT_EQ(v2.n_shared_experts, 2);
  EXPECT_EQ(v2.n_group, 1);
  EXPECT_EQ(v2.topk_group, 1);
  EXPECT_EQ(v2.max_position_embeddings, 2048);
}

TEST(FormatConfig, NullMeansDefaultOrNone) {
  json j = minimal();
  j["q_lora_rank"] = nullptr;
  j["rope_scaling"] = nullptr;
  j["quantization_config"] = nullptr;
  j["bos_token_id"] = nullptr;
  j["eos_token_id"] = {7, 8};
  j["n_group"] = nullptr;  // => transformers' V3 defaults 8 and 4
  j["topk_group"] = nullptr;
  ModelConfig c = parse(j);
  EXPECT_FALSE(c.q_lora_rank.has_value());
  EXPECT_TRUE(c.rope_scaling.type.empty());
  EXPECT_FALSE(c.quantization_config.has_value());
  EXPECT_FALSE(c.bos_token_id.has_value());
  EXPECT_EQ(c.eos_token_id, 7);
  EXPECT_EQ(c.n_group, 8);
  EXPECT_EQ(c.topk_group, 4);
}

TEST(FormatConfig, NullRoutedExpertsMeansDense) {
  json j = minimal();
  j["n_routed_experts"] = nullptr;
  j.erase("moe_intermediate_size");
  j.erase("num_experts_per_tok");
  ModelConfig c = parse(j);
  EXPECT_EQ(c.n_routed_experts, 0);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) EXPECT_FALSE(c.is_moe_layer(l));
  j["n_routed_experts"] = 0;
  EXPECT_EQ(parse(j).n_routed_experts, 0);
}

TEST(FormatConfig, ArchitectureFromModelTypeWhenAbsent) {
  json j = minimal();
  j.erase("architectures");
  j["model_type"] = "deepseek_v2";
  EXPECT_EQ(parse(j).architecture, "DeepseekV2ForCausalLM");
  j.erase("model_type");
  expect_bad(j, {"missing field architectures"});
}

TEST(FormatConfig, UnsupportedArchitecture) {
  json j = minimal("LlamaForCausalLM");
  expect_error([&] { parse(j); }, {"unsupported architecture LlamaForCausalLM in test/config.json; expected "
                                   "DeepseekV3ForCausalLM or DeepseekV2ForCausalLM"});
  j["architectures"] = json::array();
  expect_bad(j, {"architectures"});
  j["architectures"] = "DeepseekV3ForCausalLM";
  expect_bad(j, {"architectures"});
}

TEST(FormatConfig, EveryRequiredFieldIsRequired) {
  for (const char* k : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                        "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim",
                        "moe_intermediate_size", "num_experts_per_tok"}) {
    json j = minimal();
    j.erase(k);
    expect_error([&] { parse(j); }, {std::string("config test/config.json: missing field ") + k});
  }
  json j = minimal();
  j["num_experts_per_tok"] = nullptr;
  expect_bad(j, {"missing field num_experts_per_tok"});
}

TEST(FormatConfig, NotJsonOrNotObject) {
  expect_error([] { parse_model_config("{\"vocab_size\": ", "x/config.json"); },
               {"config x/config.json is not valid JSON"});
  expect_error([] { parse_model_config("", "x/config.json"); }, {"not valid JSON"});
  expect_error([] { parse_model_config("[1]", "x/config.json"); }, {"config x/config.json is not a JSON object"});
}

TEST(FormatConfig, WrongJsonTypes) {
  auto with = [](const char* k, json v) {
    json j = minimal();
    j[k] = std::move(v);
    return j;
  };
  expect_bad(with("hidden_size", "big"), {"field hidden_size must be an integer, got string"});
  expect_bad(with("hidden_size", 32.5), {"field hidden_size must be an integer"});
  expect_bad(with("hidden_size", nullptr), {"field hidden_size must be an integer, got null"});
  expect_bad(with("q_lora_rank", "x"), {"field q_lora_rank"});
  expect_bad(with("n_group", true), {"field n_group must be an integer"});
  expect_bad(with("norm_topk_prob", "yes"), {"field norm_topk_prob must be true or false"});
  expect_bad(with("rope_theta", "10000"), {"field rope_theta must be a number"});
  expect_bad(with("scoring_func", 1), {"field scoring_func must be a string"});
  expect_bad(with("rope_scaling", "yarn"), {"field rope_scaling must be an object"});
  expect_bad(with("quantization_config", 8), {"field quantization_config must be an object"});
  expect_bad(with("rope_scaling", json{{"type", "yarn"}, {"factor", "40"}}), {"rope_scaling.factor must be a number"});
  expect_bad(with("vocab_size", 18446744073709551615ull), {"field vocab_size is too large"});
}

TEST(FormatConfig, NonPositiveSizes) {
  for (const char* k : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                        "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim",
                        "moe_intermediate_size", "num_experts_per_tok", "q_lora_rank", "n_group",
                        "max_position_embeddings", "moe_layer_freq"}) {
    json j = minimal();
    j[k] = 0;
    expect_bad(j, {std::string("field ") + k + " must be positive, got 0"});
    j[k] = -4;
    expect_bad(j, {std::string("field ") + k, "-4"});
  }
  json j = minimal();
  j["rms_norm_eps"] = 0.0;
  expect_bad(j, {"rms_norm_eps must be positive"});
  j = minimal();
  j["n_shared_experts"] = -1;
  expect_bad(j, {"n_shared_experts must not be negative"});
  j = minimal();
  j["qk_rope_head_dim"] = 7;
  expect_bad(j, {"qk_rope_head_dim must be even"});
}

TEST(FormatConfig, MoeConsistency) {
  json j = minimal();
  j["topk_group"] = 3;
  expect_bad(j, {"topk_group (3) exceeds n_group (2)"});
  j = minimal();
  j["n_routed_experts"] = 9;
  expect_bad(j, {"n_routed_experts (9) is not divisible by n_group (2)"});
  j = minimal();
  j["num_experts_per_tok"] = 9;
  expect_bad(j, {"num_experts_per_tok (9) exceeds n_routed_experts (8)"});
  j = minimal();  // 2 groups of 4, 1 group kept: at most 4 experts reachable
  j["num_experts_per_tok"] = 5;
  expect_bad(j, {"num_experts_per_tok (5) exceeds topk_group * n_routed_experts / n_group (4)"});
  j["topk_group"] = 2;
  EXPECT_EQ(parse(j).num_experts_per_tok, 5);
}

TEST(FormatConfig, UnsupportedChoices) {
  auto with = [](const char* k, json v) {
    json j = minimal();
    j[k] = std::move(v);
    return j;
  };
  expect_bad(with("scoring_func", "relu"), {"scoring_func", "relu"});
  expect_bad(with("topk_method", "random"), {"topk_method", "random"});
  EXPECT_EQ(parse(with("topk_method", "group_limited_greedy")).topk_method, "group_limited_greedy");
  expect_bad(with("hidden_act", "gelu"), {"hidden_act", "gelu"});
  expect_bad(with("attention_bias", true), {"attention_bias"});
  expect_bad(with("rope_scaling", json{{"type", "linear"}, {"factor", 2}}), {"rope_scaling.type", "linear"});
  expect_bad(with("rope_scaling", json{{"factor", 2}}), {"missing field rope_scaling.type"});
  expect_bad(with("rope_scaling", json{{"type", "yarn"}}), {"missing field rope_scaling.factor"});
  expect_bad(with("rope_scaling", json{{"type", "yarn"}, {"rope_type", "linear"}, {"factor", 2}}), {"disagrees"});
  expect_bad(with("rope_scaling", json{{"type", "yarn"}, {"factor", 0.5}}), {"rope_scaling.factor must be >= 1"});
}

TEST(FormatConfig, RopeParametersFromTransformersV5) {
  json j = minimal();
  j["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 50000}, {"factor", 4}, {"mscale_all_dim", 0.707},
                          {"original_max_position_embeddings", 512}};
  ModelConfig c = parse(j);
  EXPECT_EQ(c.rope_scaling.type, "yarn");
  EXPECT_DOUBLE_EQ(c.rope_theta, 50000.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 512);
  EXPECT_DOUBLE_EQ(c.rope_scaling.mscale, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.beta_slow, 1.0);
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 20000.0}};
  c = parse(j);
  EXPECT_TRUE(c.rope_scaling.type.empty());
  EXPECT_DOUBLE_EQ(c.rope_theta, 20000.0);
}

TEST(FormatConfig, QuantizationConfig) {
  json j = minimal();
  j["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", {64, 32}}};
  auto q = parse(j).quantization_config;
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->fmt, "e4m3");
  EXPECT_EQ(q->activation_scheme, "dynamic");
  EXPECT_EQ(q->block_rows, 64);
  EXPECT_EQ(q->block_cols, 32);

  j["quantization_config"] = {{"quant_method", "int4"}, {"group_size", 32}};
  q = parse(j).quantization_config;
  EXPECT_EQ(q->quant_method, "int4");
  EXPECT_EQ(q->group_size, 32);
  j["quantization_config"] = {{"quant_method", "int8"}, {"group_size", 128}};
  EXPECT_EQ(parse(j).quantization_config->group_size, 128);

  auto bad = [&](json qc, std::vector<std::string> needles) {
    json b = minimal();
    b["quantization_config"] = std::move(qc);
    expect_bad(b, needles);
  };
  bad({{"quant_method", "awq"}}, {"quantization_config.quant_method", "awq"});
  bad({{"fmt", "e4m3"}}, {"missing field quantization_config.quant_method"});
  bad({{"quant_method", "int8"}}, {"missing field quantization_config.group_size"});
  bad({{"quant_method", "int4"}, {"group_size", 0}}, {"quantization_config.group_size must be positive"});
  bad({{"quant_method", "fp8"}, {"weight_block_size", {128}}}, {"weight_block_size"});
  bad({{"quant_method", "fp8"}, {"weight_block_size", {128, 0}}}, {"weight_block_size"});
  bad({{"quant_method", "fp8"}, {"weight_block_size", {128, "a"}}}, {"weight_block_size"});
  bad({{"quant_method", "fp8"}, {"fmt", "e5m2"}}, {"quantization_config.fmt", "e5m2"});
  bad({{"quant_method", "fp8"}, {"activation_scheme", "static"}}, {"activation_scheme", "static"});
}

void expect_same(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.moe_intermediate_size, b.moe_intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.q_lora_rank, b.q_lora_rank);
  EXPECT_EQ(a.kv_lora_rank, b.kv_lora_rank);
  EXPECT_EQ(a.qk_rope_head_dim, b.qk_rope_head_dim);
  EXPECT_EQ(a.qk_nope_head_dim, b.qk_nope_head_dim);
  EXPECT_EQ(a.v_head_dim, b.v_head_dim);
  EXPECT_EQ(a.n_routed_experts, b.n_routed_experts);
  EXPECT_EQ(a.n_shared_experts, b.n_shared_experts);
  EXPECT_EQ(a.num_experts_per_tok, b.num_experts_per_tok);
  EXPECT_EQ(a.n_group, b.n_group);
  EXPECT_EQ(a.topk_group, b.topk_group);
  EXPECT_EQ(a.topk_method, b.topk_method);
  EXPECT_EQ(a.scoring_func, b.scoring_func);
  EXPECT_EQ(a.norm_topk_prob, b.norm_topk_prob);
  EXPECT_EQ(a.routed_scaling_factor, b.routed_scaling_factor);
  EXPECT_EQ(a.first_k_dense_replace, b.first_k_dense_replace);
  EXPECT_EQ(a.moe_layer_freq, b.moe_layer_freq);
  EXPECT_EQ(a.num_nextn_predict_layers, b.num_nextn_predict_layers);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, b.rope_scaling.original_max_position_embeddings);
  EXPECT_EQ(a.rope_scaling.beta_fast, b.rope_scaling.beta_fast);
  EXPECT_EQ(a.rope_scaling.beta_slow, b.rope_scaling.beta_slow);
  EXPECT_EQ(a.rope_scaling.mscale, b.rope_scaling.mscale);
  EXPECT_EQ(a.rope_scaling.mscale_all_dim, b.rope_scaling.mscale_all_dim);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.hidden_act, b.hidden_act);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.attention_bias, b.attention_bias);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_id, b.eos_token_id);
  EXPECT_EQ(a.torch_dtype, b.torch_dtype);
  ASSERT_EQ(a.quantization_config.has_value(), b.quantization_config.has_value());
  if (a.quantization_config) {
    EXPECT_EQ(a.quantization_config->quant_method, b.quantization_config->quant_method);
    EXPECT_EQ(a.quantization_config->fmt, b.quantization_config->fmt);
    EXPECT_EQ(a.quantization_config->activation_scheme, b.quantization_config->activation_scheme);
    EXPECT_EQ(a.quantization_config->block_rows, b.quantization_config->block_rows);
    EXPECT_EQ(a.quantization_config->block_cols, b.quantization_config->block_cols);
    EXPECT_EQ(a.quantization_config->group_size, b.quantization_config->group_size);
  }
}

TEST(FormatConfig, ToJsonRoundTrip) {
  for (const char* text : {kDeepSeekV3, kDeepSeekV2Lite}) {
    ModelConfig a = parse_model_config(text, "a/config.json");
    json j = model_config_to_json(a);
    EXPECT_EQ(j.at("architectures"), json::array({a.architecture}));
    EXPECT_TRUE(j.contains("q_lora_rank"));
    EXPECT_TRUE(j.contains("rope_scaling"));
    ModelConfig b = parse_model_config(j.dump(2), "b/config.json");
    expect_same(a, b);
  }
  // A typed config built in code (what `dsv3 init` does) also survives the trip.
  ModelConfig c = parse(minimal());
  c.q_lora_rank.reset();
  c.bos_token_id.reset();
  c.quantization_config = QuantizationConfig{"int8", "", "", 128, 128, 64};
  c.num_nextn_predict_layers = 2;
  expect_same(c, parse(model_config_to_json(c)));
}

TEST(FormatConfig, LoadFromDirectory) {
  std::string tmpl = (fs::temp_directory_path() / "dsv3_cfg_XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl;
  expect_error([&] { load_model_config(dir); }, {"missing config.json", dir});
  const std::string path = dir + "/config.json";
  {
    std::ofstream(path) << kDeepSeekV2Lite;
  }
  EXPECT_EQ(load_model_config(dir).hidden_size, 2048);
  {
    std::ofstream(path) << "{\"architectures\": [\"DeepseekV3ForCausalLM\"]}";
  }
  expect_error([&] { load_model_config(dir); }, {"config " + path + ": missing field vocab_size"});
  expect_error([&] { load_model_config(dir + "/absent"); }, {"model directory " + dir + "/absent does not exist"});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsv3
