#include "tokenizer/unicode_tables.h"

namespace dsv3::tok {

std::string_view unicode_supplement(std::string_view) { return {}; }

}  // namespace dsv3::tok
