#include <algorithm>
#include <utility>
#include <vector>

#include "cli/commands.h"

namespace dsv3::cli {

namespace {
// Function-local so registration from other translation units' static initialisers is safe.
std::vector<std::pair<int, AddCommand>>& registry() {
  static std::vector<std::pair<int, AddCommand>> r;
  return r;
}
}  // namespace

bool register_command(int order, AddCommand add) {
  registry().push_back({order, add});
  return true;
}

void add_registered_commands(CLI::App& app) {
  auto cmds = registry();
  std::stable_sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [order, add] : cmds) add(app);
}

}  // namespace dsv3::cli
