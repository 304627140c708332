#include <ATen/ATen.h>
#include <fmt/format.h>

#include "analysis/explanation.h"
#include "analysis/token_shift.h"
#include "bindings.h"
#include "core/error.h"
#include "peft/merged_checkpoint.h"
#include "train/inference.h"

namespace adapterbias::python {
namespace {

void check_batch(int64_t batch_size, int64_t max_length) {
  if (batch_size <= 0) throw InputError(fmt::format("batch_size: {} is not positive", batch_size));
  if (max_length < 0) throw InputError(fmt::format("max_length: {} is negative", max_length));
}

at::Tensor run_logits(PyTaskModel& t, const std::vector<Example>& examples, int64_t batch_size, int64_t max_length) {
  const auto encodings = encode_examples(*t.loaded.tokenizer, examples, t.loaded.max_length(max_length));
  return predict_logits(t.loaded.model, encodings, batch_size, t.loaded.tokenizer->pad_token_id());
}

}  // namespace

void bind_task_model(py::module_& m) {
  py::class_<PyTaskModel, std::shared_ptr<PyTaskModel>>(m, "TaskModel")
      .def_static("load", [](std::shared_ptr<PyBackbone> backbone, const std::string& path) {
        py::gil_scoped_release release;
        AdapterFile file = read_adapter(path);
        return std::make_shared<PyTaskModel>(PyTaskModel{
            backbone, load_adapter_model(copy_pretrained(backbone->pretrained), std::move(file), path, backbone->compute)});
      }, py::arg("backbone"), py::arg("path"))
      .def_property_readonly("path", [](const PyTaskModel& t) { return t.loaded.path.string(); })
      .def_property_readonly("info", [](const PyTaskModel& t) { return to_python(t.loaded.info().to_json()); })
      .def_property_readonly("labels", [](const PyTaskModel& t) { return t.loaded.info().labels; })
      .def_property_readonly("regression", [](const PyTaskModel& t) { return t.loaded.info().regression; })
      .def_property_readonly("task", [](const PyTaskModel& t) { return t.loaded.info().task; })
      .def_property_readonly("method", [](const PyTaskModel& t) { return t.loaded.info().method; })
      .def("tensors", [](PyTaskModel& t) {
        py::dict out;
        for (const auto& trainable : t.loaded.model.trainable()) out[py::str(trainable.name)] = trainable.tensor;
        return out;
      }, "The adapter's trained tensors by name, as the model uses them: the tensors themselves, not copies.")
      .def("logits", [](PyTaskModel& t, const py::object& texts, const py::object& text_pairs, int64_t batch_size,
                        int64_t max_length) {
        check_batch(batch_size, max_length);
        const std::vector<Example> examples = examples_from_python(texts, text_pairs);
        py::gil_scoped_release release;
        return run_logits(t, examples, batch_size, max_length);
      }, py::arg("texts"), py::arg("text_pairs") = py::none(), py::arg("batch_size") = 64, py::arg("max_length") = 0)
      .def("predict", [](PyTaskModel& t, const py::object& texts, const py::object& text_pairs, int64_t batch_size,
                         int64_t max_length, bool with_logits) {
        check_batch(batch_size, max_length);
        const std::vector<Example> examples = examples_from_python(texts, text_pairs);
        nlohmann::ordered_json rows = nlohmann::ordered_json::array();
        {
          py::gil_scoped_release release;
          const at::Tensor logits = run_logits(t, examples, batch_size, max_length);
          for (int64_t i = 0; i < logits.size(0); ++i) rows.push_back(prediction_json(t.loaded.info(), logits[i], with_logits));
        }
        return to_python(rows);
      }, py::arg("texts"), py::arg("text_pairs") = py::none(), py::arg("batch_size") = 64, py::arg("max_length") = 0,
         py::arg("logits") = false)
      .def("evaluate", [](PyTaskModel& t, const std::string& split, int64_t batch_size, int64_t max_length,
                          const py::kwargs& kwargs) {
        check_batch(batch_size, max_length);
        DataSource source = DataSource::from_json(from_python(kwargs));
        nlohmann::ordered_json metrics;
        {
          py::gil_scoped_release release;
          const TaskSpec task = adapter_task(source, t.loaded.info(), t.loaded.path);
          const Dataset data = read_split(source, task, split);
          metrics = evaluate_adapter(t.loaded, task, data, split, batch_size, max_length);
        }
        return to_python(metrics);
      }, py::arg("split") = "dev", py::arg("batch_size") = 64, py::arg("max_length") = 0)
      .def("explain", [](PyTaskModel& t, const py::object& texts, const py::object& text_pairs, int64_t batch_size,
                         int64_t max_length) {
        check_batch(batch_size, max_length);
        const std::vector<Example> examples = examples_from_python(texts, text_pairs);
        nlohmann::ordered_json doc;
        {
          py::gil_scoped_release release;
          const auto encodings = encode_examples(*t.loaded.tokenizer, examples, t.loaded.max_length(max_length));
          const auto shifts = token_shifts(t.loaded.model, encodings, batch_size, t.loaded.tokenizer->pad_token_id());
          doc = explanations_json(t.loaded.path.string(), t.loaded.info(), examples, shifts,
                                  shift_vector_norms(t.loaded.model));
        }
        return to_python(doc);
      }, py::arg("texts"), py::arg("text_pairs") = py::none(), py::arg("batch_size") = 32, py::arg("max_length") = 0)
      .def("merge", [](PyTaskModel& t, const std::string& out, bool overwrite) {
        nlohmann::ordered_json summary;
        {
          py::gil_scoped_release release;
          // Merging changes the model it folds into: a fresh copy, so that this task model stays as it is.
          LoadedAdapter fresh = load_adapter_model(copy_pretrained(t.backbone->pretrained), read_adapter(t.loaded.path),
                                                   t.loaded.path, Compute{});
          summary = write_merged_checkpoint(fresh, out, overwrite);
        }
        return to_python(summary);
      }, py::arg("out"), py::arg("overwrite") = false);
}

}  // namespace adapterbias::python
