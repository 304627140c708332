// Helpers for the methods' XConfig::from_json: every config rejects fields it does not know, naming them.
#pragma once
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace adapterbias {

// Throws InputError when `json` is neither null nor an object.
inline void expect_options_object(std::string_view method, const nlohmann::json& json) {
  if (!json.is_null() && !json.is_object())
    throw InputError(fmt::format("{} options: expected a JSON object, got {}", method, json.dump()));
}

// For methods without options: throws InputError naming the first field of `json`.
inline void reject_options(std::string_view method, const nlohmann::json& json) {
  expect_options_object(method, json);
  if (json.is_null()) return;
  for (const auto& [key, value] : json.items())
    throw InputError(fmt::format("{} options: unknown field '{}' = {} (the method has no options)", method, key,
                                 value.dump()));
}

}  // namespace adapterbias
