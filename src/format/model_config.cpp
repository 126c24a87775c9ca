// config.json → ModelConfig. Defaults for absent fields follow transformers'
// DeepseekV3Config / DeepseekV2Config (configuration_deepseek_v3.py / _v2.py), except that
// the fields that fix tensor shapes are required: guessing them would load a checkpoint
// with the wrong geometry. JSON null means "use the default" (HF passes None), except
// where null has its own meaning: q_lora_rank (no q LoRA), n_routed_experts (dense),
// rope_scaling / quantization_config (none), bos/eos_token_id (unset).
#include "format/model_config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "format/json_type.h"

namespace dsv3 {

namespace {

using nlohmann::json;

constexpr const char* kV3 = "DeepseekV3ForCausalLM";
constexpr const char* kV2 = "DeepseekV2ForCausalLM";

// Typed access to one JSON object; `prefix` ("" or "rope_scaling.") qualifies field names.
class Fields {
 public:
  Fields(const json& j, const std::string& source, std::string prefix = "")
      : j_(j), src_(source), prefix_(std::move(prefix)) {}

  bool present(const char* k) const { return j_.contains(k) && !j_.at(k).is_null(); }
  bool contains(const char* k) const { return j_.contains(k); }
  const json& at(const char* k) const { return j_.at(k); }

  [[noreturn]] void bad(const char* k, const std::string& why) const {
    fail("config ", src_, ": field ", prefix_, k, " ", why);
  }
  [[noreturn]] void missing(const char* k) const { fail("config ", src_, ": missing field ", prefix_, k); }

  int64_t to_int(const char* k, const json& v) const {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > uint64_t(INT64_MAX)) bad(k, "is too large");
      return int64_t(u);
    }
    if (v.is_number_integer()) return v.get<int64_t>();
    bad(k, std::string("must be an integer, got ") + json_type(v));
  }
  int64_t req_int(const char* k) const {
    if (!contains(k)) missing(k);
    return to_int(k, at(k));
  }
  int64_t opt_int(const char* k, int64_t def) const { return present(k) ? to_int(k, at(k)) : def; }
  double opt_num(const char* k, double def) const {
    if (!present(k)) return def;
    if (!at(k).is_number()) bad(k, std::string("must be a number, got ") + json_type(at(k)));
    return at(k).get<double>();
  }
  bool opt_bool(const char* k, bool def) const {
    if (!present(k)) return def;
    if (!at(k).is_boolean()) bad(k, std::string("must be true or false, got ") + json_type(at(k)));
    return at(k).get<bool>();
  }
  std::string opt_str(const char* k, const std::string& def) const {
    if (!present(k)) return def;
    if (!at(k).is_string()) bad(k, std::string("must be a string, got ") + json_type(at(k)));
    return at(k).get<std::string>();
  }
  // Absent => def; explicit null => nullopt; integer => value.
  std::optional<int64_t> opt_nullable_int(const char* k, std::optional<int64_t> def) const {
    if (!contains(k)) return def;
    if (at(k).is_null()) return std::nullopt;
    return to_int(k, at(k));
  }

  void positive(const char* k, int64_t v) const {
    if (v <= 0) bad(k, "must be positive, got " + std::to_string(v));
  }
  void non_negative(const char* k, int64_t v) const {
    if (v < 0) bad(k, "must not be negative, got " + std::to_string(v));
  }
  void positive(const char* k, double v) const {
    if (!(v > 0)) {
      std::ostringstream os;
      os << "must be positive, got " << v;
      bad(k, os.str());
    }
  }

 private:
  const json& j_;
  const std::string& src_;
  std::string prefix_;
};

