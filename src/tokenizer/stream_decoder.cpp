// StreamDecoder: decode() is utf8_lossy(concatenated token bytes), and lossy decoding is
// decided left to right one maximal subpart at a time, so emitting every byte except a
// trailing, still-completable sequence gives exactly the same text as decoding at the end.
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace dsv3 {

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool skip_special_tokens)
    : impl_(tok.impl_), skip_special_(skip_special_tokens) {}

std::string StreamDecoder::push(int32_t id) {
  const std::string* token = impl_->token_for_decode(id, skip_special_);
  if (!token) return {};
  std::string out;
  if (impl_->decoder == Tokenizer::Impl::Decoder::kNone) {
    if (!first_) out += ' ';
    out += *token;
    first_ = false;
    return out;
  }
  impl_->append_token_bytes(*token, pending_);
  size_t used = tok::utf8_lossy_final_prefix(pending_, out);
  pending_.erase(0, used);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = tok::utf8_lossy(pending_);
  pending_.clear();
  first_ = true;
  return out;
}

}  // namespace dsv3
