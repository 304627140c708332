#include "serve/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "serve/metrics.h"

namespace adapterbias {
namespace {

using nlohmann::json;

// An error response: its status, error_type and message.
struct HttpError : std::runtime_error {
  HttpError(int status_, std::string type_, const std::string& message)
      : std::runtime_error(message), status(status_), type(std::move(type_)) {}
  int status;
  std::string type;
};

void respond_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void respond_error(httplib::Response& res, int status, const std::string& type, const std::string& message) {
  respond_json(res, status, json{{"error", message}, {"error_type", type}});
}

json parse_body(const httplib::Request& req) {
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::parse_error& e) {
    throw HttpError(400, "validation", fmt::format("the request body is not JSON: {}", e.what()));
  }
  if (!body.is_object()) throw HttpError(400, "validation", fmt::format("expected a JSON object, found {}", body.type_name()));
  return body;
}

void check_fields(const json& body, std::initializer_list<const char*> known) {
  for (const auto& [key, value] : body.items())
    if (std::find_if(known.begin(), known.end(), [&](const char* k) { return key == k; }) == known.end())
      throw HttpError(400, "validation", fmt::format("unknown field \"{}\" (known: {})", key, fmt::join(known, ", ")));
}

bool bool_field(const json& body, const char* name, bool fallback) {
  if (!body.contains(name) || body.at(name).is_null()) return fallback;
  if (!body.at(name).is_boolean()) throw HttpError(400, "validation", fmt::format("field \"{}\" must be true or false", name));
  return body.at(name).get<bool>();
}

std::string string_field(const json& body, const char* name) {
  if (!body.contains(name)) throw HttpError(400, "validation", fmt::format("missing field \"{}\"", name));
  if (!body.at(name).is_string()) throw HttpError(400, "validation", fmt::format("field \"{}\" must be a string", name));
  return body.at(name).get<std::string>();
}

struct Input {
  std::string text;
  std::optional<std::string> pair;
};

// "inputs": "text" | ["text", ...] | [["text", "text_pair"], ...]; `single` says whether it was one string.
std::vector<Input> parse_inputs(const json& body, int64_t max_inputs, bool& single) {
  if (!body.contains("inputs")) throw HttpError(400, "validation", "missing field \"inputs\"");
  const json& inputs = body.at("inputs");
  single = inputs.is_string();
  if (single) return {Input{inputs.get<std::string>(), std::nullopt}};
  if (!inputs.is_array())
    throw HttpError(400, "validation", "field \"inputs\" must be a string, an array of strings, or an array of [text, text_pair]");
  if (inputs.empty()) throw HttpError(400, "validation", "field \"inputs\" is empty");
  if (static_cast<int64_t>(inputs.size()) > max_inputs)
    throw HttpError(413, "payload_too_large", fmt::format("{} inputs, more than the limit of {} per request "
                                                          "(--max-client-batch-size)", inputs.size(), max_inputs));
  std::vector<Input> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const json& item = inputs[i];
    if (item.is_string()) {
      out.push_back({item.get<std::string>(), std::nullopt});
    } else if (item.is_array() && item.size() == 2 && item[0].is_string() && item[1].is_string()) {
      out.push_back({item[0].get<std::string>(), item[1].get<std::string>()});
    } else {
      throw HttpError(400, "validation", fmt::format("inputs[{}] must be a string or a [text, text_pair] array of two strings", i));
    }
  }
  return out;
}

json task_json(const ServedTask& task) {
  const AdapterInfo& info = task.info;
  return json{{"name", task.name},
              {"method", info.method},
              {"method_options", info.method_options},
              {"task", info.task},
              {"labels", info.labels},
              {"regression", info.regression},
              {"max_length", info.max_length},
              {"parameters", info.trainable_parameters},
              {"bytes", task.tensor_bytes},
              {"metrics", info.metrics},
              {"file", task.source.filename().string()}};
}

const ServedTask* find_task(const TaskList& tasks, const std::string& name) {
  for (const auto& task : *tasks)
    if (task.name == name) return &task;
  return nullptr;
}

