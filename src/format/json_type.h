// The type of a JSON value as dsv3's error messages name it: "integer" for any integer
// (signed or unsigned), otherwise nlohmann's type_name() ("string", "array", "number", ...).
#pragma once
#include <nlohmann/json.hpp>

namespace dsv3 {

inline const char* json_type(const nlohmann::json& j) { return j.is_number_integer() ? "integer" : j.type_name(); }

}  // namespace dsv3
