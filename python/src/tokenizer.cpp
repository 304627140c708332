#include <ATen/ATen.h>
#include <fmt/format.h>

#include "bindings.h"
#include "core/error.h"

namespace adapterbias::python {
namespace {

// The fields `adapterbias tokenize` prints, in its order.
py::dict encoding_dict(const Encoding& e) {
  py::dict out;
  out["input_ids"] = py::cast(e.ids);
  out["token_type_ids"] = py::cast(e.type_ids);
  out["attention_mask"] = py::cast(e.attention_mask);
  out["tokens"] = py::cast(e.tokens);
  py::list offsets;
  for (const auto& [begin, end] : e.offsets) offsets.append(py::make_tuple(begin, end));
  out["offsets"] = offsets;
  return out;
}

// (N, T) int64 tensors padded to the longest encoding: input_ids (pad id), token_type_ids, attention_mask.
py::dict padded_tensors(const std::vector<Encoding>& encodings, int64_t pad_id) {
  int64_t T = 0;
  for (const auto& e : encodings) T = std::max<int64_t>(T, static_cast<int64_t>(e.ids.size()));
  const auto N = static_cast<int64_t>(encodings.size());
  at::Tensor ids = at::full({N, T}, pad_id, at::kLong), types = at::zeros({N, T}, at::kLong),
             mask = at::zeros({N, T}, at::kLong);
  for (int64_t i = 0; i < N; ++i) {
    const Encoding& e = encodings[static_cast<size_t>(i)];
    const auto len = static_cast<int64_t>(e.ids.size());
    std::copy(e.ids.begin(), e.ids.end(), ids[i].data_ptr<int64_t>());
    std::copy(e.type_ids.begin(), e.type_ids.end(), types[i].data_ptr<int64_t>());
    std::copy(e.attention_mask.begin(), e.attention_mask.begin() + len, mask[i].data_ptr<int64_t>());
  }
  py::dict out;
  out["input_ids"] = ids;
  out["token_type_ids"] = types;
  out["attention_mask"] = mask;
  return out;
}

std::vector<std::pair<std::string, std::optional<std::string>>> inputs_from_python(const py::object& texts,
                                                                                    const py::object& text_pairs) {
  std::vector<std::pair<std::string, std::optional<std::string>>> inputs;
  for (Example& e : examples_from_python(texts, text_pairs)) inputs.emplace_back(std::move(e.text_a), std::move(e.text_b));
  return inputs;
}

}  // namespace

void bind_tokenizer(py::module_& m) {
  py::class_<PyTokenizer>(m, "Tokenizer")
      .def_static("from_pretrained", [](const std::string& name_or_path) {
        const std::filesystem::path dir = resolve_model_dir(name_or_path);
        py::gil_scoped_release release;
        return PyTokenizer{Tokenizer::from_pretrained(dir), dir.string()};
      }, py::arg("name_or_path"))
      .def_readonly("dir", &PyTokenizer::dir)
      .def_property_readonly("pad_token_id", [](const PyTokenizer& t) { return t.tokenizer->pad_token_id(); })
      .def_property_readonly("vocab_size", [](const PyTokenizer& t) { return t.tokenizer->vocab_size(); })
      .def("token_to_id", [](const PyTokenizer& t, const std::string& token) -> std::optional<int64_t> {
        const int64_t id = t.tokenizer->token_to_id(token);
        return id < 0 ? std::nullopt : std::optional(id);
      }, py::arg("token"))
      .def("encode", [](const PyTokenizer& t, const std::string& text, std::optional<std::string> text_pair,
                        int64_t max_length, bool add_special_tokens) {
        if (max_length < 0) throw InputError(fmt::format("max_length: {} is negative", max_length));
        Encoding e;
        {
          py::gil_scoped_release release;
          e = t.tokenizer->encode(text, text_pair ? std::optional<std::string_view>(*text_pair) : std::nullopt,
                                  EncodeOptions{.max_length = max_length, .add_special_tokens = add_special_tokens});
        }
        return encoding_dict(e);
      }, py::arg("text"), py::arg("text_pair") = py::none(), py::arg("max_length") = 0,
         py::arg("add_special_tokens") = true)
      .def("encode_batch", [](const PyTokenizer& t, const py::object& texts, const py::object& text_pairs,
                              int64_t max_length, bool add_special_tokens, const py::object& return_tensors) -> py::object {
        if (max_length < 0) throw InputError(fmt::format("max_length: {} is negative", max_length));
        const bool tensors = !return_tensors.is_none();
        if (tensors && return_tensors.cast<std::string>() != "pt")
          throw InputError(fmt::format("return_tensors: expected None or 'pt', found '{}'", return_tensors.cast<std::string>()));
        const auto inputs = inputs_from_python(texts, text_pairs);
        std::vector<Encoding> encodings;
        {
          py::gil_scoped_release release;
          encodings = t.tokenizer->encode_batch(
              inputs, EncodeOptions{.max_length = max_length, .add_special_tokens = add_special_tokens});
        }
        if (tensors) return padded_tensors(encodings, t.tokenizer->pad_token_id());
        py::list out;
        for (const auto& e : encodings) out.append(encoding_dict(e));
        return out;
      }, py::arg("texts"), py::arg("text_pairs") = py::none(), py::arg("max_length") = 0,
         py::arg("add_special_tokens") = true, py::arg("return_tensors") = py::none());
}

}  // namespace adapterbias::python
