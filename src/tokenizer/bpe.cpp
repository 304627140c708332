#include "tokenizer/bpe.h"

#include <atomic>
#include <fstream>
#include <queue>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace adapterbias::tokenizer {
namespace {

// 2^24 ids: far above the largest real vocabularies (~256k), far below an allocation that could fail.
constexpr int64_t kMaxTokenId = int64_t{1} << 24;

uint64_t pair_key(int64_t a, int64_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

std::atomic<uint64_t> next_cache_id{1};

// Per-thread word cache, keyed by model instance (as HF's BPE_LOCAL_CACHE): word text -> pieces.
struct CachedPiece {
  int64_t id;
  uint32_t first_char;
  uint32_t end_char;
};
using WordCache = std::unordered_map<std::string, std::vector<CachedPiece>, StringHash, std::equal_to<>>;
constexpr size_t kCacheCapacity = 10000;  // HF's DEFAULT_CACHE_CAPACITY
constexpr size_t kCacheMaxWordBytes = 256;

WordCache& cache_for(uint64_t id) {
  thread_local std::unordered_map<uint64_t, WordCache> caches;
  return caches[id];
}

}  // namespace

Bpe::Bpe(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
         const std::string& source)
    : vocab_(std::move(vocab)), options_(std::move(options)), cache_id_(next_cache_id++) {
  // The id -> token table is sized by the largest id: ids are checked before it is allocated.
  int64_t max_id = -1;
  for (const auto& [token, id] : vocab_) {
    if (id < 0 || id >= kMaxTokenId)
      throw FormatError(fmt::format("{}: BPE vocab id {} of '{}' is outside [0, {})", source, id, token, kMaxTokenId));
    max_id = std::max(max_id, id);
  }
  id_to_token_.assign(static_cast<size_t>(max_id + 1), nullptr);
  for (const auto& [token, id] : vocab_) id_to_token_[static_cast<size_t>(id)] = &token;
  const size_t prefix_len = options_.continuing_subword_prefix.size();
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const auto ia = vocab_.find(a);
    const auto ib = vocab_.find(b);
    if (ia == vocab_.end() || ib == vocab_.end()) {
      throw FormatError(fmt::format("{}: BPE merge {} '{} {}' uses a token missing from the vocabulary", source,
                                    rank, a, b));
    }
    // HF: the merged token drops the right part's continuing_subword_prefix.
    const std::string merged = a + (prefix_len > 0 && b.starts_with(options_.continuing_subword_prefix)
                                        ? b.substr(prefix_len)
                                        : b);
    const auto im = vocab_.find(merged);
    if (im == vocab_.end()) {
      throw FormatError(fmt::format("{}: BPE merge {} '{} {}' gives '{}', which is missing from the vocabulary",
                                    source, rank, a, b, merged));
    }
    merges_.emplace(pair_key(ia->second, ib->second), std::make_pair(static_cast<uint32_t>(rank), im->second));
  }
  if (options_.unk_token) {
    const auto it = vocab_.find(*options_.unk_token);
    if (it != vocab_.end()) unk_id_ = it->second;
  }
}

int64_t Bpe::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

