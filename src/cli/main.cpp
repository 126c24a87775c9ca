// dsv3: run, serve and train DeepSeek-V3-architecture models. See README.md.
#include <cstdio>
#include <iostream>
#include <new>
#include <string>

#include "cli/commands.h"
#include "core/error.h"

namespace {

// One line, always: outside checks read exactly one line of stderr on failure.
int report(const std::string& msg, int code) {
  std::string one = msg;
  for (char& ch : one)
    if (ch == '\n' || ch == '\r') ch = ' ';
  std::cout.flush();
  std::fprintf(stderr, "dsv3: error: %s\n", one.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  CLI::App app{"dsv3: DeepSeek-V3-architecture models on CPU"};
  app.require_subcommand(1);
  dsv3::cli::add_registered_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return report(e.what(), 2);
  } catch (const dsv3::Error& e) {
    return report(e.what(), 1);
  } catch (const std::bad_alloc&) {
    return report("out of memory", 1);
  } catch (const std::exception& e) {
    return report(e.what(), 1);
  }
  return 0;
}
