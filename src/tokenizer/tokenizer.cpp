// The loader: builds a PipelineTokenizer from a checkpoint folder. All dispatch on tokenizer.json's "type"
// fields happens here, one function per stage; a new variant is a new file plus one branch below.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/bert_normalizer.h"
#include "tokenizer/bert_pre_tokenizer.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/wordpiece.h"

namespace adapterbias {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace tokenizer;

namespace {

// ---------------------------------------------------------------------------------------------------------------
// JSON helpers: every error names the file and the key.

json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", path.string()));
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw FormatError(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
}

struct Ctx {
  std::string file;  // e.g. "tokenizer.json"
};

template <typename T>
T get_or(const Ctx& ctx, const json& j, const std::string& where, const char* key, T fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw FormatError(fmt::format("{}: {}.{} has the wrong type ({})", ctx.file, where, key, it->type_name()));
  }
}

const json& require(const Ctx& ctx, const json& j, const std::string& where, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) throw FormatError(fmt::format("{}: {}.{} is missing", ctx.file, where, key));
  return *it;
}

std::string type_of(const Ctx& ctx, const json& j, const std::string& where) {
  if (!j.is_object()) throw FormatError(fmt::format("{}: {} is not an object", ctx.file, where));
  return get_or<std::string>(ctx, j, where, "type", "");
}

// A special token in tokenizer_config.json is a string or an AddedToken object {"content": ...}.
std::optional<std::string> token_name(const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------------
// tokenizer.json stages

std::unique_ptr<Normalizer> make_normalizer(const Ctx& ctx, const json& j) {
  if (j.is_null()) return std::make_unique<IdentityNormalizer>();
  const std::string type = type_of(ctx, j, "normalizer");
  if (type == "BertNormalizer") {
    BertNormalizerOptions o;
    o.clean_text = get_or(ctx, j, "normalizer", "clean_text", true);
    o.handle_chinese_chars = get_or(ctx, j, "normalizer", "handle_chinese_chars", true);
    o.lowercase = get_or(ctx, j, "normalizer", "lowercase", true);
    o.strip_accents = get_or(ctx, j, "normalizer", "strip_accents", o.lowercase);  // HF: unwrap_or(lowercase)
    return std::make_unique<BertNormalizer>(o);
  }
  throw FormatError(fmt::format("{}: normalizer.type '{}' is not supported (BertNormalizer or null)", ctx.file, type));
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Ctx& ctx, const json& j) {
  if (j.is_null()) return std::make_unique<IdentityPreTokenizer>();
  std::string type = type_of(ctx, j, "pre_tokenizer");
  const json* node = &j;
  // A Sequence of exactly one supported pre-tokenizer is that pre-tokenizer.
  if (type == "Sequence" && j.contains("pretokenizers") && j["pretokenizers"].is_array() &&
      j["pretokenizers"].size() == 1) {
    node = &j["pretokenizers"][0];
    type = type_of(ctx, *node, "pre_tokenizer.pretokenizers[0]");
  }
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "ByteLevel") {
    ByteLevelOptions o;
    o.add_prefix_space = get_or(ctx, *node, "pre_tokenizer", "add_prefix_space", true);
    o.use_regex = get_or(ctx, *node, "pre_tokenizer", "use_regex", true);
    return std::make_unique<ByteLevelPreTokenizer>(o);
  }
  throw FormatError(fmt::format("{}: pre_tokenizer.type '{}' is not supported (BertPreTokenizer, ByteLevel or null)",
                                ctx.file, type));
}

Vocab vocab_from_json(const Ctx& ctx, const json& j) {
  if (!j.is_object()) throw FormatError(fmt::format("{}: model.vocab must be an object {{\"token\": id}}", ctx.file));
  Vocab vocab;
  vocab.reserve(j.size());
  for (const auto& [token, id] : j.items()) {
    if (!id.is_number_integer()) {
      throw FormatError(fmt::format("{}: model.vocab['{}'] is not an integer id", ctx.file, token));
    }
    vocab[token] = id.get<int64_t>();
  }
  return vocab;
}

