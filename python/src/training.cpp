#include <atomic>
#include <csignal>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "bindings.h"
#include "core/error.h"
#include "train/train_setup.h"
#include "train/train_state.h"
#include "train/trainer.h"

namespace adapterbias::python {
namespace {

// Reports the trainer's events to a Python callable (None: to nobody) and turns Ctrl-C into the trainer's stop
// request: the interpreter's SIGINT handler only runs when asked, so every step asks it (PyErr_CheckSignals,
// main thread only). An exception from the callable also stops the run; it is raised once the trainer has
// written its checkpoint.
class PySink : public TrainSink {
 public:
  PySink(py::object callback, std::atomic<int>* stop) : callback_(std::move(callback)), stop_(stop) {}

  void epoch_started(int64_t epoch, int64_t steps) override {
    emit([&] { return py::dict(py::arg("event") = "epoch_started", py::arg("epoch") = epoch, py::arg("steps") = steps); });
  }
  void stepped(int64_t tokens, double running_loss) override {
    emit([&] { return py::dict(py::arg("event") = "step", py::arg("tokens") = tokens, py::arg("loss") = running_loss); });
  }
  void epoch_finished() override { emit([] { return py::dict(py::arg("event") = "epoch_finished"); }); }
  void evaluating() override { emit([] { return py::dict(py::arg("event") = "evaluating"); }); }
  void evaluated(const EvalRecord& record, bool best) override {
    emit([&] {
      py::dict metrics;
      for (const auto& [name, value] : record.dev.values) metrics[py::str(name)] = value;
      return py::dict(py::arg("event") = "evaluated", py::arg("epoch") = record.epoch, py::arg("step") = record.step,
                      py::arg("train_loss") = record.train_loss, py::arg("metrics") = metrics,
                      py::arg("primary") = record.dev.primary_name, py::arg("best") = best);
    });
  }
  void checkpointed(const std::filesystem::path& path, int64_t step) override {
    emit([&] { return py::dict(py::arg("event") = "checkpoint", py::arg("path") = path.string(), py::arg("step") = step); });
  }

  // The callable's exception, if it raised one.
  std::optional<py::error_already_set>& error() { return error_; }

 private:
  template <typename MakeEvent>
  void emit(MakeEvent make_event) {
    py::gil_scoped_acquire gil;
    if (!error_ && PyErr_CheckSignals() != 0) {
      PyErr_Clear();  // the KeyboardInterrupt is raised again, with the checkpoint's path, once the trainer stopped
      stop_->store(SIGINT);
    }
    if (callback_.is_none() || error_) return;
    try {
      callback_(make_event());
    } catch (py::error_already_set& e) {
      // Ctrl-C while the callable ran is a stop request like any other; its own exceptions are kept.
      if (!e.matches(PyExc_KeyboardInterrupt)) error_.emplace(std::move(e));
      stop_->store(SIGINT);
    }
  }