void parse_rope(const json& root, const Fields& f, const std::string& src, ModelConfig& c) {
  // transformers >= 5 writes rope_parameters (with rope_theta and rope_type inside);
  // released DeepSeek checkpoints use rope_scaling + top-level rope_theta.
  const char* key = f.present("rope_scaling") ? "rope_scaling" : f.present("rope_parameters") ? "rope_parameters" : nullptr;
  double theta_inside = 10000.0;
  bool has_theta_inside = false;
  if (key) {
    const json& rs = root.at(key);
    if (!rs.is_object()) f.bad(key, std::string("must be an object or null, got ") + json_type(rs));
    Fields r(rs, src, std::string(key) + ".");
    std::string type = r.opt_str("type", "");
    std::string rope_type = r.opt_str("rope_type", "");
    if (!type.empty() && !rope_type.empty() && type != rope_type)
      r.bad("type", "(\"" + type + "\") disagrees with rope_type (\"" + rope_type + "\")");
    if (type.empty()) type = rope_type;
    if (type.empty()) r.missing("type");
    if (r.present("rope_theta")) {
      theta_inside = r.opt_num("rope_theta", 10000.0);
      has_theta_inside = true;
    }
    if (type == "yarn") {
      RopeScaling& y = c.rope_scaling;
      y.type = "yarn";
      if (!r.present("factor")) r.missing("factor");
      y.factor = r.opt_num("factor", 1.0);
      if (!(y.factor >= 1.0)) r.bad("factor", "must be >= 1");
      y.original_max_position_embeddings = r.opt_int("original_max_position_embeddings", 4096);
      r.positive("original_max_position_embeddings", y.original_max_position_embeddings);
      y.beta_fast = r.opt_num("beta_fast", 32.0);
      y.beta_slow = r.opt_num("beta_slow", 1.0);
      r.positive("beta_fast", y.beta_fast);
      r.positive("beta_slow", y.beta_slow);
      y.mscale = r.opt_num("mscale", 1.0);
      y.mscale_all_dim = r.opt_num("mscale_all_dim", 0.0);
    } else if (type != "default") {
      r.bad("type", "\"" + type + "\" is not supported (expected yarn)");
    }
  }
  c.rope_theta = f.present("rope_theta") ? f.opt_num("rope_theta", 10000.0) : has_theta_inside ? theta_inside : 10000.0;
  f.positive("rope_theta", c.rope_theta);
}

void parse_quantization(const json& root, const Fields& f, const std::string& src, ModelConfig& c) {
  if (!f.present("quantization_config")) return;
  const json& qj = root.at("quantization_config");
  if (!qj.is_object())
    f.bad("quantization_config", std::string("must be an object or null, got ") + json_type(qj));
  Fields q(qj, src, "quantization_config.");
  QuantizationConfig qc;
  if (!q.present("quant_method")) q.missing("quant_method");
  qc.quant_method = q.opt_str("quant_method", "");
  const bool fp8 = qc.quant_method == "fp8";
  if (!fp8 && qc.quant_method != "int8" && qc.quant_method != "int4")
    q.bad("quant_method", "\"" + qc.quant_method + "\" is not supported (expected fp8, int8 or int4)");
  qc.fmt = q.opt_str("fmt", fp8 ? "e4m3" : "");
  qc.activation_scheme = q.opt_str("activation_scheme", fp8 ? "dynamic" : "");
  if (fp8 && qc.fmt != "e4m3") q.bad("fmt", "\"" + qc.fmt + "\" is not supported (expected e4m3)");
  if (fp8 && qc.activation_scheme != "dynamic")
    q.bad("activation_scheme", "\"" + qc.activation_scheme + "\" is not supported (expected dynamic)");
  if (q.present("weight_block_size")) {
    const json& b = qj.at("weight_block_size");
    if (!b.is_array() || b.size() != 2) q.bad("weight_block_size", "must be an array of two integers");
    qc.block_rows = q.to_int("weight_block_size", b[0]);
    qc.block_cols = q.to_int("weight_block_size", b[1]);
    if (qc.block_rows <= 0 || qc.block_cols <= 0) q.bad("weight_block_size", "entries must be positive");
  }
  if (!fp8) {
    if (!q.contains("group_size")) q.missing("group_size");
    qc.group_size = q.req_int("group_size");
    q.positive("group_size", qc.group_size);
    // The int8/int4 kernels read whole 32-weight chunks under one scale (kernels/quant.h).
    if (qc.group_size % 32 != 0) q.bad("group_size", std::to_string(qc.group_size) + " is not a multiple of 32");
  }
  c.quantization_config = qc;
}

