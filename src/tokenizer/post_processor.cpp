#include "tokenizer/post_processor.h"

#include "core/error.h"

namespace dsv3::tok {

using nlohmann::json;

namespace {

int32_t pair_id(const json& j, const char* field, const std::string& origin) {
  // Bert/Roberta store ["token", id].
  if (!j.contains(field) || !j[field].is_array() || j[field].size() != 2 || !j[field][1].is_number_integer())
    fail(origin, ": post_processor.", field, " must be [token, id]");
  return j[field][1].get<int32_t>();
}

}  // namespace

PostProcessor PostProcessor::from_json(const json& j, const std::string& origin) {
  PostProcessor pp;
  if (j.is_null()) return pp;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    fail(origin, ": post_processor must be null or an object with a \"type\"");
  const std::string type = j["type"].get<std::string>();
  if (type == "ByteLevel") return pp;
  if (type == "TemplateProcessing") {
    const json& single = j.at("single");
    const json& specials = j.value("special_tokens", json::object());
    bool seen_sequence = false;
    for (const json& piece : single) {
      if (piece.contains("Sequence")) {
        seen_sequence = true;
      } else if (piece.contains("SpecialToken")) {
        const std::string name = piece["SpecialToken"].at("id").get<std::string>();
        if (!specials.contains(name))
          fail(origin, ": post_processor template uses special token \"", name, "\" missing from special_tokens");
        auto& dst = seen_sequence ? pp.suffix : pp.prefix;
        for (const json& id : specials[name].at("ids")) dst.push_back(id.get<int32_t>());
      } else {
        fail(origin, ": post_processor template piece must be Sequence or SpecialToken");
      }
    }
    return pp;
  }
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    pp.prefix.push_back(pair_id(j, "cls", origin));
    pp.suffix.push_back(pair_id(j, "sep", origin));
    return pp;
  }
  if (type == "Sequence") {
    for (const json& sub : j.value("processors", json::array())) {
      PostProcessor inner = from_json(sub, origin);
      pp.prefix.insert(pp.prefix.begin(), inner.prefix.begin(), inner.prefix.end());
      pp.suffix.insert(pp.suffix.end(), inner.suffix.begin(), inner.suffix.end());
    }
    return pp;
  }
  fail(origin, ": unsupported post_processor type \"", type,
       "\" (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)");
}

}  // namespace dsv3::tok
