// adapterbias._core: the C++ library in-process. The Pythonic surface (keyword arguments, progress bars,
// TrainResult) is python/adapterbias/__init__.py; this module is the thin layer under it.
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include "bindings.h"
#include "core/error.h"
#include "core/log.h"
#include "train/trainer.h"

namespace adapterbias::python {

void bind_errors(py::module_& m) {
  // The classes live in adapterbias/errors.py (they subclass ValueError and friends there); every library error
  // becomes the one its exit code names, with the C++ message.
  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown) std::rethrow_exception(thrown);
    } catch (const Interrupted& e) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    } catch (const Error& e) {
      const char* name = "Error";
      switch (e.exit_code()) {
        case ExitCode::kInput: name = "InputError"; break;
        case ExitCode::kFormat: name = "FormatError"; break;
        case ExitCode::kMismatch: name = "MismatchError"; break;
        case ExitCode::kDistributed: name = "DistributedError"; break;
        case ExitCode::kDiverged: name = "DivergedError"; break;
        default: break;
      }
      const py::object cls = py::module_::import("adapterbias.errors").attr(name);
      PyErr_SetObject(cls.ptr(), py::str(e.what()).ptr());
    }
  });
}

}  // namespace adapterbias::python

PYBIND11_MODULE(_core, m) {
  namespace ab = adapterbias;
  namespace abpy = adapterbias::python;
  m.doc() = "adapterbias C++ core (use the adapterbias package, not this module)";
  m.attr("__version__") = ADAPTERBIAS_VERSION;
  abpy::bind_errors(m);
  abpy::bind_tokenizer(m);
  abpy::bind_backbone(m);
  abpy::bind_task_model(m);
  abpy::bind_training(m);

  m.def("set_num_threads", [](int threads) {
    if (threads <= 0) throw ab::InputError(fmt::format("threads: {} is not a positive count", threads));
    at::set_num_threads(threads);
  }, py::arg("threads"), "LibTorch's intra-op CPU threads for everything that follows.");
  m.def("get_num_threads", [] { return at::get_num_threads(); });

  // The library prints nothing and starts no process: its warnings and progress lines, and the lookup of packaged
  // model names, go to the Python callables the package installs (None removes them).
  m.def("set_log_handler", [](py::object handler) {
    if (handler.is_none()) {
      ab::set_log_handler({});
      return;
    }
    auto shared = std::make_shared<py::object>(std::move(handler));
    ab::set_log_handler([shared](ab::LogKind kind, std::string_view line) {
      if (!Py_IsInitialized()) return;
      py::gil_scoped_acquire gil;
      const char* name = kind == ab::LogKind::warning ? "warning" : kind == ab::LogKind::progress ? "progress" : "progress_final";
      try {
        (*shared)(name, std::string(line));
      } catch (py::error_already_set& e) {
        e.discard_as_unraisable("adapterbias log handler");
      }
    });
  }, py::arg("handler"));
  m.def("set_package_locator", [](py::object locator) {
    if (locator.is_none()) {
      ab::set_package_locator({});
      return;
    }
    auto shared = std::make_shared<py::object>(std::move(locator));
    ab::set_package_locator([shared](const std::string& package) -> std::string {
      py::gil_scoped_acquire gil;
      const py::object dir = (*shared)(package);
      return dir.is_none() ? std::string() : dir.cast<std::string>();
    });
  }, py::arg("locator"));
}