std::optional<int64_t> token_id(const Fields& f, const char* k, int64_t def) {
  if (!f.contains(k)) return def;
  const json& v = f.at(k);
  if (v.is_null()) return std::nullopt;
  if (v.is_array()) {  // eos_token_id may list several ids; the first is the primary one
    if (v.empty()) return std::nullopt;
    return f.to_int(k, v[0]);
  }
  return f.to_int(k, v);
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    fail("config ", source, " is not valid JSON (error at byte ", e.byte, ")");
  }
  if (!root.is_object()) fail("config ", source, " is not a JSON object (got ", root.type_name(), ")");
  Fields f(root, source);
  ModelConfig c;
  c.raw = root;

  // Architecture: architectures[0], else inferred from model_type.
  if (f.present("architectures")) {
    const json& a = root.at("architectures");
    if (!a.is_array() || a.empty() || !a[0].is_string())
      f.bad("architectures", "must be a non-empty array of strings");
    c.architecture = a[0].get<std::string>();
  } else {
    std::string mt = f.opt_str("model_type", "");
    if (mt == "deepseek_v3") c.architecture = kV3;
    else if (mt == "deepseek_v2") c.architecture = kV2;
    else f.missing("architectures");
  }
  if (c.architecture != kV3 && c.architecture != kV2)
    fail("unsupported architecture ", c.architecture, " in ", source, "; expected ", kV3, " or ", kV2);
  const bool v2 = c.is_v2();
  c.model_type = f.opt_str("model_type", v2 ? "deepseek_v2" : "deepseek_v3");

  // Shape-defining fields: required.
  c.vocab_size = f.req_int("vocab_size");
  c.hidden_size = f.req_int("hidden_size");
  c.intermediate_size = f.req_int("intermediate_size");
  c.num_hidden_layers = f.req_int("num_hidden_layers");
  c.num_attention_heads = f.req_int("num_attention_heads");
  c.kv_lora_rank = f.req_int("kv_lora_rank");
  c.qk_rope_head_dim = f.req_int("qk_rope_head_dim");
  c.qk_nope_head_dim = f.req_int("qk_nope_head_dim");
  c.v_head_dim = f.req_int("v_head_dim");
  c.num_key_value_heads = f.opt_int("num_key_value_heads", c.num_attention_heads);
  c.q_lora_rank = f.opt_nullable_int("q_lora_rank", 1536);

  // MoE (report section 2.1.2).
  if (f.contains("n_routed_experts") && root.at("n_routed_experts").is_null()) c.n_routed_experts = 0;
  else c.n_routed_experts = f.opt_int("n_routed_experts", v2 ? 64 : 256);
  c.n_shared_experts = f.opt_int("n_shared_experts", v2 ? 2 : 1);
  c.n_group = f.opt_int("n_group", v2 ? 1 : 8);
  c.topk_group = f.opt_int("topk_group", v2 ? 1 : 4);
  c.topk_method = f.opt_str("topk_method", v2 ? "greedy" : "noaux_tc");
  c.scoring_func = f.opt_str("scoring_func", v2 ? "softmax" : "sigmoid");
  c.norm_topk_prob = f.opt_bool("norm_topk_prob", !v2);
  c.routed_scaling_factor = f.opt_num("routed_scaling_factor", v2 ? 1.0 : 2.5);
  c.first_k_dense_replace = f.opt_int("first_k_dense_replace", v2 ? 0 : 3);
  c.moe_layer_freq = f.opt_int("moe_layer_freq", 1);
  if (c.n_routed_experts > 0) {
    if (!f.contains("n_routed_experts") && !(f.present("moe_intermediate_size") && f.present("num_experts_per_tok")))
      fail("config ", source, ": missing field ", f.present("moe_intermediate_size") ? "num_experts_per_tok" : "moe_intermediate_size",
           " (n_routed_experts is absent and defaults to ", c.n_routed_experts, "; set it to null or 0 for a dense model)");
    c.moe_intermediate_size = f.req_int("moe_intermediate_size");
    if (!f.present("num_experts_per_tok")) f.missing("num_experts_per_tok");
    c.num_experts_per_tok = f.req_int("num_experts_per_tok");
  } else {
    c.moe_intermediate_size = f.opt_int("moe_intermediate_size", 0);
    c.num_experts_per_tok = f.opt_int("num_experts_per_tok", 0);
  }

  // transformers' DeepSeek classes do not build MTP modules, i.e. depth 0 when absent.
  c.num_nextn_predict_layers = f.opt_int("num_nextn_predict_layers", 0);
  c.max_position_embeddings = f.opt_int("max_position_embeddings", v2 ? 2048 : 4096);
  parse_rope(root, f, source, c);
  c.rms_norm_eps = f.opt_num("rms_norm_eps", 1e-6);
  c.hidden_act = f.opt_str("hidden_act", "silu");
  c.tie_word_embeddings = f.opt_bool("tie_word_embeddings", false);
  c.attention_bias = f.opt_bool("attention_bias", false);
  c.bos_token_id = token_id(f, "bos_token_id", v2 ? 1 : 0);
  c.eos_token_id = token_id(f, "eos_token_id", v2 ? 2 : 1);
  c.torch_dtype = f.present("torch_dtype") ? f.opt_str("torch_dtype", "") : f.opt_str("dtype", "");
  parse_quantization(root, f, source, c);

  // Consistency.
  f.positive("vocab_size", c.vocab_size);
  f.positive("hidden_size", c.hidden_size);
  f.positive("intermediate_size", c.intermediate_size);
  f.positive("num_hidden_layers", c.num_hidden_layers);
  f.positive("num_attention_heads", c.num_attention_heads);
  f.positive("num_key_value_heads", c.num_key_value_heads);
  if (c.q_lora_rank) f.positive("q_lora_rank", *c.q_lora_rank);
  f.positive("kv_lora_rank", c.kv_lora_rank);
  f.positive("qk_rope_head_dim", c.qk_rope_head_dim);
  if (c.qk_rope_head_dim % 2 != 0) f.bad("qk_rope_head_dim", "must be even (RoPE rotates pairs), got " + std::to_string(c.qk_rope_head_dim));
  f.positive("qk_nope_head_dim", c.qk_nope_head_dim);
  f.positive("v_head_dim", c.v_head_dim);
  f.positive("max_position_embeddings", c.max_position_embeddings);
  f.positive("rms_norm_eps", c.rms_norm_eps);
  f.non_negative("n_routed_experts", c.n_routed_experts);
  f.non_negative("n_shared_experts", c.n_shared_experts);
  f.non_negative("first_k_dense_replace", c.first_k_dense_replace);
  f.non_negative("num_nextn_predict_layers", c.num_nextn_predict_layers);
  f.positive("moe_layer_freq", c.moe_layer_freq);
  f.positive("n_group", c.n_group);
  f.positive("topk_group", c.topk_group);
  if (c.scoring_func != "sigmoid" && c.scoring_func != "softmax")
    f.bad("scoring_func", "\"" + c.scoring_func + "\" is not supported (expected sigmoid or softmax)");
  if (c.topk_method != "noaux_tc" && c.topk_method != "greedy" && c.topk_method != "group_limited_greedy")
    f.bad("topk_method", "\"" + c.topk_method + "\" is not supported (expected noaux_tc, greedy or group_limited_greedy)");
  if (c.n_routed_experts > 0) {
    f.positive("moe_intermediate_size", c.moe_intermediate_size);
    f.positive("num_experts_per_tok", c.num_experts_per_tok);
    f.positive("routed_scaling_factor", c.routed_scaling_factor);
    const std::string at = "config " + source + ": ";
    if (c.topk_group > c.n_group)
      fail(at, "topk_group (", c.topk_group, ") exceeds n_group (", c.n_group, ")");
    if (c.n_routed_experts % c.n_group != 0)
      fail(at, "n_routed_experts (", c.n_routed_experts, ") is not divisible by n_group (", c.n_group, ")");
    if (c.num_experts_per_tok > c.n_routed_experts)
      fail(at, "num_experts_per_tok (", c.num_experts_per_tok, ") exceeds n_routed_experts (", c.n_routed_experts, ")");
    const int64_t reachable = c.topk_group * (c.n_routed_experts / c.n_group);
    if (c.num_experts_per_tok > reachable)
      fail(at, "num_experts_per_tok (", c.num_experts_per_tok, ") exceeds topk_group * n_routed_experts / n_group (",
           reachable, ")");
  }
  if (c.hidden_act != "silu") f.bad("hidden_act", "\"" + c.hidden_act + "\" is not supported (expected silu)");
  if (c.attention_bias) f.bad("attention_bias", "true is not supported (DeepSeek attention has no biases)");
  return c;
}