std::unique_ptr<Model> make_model(const Ctx& ctx, const json& j) {
  const std::string type = type_of(ctx, require(ctx, j, "tokenizer", "model"), "model");
  const json& m = j["model"];
  if (type == "WordPiece") {
    WordPieceOptions o;
    o.unk_token = get_or<std::string>(ctx, m, "model", "unk_token", "[UNK]");
    o.continuing_subword_prefix = get_or<std::string>(ctx, m, "model", "continuing_subword_prefix", "##");
    o.max_input_chars_per_word = get_or<size_t>(ctx, m, "model", "max_input_chars_per_word", 100);
    return std::make_unique<WordPiece>(vocab_from_json(ctx, require(ctx, m, "model", "vocab")), o, ctx.file);
  }
  if (type == "BPE" || (type.empty() && m.contains("merges"))) {
    if (get_or(ctx, m, "model", "byte_fallback", false)) {
      throw FormatError(fmt::format("{}: model.byte_fallback true is not supported", ctx.file));
    }
    if (get_or(ctx, m, "model", "dropout", 0.0) > 0.0) {
      throw FormatError(fmt::format("{}: model.dropout is not supported (inference tokenizes deterministically)",
                                    ctx.file));
    }
    BpeOptions o;
    if (const auto it = m.find("unk_token"); it != m.end() && it->is_string()) o.unk_token = it->get<std::string>();
    o.continuing_subword_prefix = get_or<std::string>(ctx, m, "model", "continuing_subword_prefix", "");
    o.end_of_word_suffix = get_or<std::string>(ctx, m, "model", "end_of_word_suffix", "");
    o.fuse_unk = get_or(ctx, m, "model", "fuse_unk", false);
    o.ignore_merges = get_or(ctx, m, "model", "ignore_merges", false);
    std::vector<std::pair<std::string, std::string>> merges;
    const json& jm = require(ctx, m, "model", "merges");
    if (!jm.is_array()) throw FormatError(fmt::format("{}: model.merges must be an array", ctx.file));
    merges.reserve(jm.size());
    for (size_t i = 0; i < jm.size(); ++i) {
      const json& e = jm[i];
      if (e.is_string()) {  // "a b" (tokenizers < 0.20)
        const std::string s = e.get<std::string>();
        const size_t space = s.find(' ');
        if (space == std::string::npos) {
          throw FormatError(fmt::format("{}: model.merges[{}] '{}' is not 'a b'", ctx.file, i, s));
        }
        merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {  // ["a", "b"]
        merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
      } else {
        throw FormatError(fmt::format("{}: model.merges[{}] is neither 'a b' nor [\"a\", \"b\"]", ctx.file, i));
      }
    }
    return std::make_unique<Bpe>(vocab_from_json(ctx, require(ctx, m, "model", "vocab")), merges, o, ctx.file);
  }
  throw FormatError(fmt::format("{}: model.type '{}' is not supported (WordPiece, BPE)", ctx.file, type));
}

// One post-processor node into `out`; Sequence recurses.
void apply_post_processor(const Ctx& ctx, const json& j, const std::string& where, PostProcessor& out) {
  const std::string type = type_of(ctx, j, where);
  if (type == "TemplateProcessing") {
    const json& specials = require(ctx, j, where, "special_tokens");
    auto parse = [&](const char* key) {
      std::vector<TemplatePiece> pieces;
      const json& list = require(ctx, j, where, key);
      if (!list.is_array()) throw FormatError(fmt::format("{}: {}.{} must be an array", ctx.file, where, key));
      for (const json& item : list) {
        TemplatePiece p;
        if (item.contains("Sequence")) {
          const json& s = item["Sequence"];
          p.is_sequence = true;
          const std::string id = get_or<std::string>(ctx, s, where + "." + key, "id", "A");
          if (id != "A" && id != "B") {
            throw FormatError(fmt::format("{}: {}.{} has Sequence id '{}' (A or B)", ctx.file, where, key, id));
          }
          p.sequence = id == "A" ? 0 : 1;
          p.type_id = get_or<int64_t>(ctx, s, where + "." + key, "type_id", 0);
        } else if (item.contains("SpecialToken")) {
          const json& s = item["SpecialToken"];
          const std::string id = get_or<std::string>(ctx, s, where + "." + key, "id", "");
          p.type_id = get_or<int64_t>(ctx, s, where + "." + key, "type_id", 0);
          const auto sp = specials.find(id);
          if (sp == specials.end()) {
            throw FormatError(fmt::format("{}: {}.special_tokens has no entry '{}' used in {}.{}", ctx.file, where,
                                          id, where, key));
          }
          p.ids = get_or<std::vector<int64_t>>(ctx, *sp, where + ".special_tokens", "ids", {});
          p.tokens = get_or<std::vector<std::string>>(ctx, *sp, where + ".special_tokens", "tokens", {});
          if (p.ids.size() != p.tokens.size()) {
            throw FormatError(fmt::format("{}: {}.special_tokens['{}'] has {} ids but {} tokens", ctx.file, where, id,
                                          p.ids.size(), p.tokens.size()));
          }
        } else {
          throw FormatError(fmt::format("{}: {}.{} has an item that is neither Sequence nor SpecialToken", ctx.file,
                                        where, key));
        }
        pieces.push_back(std::move(p));
      }
      return pieces;
    };
    PostProcessor p(parse("single"), parse("pair"));
    p.set_trim_offsets(false, false);
    out = std::move(p);
    return;
  }
  auto pair_of = [&](const char* key) {
    const json& v = require(ctx, j, where, key);
    if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_number_integer()) {
      throw FormatError(fmt::format("{}: {}.{} must be [\"token\", id]", ctx.file, where, key));
    }
    return std::make_pair(v[0].get<std::string>(), v[1].get<int64_t>());
  };
  if (type == "BertProcessing") {
    const auto [cls, cls_id] = pair_of("cls");
    const auto [sep, sep_id] = pair_of("sep");
    out = PostProcessor::bert(cls, cls_id, sep, sep_id);
    return;
  }
  if (type == "RobertaProcessing") {
    const auto [cls, cls_id] = pair_of("cls");
    const auto [sep, sep_id] = pair_of("sep");
    out = PostProcessor::roberta(cls, cls_id, sep, sep_id);
    out.set_trim_offsets(get_or(ctx, j, where, "trim_offsets", true), get_or(ctx, j, where, "add_prefix_space", true));
    return;
  }
  if (type == "ByteLevel") {
    out.set_trim_offsets(get_or(ctx, j, where, "trim_offsets", true), get_or(ctx, j, where, "add_prefix_space", true));
    return;
  }
  if (type == "Sequence") {
    const json& list = require(ctx, j, where, "processors");
    // ByteLevel (offset trimming) and one template-like processor compose; apply the template first so that
    // ByteLevel's trim setting survives it.
    for (size_t pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < list.size(); ++i) {
        const bool is_byte_level = type_of(ctx, list[i], where + ".processors") == "ByteLevel";
        if (is_byte_level == (pass == 1)) apply_post_processor(ctx, list[i], fmt::format("{}.processors[{}]", where, i), out);
      }
    }
    return;
  }
  throw FormatError(fmt::format(
      "{}: {}.type '{}' is not supported (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)",
      ctx.file, where, type));
}

