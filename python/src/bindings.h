// The pieces of adapterbias._core that its translation units share: JSON <-> Python conversion, the Backbone
// and TaskModel objects, and one bind_* function per area (module.cpp calls them).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/csrc/utils/pybind.h>  // at::Tensor <-> torch.Tensor casters (libtorch_python)

#include "model/checkpoint.h"
#include "model/compute.h"
#include "peft/adapter_file.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias::python {

namespace py = pybind11;

// Through Python's json module: results become plain dicts, lists, str, int, float, bool, None.
py::object to_python(const nlohmann::ordered_json& value);
py::object to_python(const nlohmann::json& value);
nlohmann::json from_python(const py::handle& value);

// Texts (and optional pairs of equal count) from Python: a str or a sequence of str.
std::vector<Example> examples_from_python(const py::object& texts, const py::object& text_pairs);

// A tokenizer of a checkpoint folder, shared by the Backbone and its task models.
struct PyTokenizer {
  std::shared_ptr<const Tokenizer> tokenizer;
  std::string dir;
};

// A loaded backbone. `pretrained` stays as loaded (fp32 on the CPU, no method injected): every task model and
// every training gets its own copy of it, so nothing they do changes it. `encoder` is what embed() runs: the
// backbone itself for CPU fp32, else a copy on the chosen device and precision.
struct PyBackbone {
  Pretrained pretrained;
  PyTokenizer tokenizer;
  Compute compute;
  std::optional<Pretrained> computed;

  BertModel& encoder() { return computed ? computed->model : pretrained.model; }
};

// A task adapter loaded on its own copy of a backbone.
struct PyTaskModel {
  std::shared_ptr<PyBackbone> backbone;
  LoadedAdapter loaded;
};

void bind_errors(py::module_& m);
void bind_tokenizer(py::module_& m);
void bind_backbone(py::module_& m);
void bind_task_model(py::module_& m);
void bind_training(py::module_& m);

}  // namespace adapterbias::python
