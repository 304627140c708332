#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <fmt/format.h>

#include "bindings.h"
#include "core/error.h"
#include "train/embedding.h"
#include "train/inference.h"

namespace adapterbias::python {

void bind_backbone(py::module_& m) {
  py::class_<PyBackbone, std::shared_ptr<PyBackbone>>(m, "Backbone")
      .def_static("load", [](const std::string& name_or_path, const std::string& device, const std::string& precision) {
        const Compute compute = resolve_compute(device, precision);
        const std::filesystem::path dir = resolve_model_dir(name_or_path);
        py::gil_scoped_release release;
        auto backbone = std::make_shared<PyBackbone>();
        backbone->pretrained = load_pretrained(dir.string());
        backbone->tokenizer = PyTokenizer{Tokenizer::from_pretrained(backbone->pretrained.dir), backbone->pretrained.dir.string()};
        backbone->compute = compute;
        if (compute.device.is_cuda() || compute.bf16()) {
          backbone->computed = copy_pretrained(backbone->pretrained);
          for (auto& p : backbone->computed->model->parameters()) p.set_requires_grad(false);
          backbone->computed->model->set_compute(compute);
        }
        for (auto& p : backbone->pretrained.model->parameters()) p.set_requires_grad(false);
        return backbone;
      }, py::arg("name_or_path"), py::arg("device") = "cpu", py::arg("precision") = "auto")
      .def_property_readonly("dir", [](const PyBackbone& b) { return b.pretrained.dir.string(); })
      .def_property_readonly("config", [](const PyBackbone& b) { return to_python(b.pretrained.config.to_json()); })
      .def_property_readonly("fingerprint", [](const PyBackbone& b) { return b.pretrained.fingerprint; })
      .def_property_readonly("num_parameters", [](const PyBackbone& b) { return b.pretrained.num_parameters; })
      .def_property_readonly("tokenizer", [](const PyBackbone& b) { return b.tokenizer; })
      .def_property_readonly("device", [](const PyBackbone& b) { return b.compute.device.str(); })
      .def_property_readonly("precision", [](const PyBackbone& b) { return b.compute.bf16() ? "bf16" : "fp32"; })
      .def("parameters", [](PyBackbone& b) {
        py::dict out;
        for (const auto& item : b.pretrained.model->named_parameters()) out[py::str(item.key())] = item.value();
        return out;
      }, "The backbone's own weights by name (fp32, CPU): the tensors themselves, not copies.")
      .def("embed", [](PyBackbone& b, const py::object& texts, const py::object& text_pairs, const std::string& pooling,
                       int64_t max_length, int64_t batch_size) {
        const std::vector<Example> examples = examples_from_python(texts, text_pairs);
        const Pooling how = parse_pooling(pooling);
        if (batch_size <= 0) throw InputError(fmt::format("batch_size: {} is not positive", batch_size));
        const int64_t positions = b.pretrained.config.max_position_embeddings;
        if (max_length <= 0 || max_length > positions)
          throw InputError(fmt::format("max_length: {} is outside [1, {}] (the model's positions)", max_length, positions));
        py::gil_scoped_release release;
        const auto encodings = encode_examples(*b.tokenizer.tokenizer, examples, max_length);
        return embed_pooled(b.encoder(), encodings, batch_size, how);
      }, py::arg("texts"), py::arg("text_pairs") = py::none(), py::arg("pooling") = "mean", py::arg("max_length") = 512,
         py::arg("batch_size") = 32);
}

}  // namespace adapterbias::python
