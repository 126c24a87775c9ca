// Subcommands of the `dsv3` executable (DESIGN.md command-line contract), one file each.
// Each cmd_*.cpp registers itself with DSV3_COMMAND(order, add_fn), so adding a command
// edits no shared file. add_fn adds the subcommand to the CLI11 app; its callback throws
// dsv3::Error on bad input, which main() turns into one line on stderr and exit code 1.
#pragma once
#include <CLI/CLI.hpp>

namespace dsv3::cli {

using AddCommand = void (*)(CLI::App&);

// Records a subcommand; `order` sorts them in --help (run 10s, serve 20s, train 30s,
// tools 40s). Returns true so it can initialise a static.
bool register_command(int order, AddCommand add);

// Adds every registered subcommand to app, in order.
void add_registered_commands(CLI::App& app);

// `dsv3 bench serve` (cmd_bench_serve.cpp), a subcommand of `dsv3 bench`.
void add_bench_serve(CLI::App& bench);

}  // namespace dsv3::cli

#define DSV3_CMD_CAT2(a, b) a##b
#define DSV3_CMD_CAT(a, b) DSV3_CMD_CAT2(a, b)
#define DSV3_COMMAND(order, fn) \
  static const bool DSV3_CMD_CAT(dsv3_command_registered_, __LINE__) = ::dsv3::cli::register_command(order, fn)
