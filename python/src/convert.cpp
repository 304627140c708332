#include "bindings.h"

#include <fmt/format.h>

#include "core/error.h"

namespace adapterbias::python {
namespace {

py::object json_module() {
  static py::object json = py::module_::import("json");  // cached: the module lives as long as the interpreter
  return json;
}

}  // namespace

py::object to_python(const nlohmann::ordered_json& value) { return json_module().attr("loads")(value.dump()); }
py::object to_python(const nlohmann::json& value) { return json_module().attr("loads")(value.dump()); }

nlohmann::json from_python(const py::handle& value) {
  // allow_nan=False: NaN and infinities are not JSON; they are refused here rather than passed on.
  std::string text;
  try {
    text = json_module().attr("dumps")(value, py::arg("allow_nan") = false).cast<std::string>();
  } catch (const py::error_already_set& e) {
    throw InputError(fmt::format("not JSON-serialisable: {}", e.what()));
  }
  return nlohmann::json::parse(text);
}

std::vector<Example> examples_from_python(const py::object& texts, const py::object& text_pairs) {
  const auto strings = [](const py::object& values, const char* what) {
    if (py::isinstance<py::str>(values)) return std::vector<std::string>{values.cast<std::string>()};
    std::vector<std::string> out;
    for (const py::handle item : values) {
      if (!py::isinstance<py::str>(item))
        throw InputError(fmt::format("{}: expected str items, found {}", what, py::str(item.get_type()).cast<std::string>()));
      out.push_back(item.cast<std::string>());
    }
    return out;
  };
  const std::vector<std::string> a = strings(texts, "texts");
  std::vector<Example> examples(a.size());
  for (size_t i = 0; i < a.size(); ++i) examples[i].text_a = a[i];
  if (!text_pairs.is_none()) {
    const std::vector<std::string> b = strings(text_pairs, "text_pairs");
    if (b.size() != a.size())
      throw InputError(fmt::format("text_pairs: {} pairs for {} texts", b.size(), a.size()));
    for (size_t i = 0; i < b.size(); ++i) examples[i].text_b = b[i];
  }
  return examples;
}

}  // namespace adapterbias::python
