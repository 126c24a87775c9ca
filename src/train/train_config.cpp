#include "train/train_config.h"

#include <regex>
#include <set>

#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "core/file_text.h"
#include "train/sha256.h"

namespace dsv3 {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp8: return "fp8";
  }
  return "?";
}

namespace {

// Reads typed keys out of the object, remembering which were seen so leftovers are errors.
class Reader {
 public:
  Reader(const nlohmann::json& j, const std::string& source) : j_(j), source_(source) {}

  template <class T>
  bool get(const char* key, T& out, bool required = false) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      DSV3_CHECK(!required, source_, ": missing required key '", key, "'");
      return false;
    }
    try {
      if constexpr (std::is_same_v<T, bool>) {
        DSV3_CHECK(it->is_boolean(), source_, ": key '", key, "' must be true or false");
      } else if constexpr (std::is_integral_v<T>) {
        DSV3_CHECK(it->is_number_integer(), source_, ": key '", key, "' must be an integer");
      } else if constexpr (std::is_floating_point_v<T>) {
        DSV3_CHECK(it->is_number(), source_, ": key '", key, "' must be a number");
      } else if constexpr (std::is_same_v<T, std::string>) {
        DSV3_CHECK(it->is_string(), source_, ": key '", key, "' must be a string");
      }
      out = it->get<T>();
    } catch (const nlohmann::json::exception& e) {
      fail(source_, ": key '", key, "': ", e.what());
    }
    return true;
  }
  void mark(const char* key) { seen_.insert(key); }
  void reject_unknown() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      DSV3_CHECK(seen_.count(it.key()), source_, ": unknown key '", it.key(), "'");
  }

 private:
  const nlohmann::json& j_;
  std::string source_;
  std::set<std::string> seen_;
};

void check_positive(const std::string& source, const char* key, double v) {
  DSV3_CHECK(v > 0, source, ": key '", key, "' must be > 0, got ", v);
}

}  // namespace

