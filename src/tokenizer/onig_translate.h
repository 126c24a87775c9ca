// Translation of Oniguruma (Ruby syntax) patterns, as Hugging Face tokenizers compiles them,
// into PCRE2 patterns with the same matches:
//  - \p{Cat}, \P{Cat}, \p{^Cat}, \d \w \s and their negations follow Oniguruma's (newer)
//    Unicode tables: code points missing from PCRE2's set are added to the class, and code
//    points PCRE2 has but Oniguruma lacks are excluded with a look-ahead (unicode_tables.h);
//    this is exact for standalone atoms and for whole [...] / [^...] classes (Oniguruma's sets
//    inside a class can differ from the standalone ones: U+00B2 is \w but not [\w]);
//  - \b / \B use Oniguruma's \w; \h / \H are hex digits (Ruby); \uHHHH becomes \x{HHHH};
//    a bare \pL is the letters "pL" (Ruby syntax only knows \p{L}).
// Not translated (rare in tokenizer.json): nested classes and && intersections, which PCRE2
// lacks; they are kept literal.
#pragma once
#include <string>
#include <string_view>

namespace dsv3::tok {

std::string translate_onig_pattern(std::string_view pattern);

}  // namespace dsv3::tok
