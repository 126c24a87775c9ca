// Subcommands of the `dsv3` executable (DESIGN.md command-line contract), one file each.
// Each adds itself to the CLI11 app; its callback throws dsv3::Error on bad input, which
// main() turns into a one-line message on stderr and exit code 1.
#pragma once
#include <CLI/CLI.hpp>

namespace dsv3::cli {

void add_info(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_detokenize(CLI::App& app);
void add_logits(CLI::App& app);
void add_generate(CLI::App& app);
void add_init(CLI::App& app);
void add_template(CLI::App& app);
void add_bench(CLI::App& app);

}  // namespace dsv3::cli