TrainConfig parse_train_config(const std::string& json_text, const std::string& source) {
  TrainConfig c;
  try {
    c.raw = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail(source, ": not valid JSON: ", e.what());
  }
  DSV3_CHECK(c.raw.is_object(), source, ": the training config must be a JSON object");
  Reader r(c.raw, source);
  r.mark("model");
  if (auto it = c.raw.find("model"); it != c.raw.end() && !it->is_null()) {
    DSV3_CHECK(it->is_object(), source, ": key 'model' must be an object of Hugging Face config.json fields");
    c.model = *it;
  }
  r.get("init_from", c.init_from);
  DSV3_CHECK(c.model.is_null() != c.init_from.empty(), source,
             ": give exactly one of 'model' (train from scratch) and 'init_from' (continue a model)");
  r.get("data", c.data, true);
  r.get("tokenizer", c.tokenizer, true);
  r.get("out_dir", c.out_dir, true);
  r.get("batch_size", c.batch_size, true);
  r.get("seq_len", c.seq_len, true);
  r.get("grad_accum_steps", c.grad_accum_steps);
  r.get("total_steps", c.total_steps, true);
  r.get("lr", c.schedule.lr, true);
  r.get("warmup_steps", c.schedule.warmup_steps);
  r.get("min_lr_ratio", c.schedule.min_lr_ratio);
  r.get("beta1", c.adamw.beta1);
  r.get("beta2", c.adamw.beta2);
  r.get("eps", c.adamw.eps);
  r.get("weight_decay", c.adamw.weight_decay);
  r.get("grad_clip", c.grad_clip);
  r.get("bias_update_speed", c.bias_update_speed);
  r.get("aux_alpha", c.aux_alpha);
  r.get("mtp_lambda", c.mtp_lambda);
  r.get("share_mtp_embeddings", c.share_mtp_embeddings);
  r.get("seed", c.seed);
  std::string precision = "fp32";
  r.get("precision", precision);
  r.get("eval_interval", c.eval_interval);
  r.get("eval_batches", c.eval_batches);
  r.get("checkpoint_interval", c.checkpoint_interval);
  r.get("keep_checkpoints", c.keep_checkpoints);
  r.get("log_interval", c.log_interval);
  r.reject_unknown();

  if (precision == "fp32") c.precision = Precision::kFp32;
  else if (precision == "bf16") c.precision = Precision::kBf16;
  else if (precision == "fp8") c.precision = Precision::kFp8;
  else fail(source, ": key 'precision' must be \"fp32\", \"bf16\" or \"fp8\", got \"", precision, "\"");
  check_positive(source, "batch_size", double(c.batch_size));
  check_positive(source, "seq_len", double(c.seq_len));
  check_positive(source, "grad_accum_steps", double(c.grad_accum_steps));
  check_positive(source, "total_steps", double(c.total_steps));
  check_positive(source, "lr", c.schedule.lr);
  check_positive(source, "eps", c.adamw.eps);
  check_positive(source, "keep_checkpoints", double(c.keep_checkpoints));
  check_positive(source, "log_interval", double(c.log_interval));
  DSV3_CHECK(c.schedule.warmup_steps >= 0 && c.schedule.warmup_steps <= c.total_steps, source,
             ": key 'warmup_steps' must be in [0, total_steps], got ", c.schedule.warmup_steps);
  DSV3_CHECK(c.schedule.min_lr_ratio >= 0 && c.schedule.min_lr_ratio <= 1, source,
             ": key 'min_lr_ratio' must be in [0, 1], got ", c.schedule.min_lr_ratio);
  DSV3_CHECK(c.adamw.beta1 >= 0 && c.adamw.beta1 < 1, source, ": key 'beta1' must be in [0, 1)");
  DSV3_CHECK(c.adamw.beta2 >= 0 && c.adamw.beta2 < 1, source, ": key 'beta2' must be in [0, 1)");
  DSV3_CHECK(c.adamw.weight_decay >= 0, source, ": key 'weight_decay' must be >= 0");
  DSV3_CHECK(c.grad_clip >= 0, source, ": key 'grad_clip' must be >= 0 (0 disables clipping)");
  DSV3_CHECK(c.bias_update_speed >= 0, source, ": key 'bias_update_speed' must be >= 0");
  DSV3_CHECK(c.aux_alpha >= 0, source, ": key 'aux_alpha' must be >= 0");
  DSV3_CHECK(c.mtp_lambda >= 0, source, ": key 'mtp_lambda' must be >= 0");
  DSV3_CHECK(c.eval_interval >= 0 && c.eval_batches >= 0, source,
             ": keys 'eval_interval' and 'eval_batches' must be >= 0 (0 disables evaluation)");
  DSV3_CHECK(c.checkpoint_interval >= 0, source, ": key 'checkpoint_interval' must be >= 0 (0: only at the end)");
  c.schedule.total_steps = c.total_steps;
  return c;
}

namespace {

// A YAML scalar typed as YAML 1.2's core schema (null, bool, int, float, else string);
// quoted scalars (tag "!") stay strings, so `batch_size: "8"` is still rejected as a string.
nlohmann::json yaml_scalar(const YAML::Node& n) {
  const std::string& v = n.Scalar();
  if (n.Tag() == "!") return v;
  if (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL") return nullptr;
  if (v == "true" || v == "True" || v == "TRUE") return true;
  if (v == "false" || v == "False" || v == "FALSE") return false;
  static const std::regex int_re("[-+]?[0-9]+"), float_re("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(v, int_re)) {
    try {
      return int64_t(std::stoll(v));
    } catch (const std::out_of_range&) {
    }
  }
  if (std::regex_match(v, float_re)) return std::stod(v);
  return v;
}

nlohmann::json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return yaml_scalar(n);
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const YAML::Node& e : n) a.push_back(yaml_to_json(e));
      return a;
    }
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return o;
    }
    default: return nullptr;  // Null, Undefined
  }
}

}  // namespace

TrainConfig load_train_config(const std::string& path) {
  const std::string text = read_file_text(path, "training config ");
  if (!path.ends_with(".yaml") && !path.ends_with(".yml")) return parse_train_config(text, path);
  // YAML: the same keys; converted to JSON so both formats share validation and config hash.
  nlohmann::json j;
  try {
    j = yaml_to_json(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    fail(path, ": not valid YAML: ", e.what());
  }
  return parse_train_config(j.dump(), path);
}

std::string train_config_hash(const TrainConfig& c) {
  nlohmann::json j = c.raw;
  for (const char* k : {"out_dir", "eval_interval", "eval_batches", "checkpoint_interval", "keep_checkpoints",
                        "log_interval"})
    j.erase(k);
  return sha256_hex(j.dump());  // nlohmann::json objects are key-sorted: the dump is canonical
}

}  // namespace dsv3