AddedVocabulary make_added(const Ctx& ctx, const json& j) {
  std::vector<AddedToken> tokens;
  if (const auto it = j.find("added_tokens"); it != j.end() && it->is_array()) {
    for (const json& t : *it) {
      AddedToken a;
      a.id = require(ctx, t, "added_tokens[]", "id").get<int64_t>();
      a.content = require(ctx, t, "added_tokens[]", "content").get<std::string>();
      a.single_word = get_or(ctx, t, "added_tokens[]", "single_word", false);
      a.lstrip = get_or(ctx, t, "added_tokens[]", "lstrip", false);
      a.rstrip = get_or(ctx, t, "added_tokens[]", "rstrip", false);
      a.special = get_or(ctx, t, "added_tokens[]", "special", false);
      a.normalized = get_or(ctx, t, "added_tokens[]", "normalized", !a.special);
      tokens.push_back(std::move(a));
    }
  }
  return AddedVocabulary(std::move(tokens));
}

// The pad id: tokenizer_config.json's pad_token, else tokenizer.json's padding.pad_id, else [PAD] or <pad>.
int64_t find_pad_id(const Pipeline& p, const json& tokenizer_json, const json& config) {
  auto lookup = [&](std::string_view token) {
    const int64_t id = p.added.token_to_id(token);
    return id >= 0 ? id : p.model->token_to_id(token);
  };
  if (const auto name = token_name(config, "pad_token")) {
    if (const int64_t id = lookup(*name); id >= 0) return id;
  }
  if (const auto it = tokenizer_json.find("padding"); it != tokenizer_json.end() && it->is_object()) {
    if (const auto id = it->find("pad_id"); id != it->end() && id->is_number_integer()) return id->get<int64_t>();
  }
  for (const char* name : {"[PAD]", "<pad>"}) {
    if (const int64_t id = lookup(name); id >= 0) return id;
  }
  return 0;
}

