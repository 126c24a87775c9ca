// Hash map from std::string keys that can be queried with a std::string_view (no allocation).
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace dsv3::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

}  // namespace dsv3::tok
