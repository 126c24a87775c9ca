// Tokenizer::encode / decode and the lookups, following tokenizers' TokenizerImpl:
// added tokens -> normalizer -> normalized added tokens -> pre-tokenizer -> BPE -> post-processor.
#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace dsv3 {

const std::string* Tokenizer::Impl::token_for_decode(int32_t id, bool skip_special_tokens) const {
  const std::string* token = added.decode_content(id);
  if (!token) token = model->id_to_token(id);
  if (!token) return nullptr;
  // tokenizers skips by content: any token whose string is a special added token.
  if (skip_special_tokens && added.is_special_content(*token)) return nullptr;
  return token;
}

void Tokenizer::Impl::append_token_bytes(const std::string& token, std::string& out) const {
  if (decoder == Decoder::kByteLevel) tok::byte_level_decode_token(token, out);
  else out += token;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& t = *impl_;
  std::string repaired;
  if (!tok::utf8_is_valid(text)) {
    repaired = tok::utf8_lossy(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  if (add_special_tokens) ids.insert(ids.end(), t.post.prefix.begin(), t.post.prefix.end());

  std::vector<tok::Segment> raw_segments, segments;
  std::vector<std::string> pieces;
  t.added.split(text, /*normalized=*/false, raw_segments);
  for (const tok::Segment& raw : raw_segments) {
    if (raw.token >= 0) {
      ids.push_back(raw.token);
      continue;
    }
    std::string normalized(text.substr(raw.begin, raw.end - raw.begin));
    if (t.normalizer) t.normalizer->normalize(normalized);
    segments.clear();
    t.added.split(normalized, /*normalized=*/true, segments);
    for (const tok::Segment& seg : segments) {
      if (seg.token >= 0) {
        ids.push_back(seg.token);
        continue;
      }
      pieces.clear();
      pieces.emplace_back(normalized, seg.begin, seg.end - seg.begin);
      if (t.pre_tokenizer) t.pre_tokenizer->pre_tokenize(pieces);
      for (const std::string& piece : pieces) t.model->tokenize(piece, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), t.post.suffix.begin(), t.post.suffix.end());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Impl& t = *impl_;
  std::string out;
  if (t.decoder == Impl::Decoder::kNone) {  // tokenizers without a decoder: tokens.join(" ")
    bool first = true;
    for (int32_t id : ids) {
      const std::string* token = t.token_for_decode(id, skip_special_tokens);
      if (!token) continue;
      if (!first) out += ' ';
      out += *token;
      first = false;
    }
    return out;
  }
  std::string bytes;
  bytes.reserve(ids.size() * 4);
  for (int32_t id : ids) {
    if (const std::string* token = t.token_for_decode(id, skip_special_tokens)) t.append_token_bytes(*token, bytes);
  }
  return tok::utf8_lossy(bytes);
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos_id; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos_id; }
std::string Tokenizer::bos_token() const { return impl_->bos_token; }
std::string Tokenizer::eos_token() const { return impl_->eos_token; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added.token_to_id(token)) return id;
  return impl_->model->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  const std::string* token = impl_->added.decode_content(id);
  if (!token) token = impl_->model->id_to_token(id);
  return token ? *token : std::string();
}

bool Tokenizer::is_special(int32_t id) const {
  const tok::AddedToken* t = impl_->added.token(id);
  return t && t->special;
}

}  // namespace dsv3
