// The whitespace the server's text scanners skip (reasoning split, tool-call parsing): the four
// ASCII spaces JSON allows, never Unicode spaces.
#pragma once

namespace dsv3 {

inline bool is_ascii_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace dsv3