// Mirrors HF models/bpe/model.rs merge_word and word.rs merge_all (a heap of (rank, position) with lazy
// invalidation over a linked list of symbols).
void Bpe::merge_word(const std::string& text, std::vector<Piece>& pieces) const {
  struct Symbol {
    int64_t id;
    int prev;
    int next;
    uint32_t first_char;
    uint32_t end_char;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  std::string key;
  uint32_t char_index = 0;
  int64_t pending_unk_begin = -1;  // fuse_unk: start char of the unk run being built
  auto add = [&](int64_t id, uint32_t first, uint32_t end) {
    const int idx = static_cast<int>(symbols.size());
    symbols.push_back({id, idx - 1, -1, first, end, true});
    if (idx > 0) symbols[static_cast<size_t>(idx - 1)].next = idx;
  };
  size_t b = 0;
  while (b < text.size()) {
    size_t e = b + 1;
    while (e < text.size() && (static_cast<unsigned char>(text[e]) & 0xC0) == 0x80) ++e;
    const bool is_first = b == 0;
    const bool is_last = e == text.size();
    std::string_view piece(text.data() + b, e - b);
    Vocab::const_iterator it;
    if ((!is_first && !options_.continuing_subword_prefix.empty()) || (is_last && !options_.end_of_word_suffix.empty())) {
      key.clear();
      if (!is_first) key += options_.continuing_subword_prefix;
      key += piece;
      if (is_last) key += options_.end_of_word_suffix;
      it = vocab_.find(key);
    } else {
      it = vocab_.find(piece);
    }
    if (it != vocab_.end()) {
      if (pending_unk_begin >= 0) {
        add(unk_id_, static_cast<uint32_t>(pending_unk_begin), char_index);
        pending_unk_begin = -1;
      }
      add(it->second, char_index, char_index + 1);
    } else if (unk_id_ >= 0) {
      if (options_.fuse_unk) {
        if (pending_unk_begin < 0) pending_unk_begin = char_index;
      } else {
        add(unk_id_, char_index, char_index + 1);
      }
    }  // else: a character with no token and no unk is dropped, as in HF
    ++char_index;
    b = e;
  }
  if (pending_unk_begin >= 0) add(unk_id_, static_cast<uint32_t>(pending_unk_begin), char_index);

  struct Merge {
    uint32_t rank;
    int pos;
    int64_t new_id;
    bool operator>(const Merge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Merge, std::vector<Merge>, std::greater<>> queue;
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    const auto m = merges_.find(pair_key(symbols[i].id, symbols[i + 1].id));
    if (m != merges_.end()) queue.push({m->second.first, static_cast<int>(i), m->second.second});
  }
  while (!queue.empty()) {
    const Merge top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    const auto m = merges_.find(pair_key(left.id, right.id));
    if (m == merges_.end() || m->second.second != top.new_id) continue;
    left.id = top.new_id;
    left.end_char = right.end_char;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[static_cast<size_t>(left.next)].prev = top.pos;
    if (left.prev >= 0) {
      const auto pm = merges_.find(pair_key(symbols[static_cast<size_t>(left.prev)].id, left.id));
      if (pm != merges_.end()) queue.push({pm->second.first, left.prev, pm->second.second});
    }
    if (left.next >= 0) {
      const auto nm = merges_.find(pair_key(left.id, symbols[static_cast<size_t>(left.next)].id));
      if (nm != merges_.end()) queue.push({nm->second.first, top.pos, nm->second.second});
    }
  }
  for (const Symbol& s : symbols) {
    if (s.alive) pieces.push_back({s.id, s.first_char, s.end_char});
  }
}

void Bpe::tokenize(const PreToken& word, std::vector<Token>& out) const {
  if (word.text.empty()) return;
  if (options_.ignore_merges) {
    const auto it = vocab_.find(word.text);
    if (it != vocab_.end()) {
      out.push_back({it->second, it->first, span_of(word, 0, word.spans.size())});
      return;
    }
  }
  auto emit = [&](int64_t id, uint32_t first, uint32_t end) {
    out.push_back({id, *id_to_token_[static_cast<size_t>(id)], span_of(word, first, end)});
  };
  WordCache& cache = cache_for(cache_id_);
  if (const auto hit = cache.find(word.text); hit != cache.end()) {
    for (const CachedPiece& p : hit->second) emit(p.id, p.first_char, p.end_char);
    return;
  }
  std::vector<Piece> pieces;
  merge_word(word.text, pieces);
  for (const Piece& p : pieces) emit(p.id, p.first_char, p.end_char);
  if (word.text.size() < kCacheMaxWordBytes && cache.size() < kCacheCapacity) {
    std::vector<CachedPiece> cached;
    cached.reserve(pieces.size());
    for (const Piece& p : pieces) cached.push_back({p.id, p.first_char, p.end_char});
    cache.emplace(word.text, std::move(cached));
  }
}

Vocab read_bpe_vocab(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the BPE vocabulary", path));
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  if (!j.is_object()) throw FormatError(fmt::format("{}: expected an object {{\"token\": id}}", path));
  Vocab vocab;
  for (const auto& [token, id] : j.items()) {
    if (!id.is_number_integer()) throw FormatError(fmt::format("{}: the id of '{}' is not an integer", path, token));
    vocab[token] = id.get<int64_t>();
  }
  return vocab;
}

std::vector<std::pair<std::string, std::string>> read_bpe_merges(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the BPE merges", path));
  std::vector<std::pair<std::string, std::string>> merges;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1 && line.starts_with("#version")) continue;
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      throw FormatError(fmt::format("{}:{}: expected a merge 'a b', found '{}'", path, line_no, line));
    }
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return merges;
}

}  // namespace adapterbias::tokenizer
