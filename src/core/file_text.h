// Whole-file reads of small text files (configs, manifests, corpora): one helper instead of
// an ifstream/ostringstream copy in every loader.
#pragma once
#include <string>

namespace dsv3 {

// The bytes of `path`. Throws Error "cannot read <what><path>" when it cannot be opened or read
// (`what` names the file's role for the message, e.g. "training config ").
std::string read_file_text(const std::string& path, const std::string& what = "");

}  // namespace dsv3
