// GPT-2 byte-level alphabet (tokenizers' ByteLevel pre-tokenizer and decoder): every byte maps
// to one printable code point ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF map to themselves, the
// other 68 bytes to U+0100.. in order), so any byte string becomes a string of vocab symbols.
#pragma once
#include <string>
#include <string_view>

namespace dsv3::tok {

// Appends the byte-level form of `bytes` (each byte becomes the UTF-8 of its mapped char).
void byte_level_encode(std::string_view bytes, std::string& out);

// Appends the bytes a token stands for, as tokenizers' ByteLevel decoder does: if every char
// of the token is in the byte-level alphabet the mapped bytes, else the token's own UTF-8
// bytes (this is how added tokens such as "<｜User｜>" survive decoding).
void byte_level_decode_token(std::string_view token, std::string& out);

}  // namespace dsv3::tok