std::string task_names(const TaskList& tasks) {
  std::vector<std::string> names;
  for (const auto& task : *tasks) names.push_back(task.name);
  return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}

// One prediction: {"label", "score"} with the top label's probability (raw: its logit), "scores" for every label
// on request; regression {"score"}.
json prediction(const AdapterInfo& info, const std::vector<float>& logits, bool raw, bool all) {
  for (const float x : logits)
    if (!std::isfinite(x)) throw HttpError(500, "backend", "the model produced a non-finite output");
  if (info.regression) return json{{"score", logits.at(0)}};
  const double top = *std::max_element(logits.begin(), logits.end());
  std::vector<double> probabilities;
  double sum = 0;
  for (const float x : logits) sum += std::exp(x - top);
  for (const float x : logits) probabilities.push_back(std::exp(x - top) / sum);
  const auto& values = raw ? std::vector<double>(logits.begin(), logits.end()) : probabilities;
  const size_t best = static_cast<size_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  json out{{"label", info.labels.at(best)}, {"score", values[best]}};
  if (all) {
    json scores = json::object();
    for (size_t c = 0; c < values.size(); ++c) scores[info.labels[c]] = values[c];
    out["scores"] = scores;
  }
  return out;
}

}  // namespace

struct Server::Impl {
  Impl(MultiTaskModel& model_, const Tokenizer& tokenizer_, ServeOptions options_)
      : model(model_), tokenizer(tokenizer_), options(std::move(options_)),
        batcher(model_, options.batching,
                BatchObserver{[this](int64_t rows, int64_t tokens, double s) { metrics.batch(rows, tokens, s); }}) {
    const int threads = options.http_threads > 0 ? options.http_threads : 64;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    http.set_payload_max_length(options.max_request_bytes);
    http.set_tcp_nodelay(true);  // small JSON answers: no Nagle/delayed-ACK wait of tens of milliseconds
    routes();
  }

  using Handle = std::function<void(const httplib::Request&, httplib::Response&)>;

  // Wraps a handler: the concurrency limit (for the endpoints that queue work), errors as JSON, metrics.
  httplib::Server::Handler route(const std::string& endpoint, bool limited, Handle handle) {
    return [this, endpoint, limited, handle](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      std::string error_type;
      const auto fail = [&](int status, const std::string& type, const std::string& message) {
        error_type = type;
        respond_error(res, status, type, message);
      };
      const bool admitted = !limited || in_flight.fetch_add(1) < options.max_concurrent_requests;
      try {
        if (!admitted) {
          res.set_header("Retry-After", "1");
          throw HttpError(429, "overloaded", fmt::format("more than {} requests at once (--max-concurrent-requests); "
                                                         "retry later", options.max_concurrent_requests));
        }
        handle(req, res);
      } catch (const HttpError& e) {
        fail(e.status, e.type, e.what());
      } catch (const ShuttingDown& e) {
        fail(503, "unavailable", e.what());
      } catch (const InputError& e) {
        fail(400, "validation", e.what());
      } catch (const FormatError& e) {
        fail(422, "unprocessable", e.what());
      } catch (const MismatchError& e) {
        fail(422, "unprocessable", e.what());
      } catch (const std::exception& e) {
        fail(500, "backend", e.what());
      }
      if (limited) in_flight.fetch_sub(1);
      if (!error_type.empty()) metrics.error(error_type);
      metrics.request(endpoint, res.status,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    };
  }

  void require_key(const httplib::Request& req, httplib::Response& res) const {
    if (options.api_key.empty()) return;
    if (req.get_header_value("Authorization") != "Bearer " + options.api_key) {
      res.set_header("WWW-Authenticate", "Bearer");
      throw HttpError(401, "unauthorized", "this endpoint needs the header \"Authorization: Bearer <--api-key>\"");
    }
  }

  // Tokenises `inputs` for `task` (null: the backbone alone): longer than its max length (the adapter's, or the
  // backbone's positions) they are cut ("truncate") or refused (422).
  std::vector<Encoding> encode(const std::vector<Input>& inputs, const ServedTask* task, bool truncate) const {
    const BertConfig& config = model.pretrained().config;
    const int64_t max_length = task ? adapter_max_length(config, task->info, task->source) : config.max_tokens();
    const std::string whose = task ? fmt::format("task '{}'", task->name) : std::string("the model");
    std::vector<Encoding> out;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto pair = inputs[i].pair ? std::optional<std::string_view>(*inputs[i].pair) : std::nullopt;
      Encoding encoding = tokenizer.encode(inputs[i].text, pair, EncodeOptions{});
      if (static_cast<int64_t>(encoding.ids.size()) > max_length) {
        if (!truncate)
          throw HttpError(422, "validation", fmt::format("inputs[{}] has {} tokens, more than {} takes ({}); "
                                                         "send \"truncate\": true to cut it", i, encoding.ids.size(),
                                                         whose, max_length));
        encoding = tokenizer.encode(inputs[i].text, pair, EncodeOptions{.max_length = max_length});
      }
      out.push_back(std::move(encoding));
    }
    return out;
  }

