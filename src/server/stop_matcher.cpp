#include "server/stop_matcher.h"

#include <algorithm>

namespace dsv3::server {

size_t partial_suffix(std::string_view text, std::string_view needle) {
  const size_t max_len = std::min(text.size(), needle.empty() ? 0 : needle.size() - 1);
  for (size_t len = max_len; len > 0; --len)
    if (text.substr(text.size() - len) == needle.substr(0, len)) return len;
  return 0;
}

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

StopMatcher::Result StopMatcher::push(std::string_view text) {
  Result r;
  if (stopped_) return r;
  pending_.append(text);
  // The earliest match wins; among stops matching at the same place, any gives the same cut.
  size_t cut = std::string::npos;
  for (const auto& s : stops_) cut = std::min(cut, pending_.find(s));
  if (cut != std::string::npos) {
    r.text = pending_.substr(0, cut);
    r.stopped = stopped_ = true;
    pending_.clear();
    return r;
  }
  size_t hold = 0;
  for (const auto& s : stops_) hold = std::max(hold, partial_suffix(pending_, s));
  r.text = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return r;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(pending_);
  return stopped_ ? std::string() : out;
}

}  // namespace dsv3::server