json read_config(const fs::path& dir) {
  const fs::path path = dir / "tokenizer_config.json";
  if (!fs::exists(path)) return json::object();
  json j = read_json(path);
  if (!j.is_object()) throw FormatError(fmt::format("{}: expected a JSON object", path.string()));
  return j;
}

// ---------------------------------------------------------------------------------------------------------------
// The three ways a checkpoint ships its tokenizer

std::unique_ptr<Tokenizer> load_tokenizer_json(const fs::path& path, const json& config) {
  const json j = read_json(path);
  const Ctx ctx{path.filename().string()};
  if (!j.is_object()) throw FormatError(fmt::format("{}: expected a JSON object", ctx.file));
  Pipeline p;
  p.model = make_model(ctx, j);
  p.normalizer = make_normalizer(ctx, j.value("normalizer", json()));
  p.pre_tokenizer = make_pre_tokenizer(ctx, j.value("pre_tokenizer", json()));
  if (const json pp = j.value("post_processor", json()); !pp.is_null()) apply_post_processor(ctx, pp, "post_processor", p.post_processor);
  p.added = make_added(ctx, j);
  p.pad_token_id = find_pad_id(p, j, config);
  return std::make_unique<PipelineTokenizer>(std::move(p));
}

// BERT's vocab.txt, configured as transformers' BertTokenizer does from tokenizer_config.json.
std::unique_ptr<Tokenizer> load_wordpiece_vocab(const fs::path& dir, const json& config) {
  const Ctx ctx{"tokenizer_config.json"};
  const std::string where = "tokenizer_config";
  Pipeline p;
  const std::string unk = token_name(config, "unk_token").value_or("[UNK]");
  const std::string cls = token_name(config, "cls_token").value_or("[CLS]");
  const std::string sep = token_name(config, "sep_token").value_or("[SEP]");
  const std::string pad = token_name(config, "pad_token").value_or("[PAD]");
  const std::string mask = token_name(config, "mask_token").value_or("[MASK]");
  WordPieceOptions wo;
  wo.unk_token = unk;
  p.model = std::make_unique<WordPiece>(read_wordpiece_vocab((dir / "vocab.txt").string()), wo, "vocab.txt");
  BertNormalizerOptions no;
  no.lowercase = get_or(ctx, config, where, "do_lower_case", true);
  no.strip_accents = get_or(ctx, config, where, "strip_accents", no.lowercase);
  no.handle_chinese_chars = get_or(ctx, config, where, "tokenize_chinese_chars", true);
  p.normalizer = std::make_unique<BertNormalizer>(no);
  p.pre_tokenizer = std::make_unique<BertPreTokenizer>();
  auto id_of = [&](const std::string& token) {
    const int64_t id = p.model->token_to_id(token);
    if (id < 0) throw FormatError(fmt::format("vocab.txt: special token '{}' is missing from the vocabulary", token));
    return id;
  };
  p.post_processor = PostProcessor::bert(cls, id_of(cls), sep, id_of(sep));
  std::vector<AddedToken> added;
  for (const std::string& t : {pad, unk, cls, sep, mask}) {
    if (const int64_t id = p.model->token_to_id(t); id >= 0) added.push_back({id, t, false, false, false, false, true});
  }
  p.added = AddedVocabulary(std::move(added));
  p.pad_token_id = find_pad_id(p, json::object(), config);
  return std::make_unique<PipelineTokenizer>(std::move(p));
}