ModelConfig load_model_config(const std::string& model_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(model_dir, ec)) fail("model directory ", model_dir, " does not exist");
  if (!fs::is_directory(model_dir, ec)) fail("model directory ", model_dir, " is not a directory");
  const std::string path = (fs::path(model_dir) / "config.json").string();
  if (!fs::exists(path, ec)) fail("missing config.json in model directory ", model_dir);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open ", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("cannot read ", path);
  return parse_model_config(ss.str(), path);
}

nlohmann::json model_config_to_json(const ModelConfig& c) {
  json j;
  j["architectures"] = json::array({c.architecture});
  j["model_type"] = c.model_type.empty() ? (c.is_v2() ? "deepseek_v2" : "deepseek_v3") : c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["moe_intermediate_size"] = c.moe_intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads > 0 ? c.num_key_value_heads : c.num_attention_heads;
  j["q_lora_rank"] = c.q_lora_rank ? json(*c.q_lora_rank) : json(nullptr);
  j["kv_lora_rank"] = c.kv_lora_rank;
  j["qk_rope_head_dim"] = c.qk_rope_head_dim;
  j["qk_nope_head_dim"] = c.qk_nope_head_dim;
  j["v_head_dim"] = c.v_head_dim;
  j["n_routed_experts"] = c.n_routed_experts;
  j["n_shared_experts"] = c.n_shared_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["n_group"] = c.n_group;
  j["topk_group"] = c.topk_group;
  j["topk_method"] = c.topk_method;
  j["scoring_func"] = c.scoring_func;
  j["norm_topk_prob"] = c.norm_topk_prob;
  j["routed_scaling_factor"] = c.routed_scaling_factor;
  j["first_k_dense_replace"] = c.first_k_dense_replace;
  j["moe_layer_freq"] = c.moe_layer_freq;
  j["num_nextn_predict_layers"] = c.num_nextn_predict_layers;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling.type.empty()) {
    j["rope_scaling"] = nullptr;
  } else {
    const RopeScaling& r = c.rope_scaling;
    j["rope_scaling"] = {{"type", r.type},
                         {"factor", r.factor},
                         {"original_max_position_embeddings", r.original_max_position_embeddings},
                         {"beta_fast", r.beta_fast},
                         {"beta_slow", r.beta_slow},
                         {"mscale", r.mscale},
                         {"mscale_all_dim", r.mscale_all_dim}};
  }
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["hidden_act"] = c.hidden_act;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["attention_bias"] = c.attention_bias;
  j["attention_dropout"] = 0.0;
  j["bos_token_id"] = c.bos_token_id ? json(*c.bos_token_id) : json(nullptr);
  j["eos_token_id"] = c.eos_token_id ? json(*c.eos_token_id) : json(nullptr);
  if (!c.torch_dtype.empty()) j["torch_dtype"] = c.torch_dtype;
  j["use_cache"] = true;
  if (c.quantization_config) {
    const QuantizationConfig& q = *c.quantization_config;
    json qj;
    qj["quant_method"] = q.quant_method;
    if (!q.fmt.empty()) qj["fmt"] = q.fmt;
    if (!q.activation_scheme.empty()) qj["activation_scheme"] = q.activation_scheme;
    if (q.quant_method == "fp8") qj["weight_block_size"] = {q.block_rows, q.block_cols};
    else qj["group_size"] = q.group_size;
    j["quantization_config"] = qj;
  }
  return j;
}

}  // namespace dsv3
