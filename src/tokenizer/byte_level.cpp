#include "tokenizer/byte_level.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace adapterbias::tokenizer {
namespace {

// The GPT-2 pre-tokenization regex. `\s+(?!\S)` needs a lookahead, hence PCRE2 (std::regex has no Unicode
// classes); UCP makes \s, \p{L} and \p{N} Unicode-aware as in Oniguruma.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::array<std::string, 256> make_byte_table() {
  std::array<std::string, 256> table;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
    append_utf8(table[static_cast<size_t>(b)], c);
  }
  return table;
}

}  // namespace

const std::string& byte_to_unicode(unsigned char b) {
  static const std::array<std::string, 256> table = make_byte_table();
  return table[b];
}

struct ByteLevelPreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

ByteLevelPreTokenizer::ByteLevelPreTokenizer(ByteLevelOptions options)
    : options_(options), regex_(std::make_unique<Regex>()) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  regex_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2Pattern), PCRE2_ZERO_TERMINATED,
                               PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &error_offset, nullptr);
  if (regex_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    throw Error(fmt::format("ByteLevel pre-tokenizer: PCRE2 cannot compile the GPT-2 regex at {}: {}", error_offset,
                            reinterpret_cast<const char*>(message)));
  }
  pcre2_jit_compile(regex_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is unavailable
}

ByteLevelPreTokenizer::~ByteLevelPreTokenizer() = default;

void ByteLevelPreTokenizer::pre_tokenize(const NormalizedString& text, std::vector<PreToken>& out) const {
  if (text.empty()) return;
  // UTF-8 of the piece (with the prefix space) and, per byte, the index of the character it belongs to.
  std::string utf8;
  std::vector<uint32_t> char_of_byte;
  std::vector<Span> spans;
  utf8.reserve(text.chars.size() + 1);
  char_of_byte.reserve(text.chars.size() + 1);
  spans.reserve(text.chars.size() + 1);
  if (options_.add_prefix_space && text.chars[0] != U' ') {
    utf8.push_back(' ');
    char_of_byte.push_back(0);
    spans.push_back(text.spans[0]);  // HF prepend(): the space takes the first character's alignment
  }
  for (size_t i = 0; i < text.chars.size(); ++i) {
    const size_t before = utf8.size();
    append_utf8(utf8, text.chars[i]);
    char_of_byte.insert(char_of_byte.end(), utf8.size() - before, static_cast<uint32_t>(spans.size()));
    spans.push_back(text.spans[i]);
  }

  auto emit = [&](size_t begin, size_t end) {
    if (begin >= end) return;
    PreToken& word = out.emplace_back();
    word.text.reserve((end - begin) * 2);
    word.spans.reserve(end - begin);
    for (size_t b = begin; b < end; ++b) {
      word.text += byte_to_unicode(static_cast<unsigned char>(utf8[b]));
      word.spans.push_back(spans[char_of_byte[b]]);
    }
  };
  if (!options_.use_regex) {
    emit(0, utf8.size());
    return;
  }
  pcre2_match_data* match = pcre2_match_data_create(1, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(utf8.data());
  size_t pos = 0;
  while (pos < utf8.size()) {
    const int rc = pcre2_match(regex_->code, subject, utf8.size(), pos, PCRE2_NO_UTF_CHECK, match, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end == begin) break;  // cannot happen with this pattern; guards against a loop
    emit(pos, begin);         // a gap the regex did not cover (Isolated keeps it as its own word)
    emit(begin, end);
    pos = end;
  }
  emit(pos, utf8.size());
  pcre2_match_data_free(match);
}

void trim_byte_level_offsets(std::vector<Token>& tokens, bool add_prefix_space) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    Token& token = tokens[i];
    const std::u32string chars = decode_utf8(token.value, "token");
    const char32_t g = 0x120;  // 'Ġ', byte_to_unicode(' ')
    size_t leading = 0;
    while (leading < chars.size() && (chars[leading] == g || is_whitespace(chars[leading]))) ++leading;
    size_t trailing = 0;
    while (trailing < chars.size() && (chars[chars.size() - 1 - trailing] == g ||
                                       is_whitespace(chars[chars.size() - 1 - trailing])))
      ++trailing;
    if (leading == 0 && trailing == 0) continue;
    Span& o = token.offsets;
    if (leading > 0) {
      const bool is_first = i == 0 || o.begin == 0;
      if (is_first && add_prefix_space && leading == 1) leading = 0;
      o.begin = std::min<uint32_t>(o.begin + static_cast<uint32_t>(leading), o.end);
    }
    if (trailing > 0 && o.end >= trailing) o.end = std::max<uint32_t>(o.end - static_cast<uint32_t>(trailing), o.begin);
  }
}

}  // namespace adapterbias::tokenizer