// GPT-2/RoBERTa's vocab.json + merges.txt, configured as transformers' RobertaTokenizer does.
std::unique_ptr<Tokenizer> load_bpe_files(const fs::path& dir, const json& config) {
  const Ctx ctx{"tokenizer_config.json"};
  const std::string where = "tokenizer_config";
  Pipeline p;
  const std::string cls = token_name(config, "cls_token").value_or("<s>");
  const std::string sep = token_name(config, "sep_token").value_or("</s>");
  const std::string bos = token_name(config, "bos_token").value_or("<s>");
  const std::string eos = token_name(config, "eos_token").value_or("</s>");
  const std::string unk = token_name(config, "unk_token").value_or("<unk>");
  const std::string pad = token_name(config, "pad_token").value_or("<pad>");
  const std::string mask = token_name(config, "mask_token").value_or("<mask>");
  const bool add_prefix_space = get_or(ctx, config, where, "add_prefix_space", false);
  const bool trim_offsets = get_or(ctx, config, where, "trim_offsets", true);
  p.model = std::make_unique<Bpe>(read_bpe_vocab((dir / "vocab.json").string()),
                                  read_bpe_merges((dir / "merges.txt").string()), BpeOptions{}, "merges.txt");
  p.normalizer = std::make_unique<IdentityNormalizer>();
  p.pre_tokenizer = std::make_unique<ByteLevelPreTokenizer>(ByteLevelOptions{add_prefix_space, true});
  auto id_of = [&](const std::string& token) {
    const int64_t id = p.model->token_to_id(token);
    if (id < 0) throw FormatError(fmt::format("vocab.json: special token '{}' is missing from the vocabulary", token));
    return id;
  };
  p.post_processor = PostProcessor::roberta(cls, id_of(cls), sep, id_of(sep));
  p.post_processor.set_trim_offsets(trim_offsets, add_prefix_space);
  std::vector<AddedToken> added;
  for (const std::string& t : {bos, pad, eos, unk, cls, sep, mask}) {
    const int64_t id = p.model->token_to_id(t);
    if (id < 0 || std::any_of(added.begin(), added.end(), [&](const AddedToken& a) { return a.content == t; })) continue;
    // transformers 5 RobertaTokenizer registers them all plain (no lstrip on <mask>, unlike transformers 4).
    added.push_back({id, t, false, false, false, false, true});
  }
  p.added = AddedVocabulary(std::move(added));
  p.pad_token_id = find_pad_id(p, json::object(), config);
  return std::make_unique<PipelineTokenizer>(std::move(p));
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_pretrained(const fs::path& dir) {
  if (!fs::is_directory(dir)) {
    throw InputError(fmt::format("{}: not a directory (expected a checkpoint folder with tokenizer.json, vocab.txt "
                                 "or vocab.json + merges.txt)", dir.string()));
  }
  const json config = read_config(dir);
  if (fs::exists(dir / "tokenizer.json")) return load_tokenizer_json(dir / "tokenizer.json", config);
  if (fs::exists(dir / "vocab.txt")) return load_wordpiece_vocab(dir, config);
  if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) return load_bpe_files(dir, config);
  throw InputError(fmt::format("{}: no tokenizer found (expected tokenizer.json, vocab.txt, or vocab.json + merges.txt)",
                               dir.string()));
}

}  // namespace adapterbias
