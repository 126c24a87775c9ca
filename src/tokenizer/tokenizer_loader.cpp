// Tokenizer::load / from_json: parses tokenizer.json and tokenizer_config.json.
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer_impl.h"

namespace dsv3 {
namespace {

using nlohmann::json;

json parse_json(std::string_view text, const std::string& origin) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(origin, ": invalid JSON: ", e.what());
  }
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

// bos_token / eos_token are a string, {"content": ...} (an AddedToken), or null.
std::string token_field(const json& config, const char* key, const std::string& origin) {
  if (!config.contains(key) || config[key].is_null()) return "";
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  fail(origin, ": \"", key, "\" must be a string or an object with \"content\"");
}

// chat_template is a string or a list of {"name", "template"}; the "default" one is used.
std::string chat_template_field(const json& config, const std::string& origin) {
  if (!config.contains("chat_template") || config["chat_template"].is_null()) return "";
  const json& v = config["chat_template"];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    for (const json& t : v) {
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template"))
        return t["template"].get<std::string>();
    }
    if (!v.empty() && v[0].is_object() && v[0].contains("template")) return v[0]["template"].get<std::string>();
    return "";
  }
  fail(origin, ": \"chat_template\" must be a string or a list of named templates");
}

std::vector<tok::AddedToken> parse_added_tokens(const json& j, const std::string& origin) {
  std::vector<tok::AddedToken> out;
  if (j.is_null()) return out;
  if (!j.is_array()) fail(origin, ": \"added_tokens\" must be an array");
  for (const json& t : j) {
    if (!t.is_object() || !t.contains("content") || !t["content"].is_string())
      fail(origin, ": every added token needs a string \"content\"");
    tok::AddedToken a;
    a.content = t["content"].get<std::string>();
    a.special = t.value("special", false);
    a.single_word = t.value("single_word", false);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.normalized = t.value("normalized", !a.special);
    out.push_back(std::move(a));
  }
  return out;
}

// transformers' LlamaTokenizerFast (and the Code Llama / Gemma variants) rebuild the post
// processor as "[bos] $A [eos]" from add_bos_token (default true) / add_eos_token (default
// false). Other classes keep tokenizer.json's post_processor unless the config sets one of the
// two flags explicitly (newer transformers honour them for every fast tokenizer).
void apply_config_post_processor(Tokenizer::Impl& t, const json& config, const std::string& origin) {
  const std::string cls = config.value("tokenizer_class", "");
  const bool llama_like = cls == "LlamaTokenizerFast" || cls == "LlamaTokenizer" ||
                          cls == "CodeLlamaTokenizerFast" || cls == "CodeLlamaTokenizer" ||
                          cls == "GemmaTokenizerFast" || cls == "GemmaTokenizer";
  auto flag = [&](const char* key) -> std::optional<bool> {
    if (config.contains(key) && config[key].is_boolean()) return config[key].get<bool>();
    return std::nullopt;
  };
  std::optional<bool> add_bos = flag("add_bos_token"), add_eos = flag("add_eos_token");
  if (!llama_like && !add_bos && !add_eos) return;
  const bool bos = add_bos.value_or(llama_like), eos = add_eos.value_or(false);
  t.post = {};
  if (bos) {
    if (!t.bos_id) fail(origin, ": add_bos_token is true but bos_token is missing or not in the vocab");
    t.post.prefix.push_back(*t.bos_id);
  }
  if (eos) {
    if (!t.eos_id) fail(origin, ": add_eos_token is true but eos_token is missing or not in the vocab");
    t.post.suffix.push_back(*t.eos_id);
  }
}

std::shared_ptr<Tokenizer::Impl> build(std::string_view tokenizer_json, std::string_view config_json,
                                       const std::string& origin, const std::string& config_origin) {
  auto t = std::make_shared<Tokenizer::Impl>();
  t->origin = origin;
  const json root = parse_json(tokenizer_json, origin);
  if (!root.is_object()) fail(origin, ": top level must be a JSON object");
  if (root.contains("version") && root["version"].is_string() && root["version"] != "1.0")
    fail(origin, ": unknown tokenizer version \"", root["version"].get<std::string>(), "\"");
  if (!root.contains("model")) fail(origin, ": missing \"model\"");

  try {
    t->normalizer = tok::Normalizer::from_json(root.value("normalizer", json()), origin);
    t->pre_tokenizer = tok::PreTokenizer::from_json(root.value("pre_tokenizer", json()), origin);
    t->model = tok::BpeModel::from_json(root["model"], origin);
    t->post = tok::PostProcessor::from_json(root.value("post_processor", json()), origin);
    const json decoder = root.value("decoder", json());
    if (decoder.is_null()) {
      t->decoder = Tokenizer::Impl::Decoder::kNone;
    } else if (decoder.is_object() && decoder.value("type", "") == "ByteLevel") {
      t->decoder = Tokenizer::Impl::Decoder::kByteLevel;
    } else {
      fail(origin, ": unsupported decoder type \"", decoder.is_object() ? decoder.value("type", "?") : "?",
           "\" (supported: ByteLevel, null)");
    }
    t->added.add_tokens(parse_added_tokens(root.value("added_tokens", json()), origin), t->model->vocab(),
                        t->model->vocab_entries(), t->normalizer.get());
  } catch (const json::exception& e) {  // a field with the wrong JSON type
    fail(origin, ": malformed field: ", e.what());
  }
  t->vocab_size = int64_t(std::max(t->model->max_id(), t->added.max_id())) + 1;

  if (!config_json.empty()) {
    const json config = parse_json(config_json, config_origin);
    if (!config.is_object()) fail(config_origin, ": top level must be a JSON object");
    t->bos_token = token_field(config, "bos_token", config_origin);
    t->eos_token = token_field(config, "eos_token", config_origin);
    t->chat_template = chat_template_field(config, config_origin);
    auto lookup = [&](const std::string& s) -> std::optional<int32_t> {
      if (s.empty()) return std::nullopt;
      if (auto id = t->added.token_to_id(s)) return id;
      return t->model->token_to_id(s);
    };
    t->bos_id = lookup(t->bos_token);
    t->eos_id = lookup(t->eos_token);
    apply_config_post_processor(*t, config, config_origin);
  }
  return t;
}

}  // namespace

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view tokenizer_config_json,
                               const std::string& origin) {
  return Tokenizer(build(tokenizer_json, tokenizer_config_json, origin, origin + " (tokenizer_config)"));
}

Tokenizer Tokenizer::load(const std::string& model_dir) {
  const std::string dir = model_dir.empty() ? "." : model_dir;
  const std::string tokenizer_path = dir + "/tokenizer.json";
  const std::string config_path = dir + "/tokenizer_config.json";
  std::string tokenizer_text, config_text;
  if (!read_file(tokenizer_path, &tokenizer_text)) fail(tokenizer_path, ": cannot open file");
  std::ifstream probe(config_path);
  if (probe.good() && !read_file(config_path, &config_text)) fail(config_path, ": cannot read file");
  if (probe.good() && config_text.empty()) fail(config_path, ": empty file (expected a JSON object)");
  return Tokenizer(build(tokenizer_text, config_text, tokenizer_path, config_path));
}

}  // namespace dsv3
