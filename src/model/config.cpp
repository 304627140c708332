#include "model/config.h"

#include <type_traits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/io.h"

namespace adapterbias {
namespace {

template <typename T>
void read_field(const nlohmann::json& json, const std::string& source, const char* key, T& value, bool required) {
  if (!json.contains(key)) {
    if (required) throw FormatError(fmt::format("{}: missing field '{}'", source, key));
    return;
  }
  const nlohmann::json& field = json.at(key);
  // nlohmann converts 384.7 to 384 silently; a size must be written as an integer.
  if constexpr (std::is_integral_v<T>)
    if (!field.is_number_integer())
      throw FormatError(fmt::format("{}: field '{}' must be an integer, found {}", source, key, field.dump()));
  if constexpr (std::is_floating_point_v<T>)
    if (!field.is_number())
      throw FormatError(fmt::format("{}: field '{}' must be a number, found {}", source, key, field.dump()));
  try {
    value = field.get<T>();
  } catch (const nlohmann::json::exception&) {
    throw FormatError(fmt::format("{}: field '{}' has the wrong type ({})", source, key, json.at(key).dump()));
  }
}

// The encoder's parameter count from its sizes, in double so that absurd sizes cannot overflow.
double parameter_count(const BertConfig& c) {
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double embeddings = (static_cast<double>(c.vocab_size) + c.max_position_embeddings + c.type_vocab_size + 2) * H;
  const double layer = 4 * (H * H + H) + 2 * H * I + I + H + 4 * H;
  return embeddings + c.num_hidden_layers * layer + H * H + H;
}

// 20 billion: far beyond any encoder this tool adapts, far below what a hostile config.json can ask for.
constexpr double kMaxParameters = 2e10;

}  // namespace

BertConfig BertConfig::from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) throw FormatError(fmt::format("{}: not a JSON object", source));
  BertConfig c;
  read_field(json, source, "model_type", c.model_type, false);
  if (c.model_type == "xlm-roberta" || c.model_type == "camembert") c.model_type = "roberta";
  if (c.model_type != "bert" && c.model_type != "roberta")
    throw FormatError(fmt::format("{}: model_type '{}' is not supported (bert, roberta)", source, c.model_type));
  read_field(json, source, "vocab_size", c.vocab_size, true);
  read_field(json, source, "hidden_size", c.hidden_size, true);
  read_field(json, source, "num_hidden_layers", c.num_hidden_layers, true);
  read_field(json, source, "num_attention_heads", c.num_attention_heads, true);
  read_field(json, source, "intermediate_size", c.intermediate_size, true);
  read_field(json, source, "hidden_act", c.hidden_act, false);
  read_field(json, source, "hidden_dropout_prob", c.hidden_dropout_prob, false);
  read_field(json, source, "attention_probs_dropout_prob", c.attention_probs_dropout_prob, false);
  read_field(json, source, "max_position_embeddings", c.max_position_embeddings, true);
  read_field(json, source, "type_vocab_size", c.type_vocab_size, false);
  read_field(json, source, "layer_norm_eps", c.layer_norm_eps, false);
  read_field(json, source, "pad_token_id", c.pad_token_id, c.is_roberta());
  if (json.contains("position_embedding_type") && json.at("position_embedding_type") != "absolute")
    throw FormatError(fmt::format("{}: position_embedding_type {} is not supported (absolute)", source,
                                  json.at("position_embedding_type").dump()));

  if (c.hidden_act == "gelu_pytorch_tanh") c.hidden_act = "gelu_new";
  if (c.hidden_act != "gelu" && c.hidden_act != "gelu_new" && c.hidden_act != "relu")
    throw FormatError(fmt::format("{}: hidden_act '{}' is not supported (gelu, gelu_new, relu)", source, c.hidden_act));
  for (const auto& [name, v] : {std::pair{"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size},
                                {"num_hidden_layers", c.num_hidden_layers}, {"num_attention_heads", c.num_attention_heads},
                                {"intermediate_size", c.intermediate_size},
                                {"max_position_embeddings", c.max_position_embeddings},
                                {"type_vocab_size", c.type_vocab_size}})
    if (v <= 0) throw FormatError(fmt::format("{}: field '{}' must be positive, got {}", source, name, v));
  if (!(c.layer_norm_eps > 0 && c.layer_norm_eps < 1))
    throw FormatError(fmt::format("{}: field 'layer_norm_eps' must be in (0, 1), got {}", source, c.layer_norm_eps));
  for (const auto& [name, p] : {std::pair{"hidden_dropout_prob", c.hidden_dropout_prob},
                                {"attention_probs_dropout_prob", c.attention_probs_dropout_prob}})
    if (!(p >= 0 && p < 1)) throw FormatError(fmt::format("{}: field '{}' must be in [0, 1), got {}", source, name, p));
  if (c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size)
    throw FormatError(fmt::format("{}: pad_token_id {} is outside the vocabulary [0, {})", source, c.pad_token_id,
                                  c.vocab_size));
  if (c.max_tokens() <= 2)
    throw FormatError(fmt::format("{}: max_position_embeddings {} leaves no room for a sequence", source,
                                  c.max_position_embeddings));
  // Checked before anything is allocated: sizes from a hostile file must not reach the allocator.
  const double parameters = parameter_count(c);
  if (parameters > kMaxParameters)
    throw FormatError(fmt::format("{}: sizes imply {:.3g} parameters ({:.0f} GB in fp32), more than the {:.3g} this "
                                  "build loads", source, parameters, parameters * 4 / 1e9, kMaxParameters));
  if (c.hidden_size % c.num_attention_heads != 0)
    throw FormatError(fmt::format("{}: hidden_size {} is not a multiple of num_attention_heads {}", source,
                                  c.hidden_size, c.num_attention_heads));
  return c;
}

BertConfig BertConfig::from_file(const std::filesystem::path& path) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
  return from_json(json, path.string());
}

nlohmann::json BertConfig::to_json() const {
  return {{"model_type", model_type},
          {"vocab_size", vocab_size},
          {"hidden_size", hidden_size},
          {"num_hidden_layers", num_hidden_layers},
          {"num_attention_heads", num_attention_heads},
          {"intermediate_size", intermediate_size},
          {"hidden_act", hidden_act},
          {"hidden_dropout_prob", hidden_dropout_prob},
          {"attention_probs_dropout_prob", attention_probs_dropout_prob},
          {"max_position_embeddings", max_position_embeddings},
          {"type_vocab_size", type_vocab_size},
          {"layer_norm_eps", layer_norm_eps},
          {"pad_token_id", pad_token_id}};
}

int64_t BertConfig::checked_max_length(int64_t max_length, const std::string& what) const {
  if (max_length > max_tokens())
    throw InputError(fmt::format("{} {}: the model has {} positions, so a sequence holds at most {} tokens", what,
                                 max_length, max_position_embeddings, max_tokens()));
  return max_length;
}

}  // namespace adapterbias