  void predict(const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req);
    check_fields(body, {"task", "inputs", "raw_scores", "all_scores", "truncate"});
    const std::string name = string_field(body, "task");
    bool single = false;
    const std::vector<Input> inputs = parse_inputs(body, options.max_client_batch_size, single);
    const bool raw = bool_field(body, "raw_scores", false), all = bool_field(body, "all_scores", false);
    const bool truncate = bool_field(body, "truncate", options.truncate);
    const TaskList tasks = batcher.tasks();
    const ServedTask* task = find_task(tasks, name);
    if (!task) throw HttpError(404, "not_found", fmt::format("no task '{}' (loaded: {})", name, task_names(tasks)));
    const std::vector<RowResult> results = batcher.submit(name, encode(inputs, task, truncate));
    json out = json::array();
    for (const RowResult& result : checked(results))
      out.push_back(prediction((*result.tasks)[result.task].info, result.values, raw, all));
    metrics.task_inputs(name, static_cast<int64_t>(inputs.size()));
    respond_json(res, 200, single ? out[0] : out);
  }

  static const std::vector<RowResult>& checked(const std::vector<RowResult>& results) {
    for (const RowResult& result : results)
      if (!result.error.empty())
        throw HttpError(result.not_found ? 404 : 500, result.not_found ? "not_found" : "backend", result.error);
    return results;
  }

  // /embed (pooled, TEI's) and /embed_all (every token's last hidden state), under a task's adapter or the
  // backbone alone.
  void embed(const httplib::Request& req, httplib::Response& res, bool all_tokens) {
    const json body = parse_body(req);
    if (all_tokens) check_fields(body, {"inputs", "task", "truncate"});
    else check_fields(body, {"inputs", "task", "pooling", "normalize", "truncate"});
    bool single = false;
    const std::vector<Input> inputs = parse_inputs(body, options.max_client_batch_size, single);
    const bool truncate = bool_field(body, "truncate", options.truncate);
    const bool normalize = !all_tokens && bool_field(body, "normalize", true);
    RowRequest request{RowRequest::Kind::embed, Pooling::mean, all_tokens};
    if (!all_tokens && body.contains("pooling")) {
      if (!body.at("pooling").is_string()) throw HttpError(400, "validation", "field \"pooling\" must be a string");
      request.pooling = parse_pooling(body.at("pooling").get<std::string>());
    }
    const TaskList tasks = batcher.tasks();
    std::string name;
    const ServedTask* task = nullptr;
    if (body.contains("task") && !body.at("task").is_null()) {
      name = string_field(body, "task");
      task = find_task(tasks, name);
      if (!task) throw HttpError(404, "not_found", fmt::format("no task '{}' (loaded: {})", name, task_names(tasks)));
    }
    const std::vector<RowResult> results = batcher.submit(name, encode(inputs, task, truncate), request);
    const int64_t H = model.pretrained().config.hidden_size;
    json out = json::array();
    for (const RowResult& result : checked(results)) {
      for (const float x : result.values)
        if (!std::isfinite(x)) throw HttpError(500, "backend", "the model produced a non-finite output");
      if (all_tokens) {
        json rows = json::array();
        for (size_t t = 0; t * H < result.values.size(); ++t)
          rows.push_back(std::vector<float>(result.values.begin() + t * H, result.values.begin() + (t + 1) * H));
        out.push_back(std::move(rows));
        continue;
      }
      std::vector<float> vector = result.values;
      if (normalize) {
        double norm = 0;
        for (const float x : vector) norm += double(x) * x;
        norm = std::sqrt(norm);
        if (norm > 0) for (float& x : vector) x = static_cast<float>(x / norm);
      }
      out.push_back(std::move(vector));
    }
    if (!name.empty()) metrics.task_inputs(name, static_cast<int64_t>(inputs.size()));
    respond_json(res, 200, out);
  }

  void tokenize(const httplib::Request& req, httplib::Response& res) const {
    const json body = parse_body(req);
    check_fields(body, {"inputs", "add_special_tokens"});
    bool single = false;
    const std::vector<Input> inputs = parse_inputs(body, options.max_client_batch_size, single);
    EncodeOptions encode_options;
    encode_options.add_special_tokens = bool_field(body, "add_special_tokens", true);
    json out = json::array();
    for (const Input& input : inputs) {
      const auto pair = input.pair ? std::optional<std::string_view>(*input.pair) : std::nullopt;
      const Encoding e = tokenizer.encode(input.text, pair, encode_options);
      json tokens = json::array();
      for (size_t t = 0; t < e.ids.size(); ++t) {
        const bool special = e.sequence_ids[t] < 0;
        tokens.push_back(json{{"id", e.ids[t]}, {"text", e.tokens[t]}, {"special", special},
                              {"start", special ? json() : json(e.offsets[t].first)},
                              {"stop", special ? json() : json(e.offsets[t].second)}});
      }
      out.push_back(tokens);
    }
    respond_json(res, 200, out);
  }

  void add_task(const httplib::Request& req, httplib::Response& res) {
    require_key(req, res);
    if (options.adapter_dir.empty())
      throw HttpError(403, "forbidden", "loading tasks is off: start the server with --adapter-dir FOLDER");
    const json body = parse_body(req);
    check_fields(body, {"name", "file"});
    const std::string name = string_field(body, "name"), file = string_field(body, "file");
    // Only a file inside --adapter-dir, named relative to it: no absolute path, no "..", no symlink out.
    const std::filesystem::path relative(file);
    const bool climbs = std::any_of(relative.begin(), relative.end(), [](const auto& part) { return part == ".."; });
    if (file.empty() || relative.is_absolute() || climbs || file.find('\0') != std::string::npos)
      throw HttpError(400, "validation", "field \"file\" must be a path relative to the adapter folder, without '..'");
    std::error_code ec;
    const std::filesystem::path root = std::filesystem::canonical(options.adapter_dir, ec);
    const std::filesystem::path path = std::filesystem::canonical(root / relative, ec);
    if (ec || !std::filesystem::is_regular_file(path))
      throw HttpError(404, "not_found", fmt::format("no adapter file '{}' in the adapter folder", file));
    const auto [end, _] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
    if (end != root.end()) throw HttpError(400, "validation", fmt::format("'{}' leads out of the adapter folder", file));
    if (find_task(batcher.tasks(), name)) throw HttpError(409, "conflict", fmt::format("task name '{}' is taken", name));
    const AdapterFile adapter = read_adapter(path);
    batcher.change_tasks([&](MultiTaskModel& m) { m.add_task(name, adapter, path); });
    const TaskList tasks = batcher.tasks();
    respond_json(res, 201, task_json(*find_task(tasks, name)));
  }

  void remove_task(const httplib::Request& req, httplib::Response& res) {
    require_key(req, res);
    const std::string name = req.matches[1];
    const TaskList tasks = batcher.tasks();
    if (!find_task(tasks, name)) throw HttpError(404, "not_found", fmt::format("no task '{}' (loaded: {})", name, task_names(tasks)));
    batcher.change_tasks([&](MultiTaskModel& m) { m.remove_task(name); });
    respond_json(res, 200, json{{"removed", name}});
  }

  json info() const {
    const BertConfig& config = model.pretrained().config;
    return json{{"model", model.pretrained().dir.filename().string()},
                {"model_type", config.model_type},
                {"hidden_size", config.hidden_size},
                {"num_hidden_layers", config.num_hidden_layers},
                {"max_position_embeddings", config.max_position_embeddings},
                {"compute", model.compute().to_string()},
                {"version", ADAPTERBIAS_VERSION},
                {"tasks", batcher.tasks()->size()},
                {"limits",
                 {{"max_concurrent_requests", options.max_concurrent_requests},
                  {"max_client_batch_size", options.max_client_batch_size},
                  {"max_request_bytes", options.max_request_bytes},
                  {"max_batch_tokens", options.batching.max_batch_tokens},
                  {"max_batch_requests", options.batching.max_batch_rows},
                  {"max_wait_ms", options.batching.max_wait.count() / 1000.0},
                  {"truncate", options.truncate}}}};
  }

  void routes() {
    http.Post("/predict", route("/predict", true, [this](const auto& req, auto& res) { predict(req, res); }));
    http.Post("/embed", route("/embed", true, [this](const auto& req, auto& res) { embed(req, res, false); }));
    http.Post("/embed_all", route("/embed_all", true, [this](const auto& req, auto& res) { embed(req, res, true); }));
    http.Post("/tokenize", route("/tokenize", true, [this](const auto& req, auto& res) { tokenize(req, res); }));
    http.Get("/tasks", route("/tasks", false, [this](const auto&, auto& res) {
      json tasks = json::array();
      for (const auto& task : *batcher.tasks()) tasks.push_back(task_json(task));
      respond_json(res, 200, json{{"tasks", tasks}});
    }));
    http.Post("/tasks", route("/tasks", false, [this](const auto& req, auto& res) { add_task(req, res); }));
    http.Delete(R"(/tasks/([^/]+))", route("/tasks/{name}", false, [this](const auto& req, auto& res) { remove_task(req, res); }));
    http.Get("/health", route("/health", false, [this](const auto&, auto& res) {
      respond_json(res, 200, json{{"status", "ok"}, {"tasks", batcher.tasks()->size()}});
    }));
    http.Get("/info", route("/info", false, [this](const auto&, auto& res) { respond_json(res, 200, info()); }));
    http.Get("/metrics", route("/metrics", false, [this](const auto&, auto& res) {
      res.set_content(metrics.render(batcher.queued_rows(), static_cast<int64_t>(batcher.tasks()->size())),
                      "text/plain; version=0.0.4");
    }));
    // What httplib answers itself (no route, a body over the limit) gets a JSON body too.
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404) respond_error(res, 404, "not_found", fmt::format("no route {} {}", req.method, req.path));
      else if (res.status == 413) respond_error(res, 413, "payload_too_large", "the request body is over the limit (--max-request-bytes)");
      else respond_error(res, res.status, "validation", fmt::format("HTTP {}", res.status));
    });
  }

  MultiTaskModel& model;
  const Tokenizer& tokenizer;
  ServeOptions options;
  ServerMetrics metrics;
  Batcher batcher;
  httplib::Server http;
  std::atomic<int64_t> in_flight{0};
};

Server::Server(MultiTaskModel& model, const Tokenizer& tokenizer, ServeOptions options)
    : impl_(std::make_unique<Impl>(model, tokenizer, std::move(options))) {}

Server::~Server() = default;

int Server::bind() {
  const ServeOptions& o = impl_->options;
  const int port = o.port == 0 ? impl_->http.bind_to_any_port(o.host) : (impl_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) throw InputError(fmt::format("cannot listen on {}:{} (in use, or not an address of this machine)", o.host, o.port));
  return port;
}

void Server::serve() {
  impl_->http.listen_after_bind();
  impl_->batcher.stop();
}

void Server::stop() { impl_->http.stop(); }

}  // namespace adapterbias