  py::object callback_;
  std::atomic<int>* stop_;
  std::optional<py::error_already_set> error_;
};

template <typename T>
T take(const nlohmann::json& config, const char* key, T fallback) {
  return config.contains(key) && !config.at(key).is_null() ? config.at(key).get<T>() : fallback;
}

// `adapterbias train`'s options under their Python names (adapterbias/__init__.py documents them).
struct TrainConfig {
  DataSource data;
  MethodChoice method;
  TrainOptions options;
  int64_t max_train_examples = -1;
  double dev_fraction = 0.0;
  std::filesystem::path out;
  bool overwrite = false;
};

TrainConfig parse_config(const nlohmann::json& c) {
  static const std::set<std::string> kKeys = {
      "task", "data", "train", "dev", "test", "text_column", "text_pair_column", "label_column", "id_column",
      "regression", "skip_bad_rows", "method", "method_options", "init_adapter", "dropout", "epochs", "batch_size",
      "lr", "max_length", "seed", "warmup", "weight_decay", "max_grad_norm", "eval_every", "max_steps", "shuffle",
      "eval_batch_size", "layout", "log_every", "early_stopping", "save_every", "max_train_examples", "dev_fraction",
      "out", "overwrite"};
  for (const auto& [key, value] : c.items())
    if (!kKeys.contains(key)) throw InputError(fmt::format("train: unknown option '{}'", key));
  TrainConfig t;
  t.data = DataSource::from_json(c);
  t.method.method = take<std::string>(c, "method", t.method.method);
  t.method.options = take<nlohmann::json>(c, "method_options", nlohmann::json::object());
  t.method.init_adapter = take<std::string>(c, "init_adapter", "");
  t.method.dropout = take<double>(c, "dropout", -1.0);
  TrainOptions& o = t.options;
  o.epochs = take<int64_t>(c, "epochs", o.epochs);
  o.batch_size = take<int64_t>(c, "batch_size", o.batch_size);
  o.lr = take<double>(c, "lr", o.lr);
  o.max_length = take<int64_t>(c, "max_length", o.max_length);
  o.seed = take<uint64_t>(c, "seed", o.seed);
  o.warmup = take<double>(c, "warmup", o.warmup);
  o.weight_decay = take<double>(c, "weight_decay", o.weight_decay);
  o.max_grad_norm = take<double>(c, "max_grad_norm", o.max_grad_norm);
  o.eval_every = take<int64_t>(c, "eval_every", o.eval_every);
  o.max_steps = take<int64_t>(c, "max_steps", o.max_steps);
  o.shuffle = take<bool>(c, "shuffle", o.shuffle);
  o.eval_batch_size = take<int64_t>(c, "eval_batch_size", o.eval_batch_size);
  const std::string layout = take<std::string>(c, "layout", "packed");
  if (layout != "packed" && layout != "padded")
    throw InputError(fmt::format("layout '{}': expected packed or padded", layout));
  o.layout = layout == "packed" ? BatchLayout::packed : BatchLayout::padded;
  o.log_every = take<int64_t>(c, "log_every", o.log_every);
  o.early_stopping = take<int64_t>(c, "early_stopping", o.early_stopping);
  o.save_every = take<int64_t>(c, "save_every", o.save_every);
  t.max_train_examples = take<int64_t>(c, "max_train_examples", -1);
  t.dev_fraction = take<double>(c, "dev_fraction", 0.0);
  t.out = take<std::string>(c, "out", "");
  t.overwrite = take<bool>(c, "overwrite", false);
  const auto positive = [](const char* name, double value) {
    if (!(value > 0)) throw InputError(fmt::format("{}: {} is not positive", name, value));
  };
  positive("epochs", static_cast<double>(o.epochs));
  positive("batch_size", static_cast<double>(o.batch_size));
  positive("max_length", static_cast<double>(o.max_length));
  positive("eval_batch_size", static_cast<double>(o.eval_batch_size));
  positive("log_every", static_cast<double>(o.log_every));
  if (!(o.lr >= 0)) throw InputError(fmt::format("lr: {} is negative", o.lr));
  if (!(t.dev_fraction >= 0 && t.dev_fraction < 1))
    throw InputError(fmt::format("dev_fraction: {} is outside [0, 1)", t.dev_fraction));
  if (t.out.empty()) throw InputError("train: out= (the output folder) is required");
  return t;
}

}  // namespace

void bind_training(py::module_& m) {
  m.def("train", [](std::shared_ptr<PyBackbone> backbone, const py::object& options, const py::object& callback) {
    nlohmann::json given = from_python(options);
    // resume: the options come from the checkpoint, which keeps them under "python" (the CLI's runs keep their
    // command line instead, and the CLI resumes those).
    std::optional<TrainState> checkpoint;
    if (given.contains("resume")) {
      const std::string dir = given.at("resume").get<std::string>();
      if (given.size() > 1)
        throw InputError(fmt::format("train: resume= continues a run with the options it was started with; give "
                                     "none of the others ({})", given.dump()));
      {
        py::gil_scoped_release release;
        checkpoint = load_checkpoint(dir);
      }
      if (!checkpoint->command.contains("python"))
        throw InputError(fmt::format("resume {}: the run was started by `adapterbias train`; continue it with "
                                     "`adapterbias train --resume {}`",
                                     dir, dir));
      given = checkpoint->command.at("python");
      given["out"] = dir;
    }
    const TrainConfig config = parse_config(given);
    std::atomic<int> stop{0};
    PySink sink(callback, &stop);
    nlohmann::json summary;
    try {
      py::gil_scoped_release release;
      if (!checkpoint) claim_output(config.out, config.overwrite);
      const TrainData data = read_train_data(config.data, config.max_train_examples, config.dev_fraction,
                                             config.options.seed);
      Pretrained pretrained = copy_pretrained(backbone->pretrained);
      TaskModelSetup setup = build_task_model(pretrained, data.task, config.method, config.options.max_length,
                                              config.options.seed, backbone->compute);
      Trainer trainer(setup.model, *backbone->tokenizer.tokenizer, data.task, data.train, data.dev, config.options,
                      setup.info, config.out, &sink, nullptr, {{"python", given}});
      if (checkpoint) trainer.resume(*checkpoint);
      const TrainResult result = trainer.run(&stop);
      summary = train_summary(result, data, setup, pretrained, 1);
      summary["train_examples"] = data.train.size();
      summary["dev_examples"] = data.dev.size();
      summary["skipped_rows"] = data.train.report.skipped + data.dev.report.skipped;
    } catch (const Interrupted& e) {
      if (sink.error()) throw std::move(*sink.error());  // the callback's own exception, after the checkpoint
      // The trainer's message names the CLI's flag: the same facts, with the Python way to continue.
      throw Interrupted(e.signal(), e.step(),
                        fmt::format("training stopped at step {}; checkpoint {}; continue with "
                                    "adapterbias.train(backbone, resume=\"{}\")",
                                    e.step(), RunFiles(config.out).checkpoint().string(), config.out.string()));
    }
    return to_python(summary);
  }, py::arg("backbone"), py::arg("options"), py::arg("callback") = py::none());
}

}  // namespace adapterbias::python
