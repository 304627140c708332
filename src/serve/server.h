// `adapterbias serve`: K tasks on one backbone over HTTP, JSON in and out, in the conventions of
// text-embeddings-inference where they fit (docs/serve.md):
//   POST /predict   {"task", "inputs": "t" | ["t", ...] | [["a", "b"], ...], "raw_scores", "all_scores", "truncate"}
//   POST /embed     {"inputs", "task" (optional), "pooling": mean | cls | pooler, "normalize", "truncate"}
//   POST /embed_all {"inputs", "task" (optional), "truncate"}: every token's last hidden state
//   POST /tokenize  {"inputs", "add_special_tokens"}
//   GET  /tasks, POST /tasks {"name", "file"} (a file inside --adapter-dir), DELETE /tasks/NAME
//   GET  /health, /info, /metrics (Prometheus text)
// Requests' inputs join the dynamic batcher (serve/batcher.h); every error is {"error", "error_type"} with its
// status: 400 malformed JSON or fields, 401 missing API key, 404 unknown task or route, 409 taken task name, 413
// too large or too many inputs, 422 an input too long without truncation or an unusable adapter file, 429 too
// many requests at once (Retry-After), 503 shutting down.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "peft/multi_task_model.h"
#include "serve/batcher.h"
#include "tokenizer/tokenizer.h"

namespace adapterbias {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0: any free port (bind() says which)
  std::filesystem::path adapter_dir;     // POST /tasks loads adapter files from here only; empty: off
  std::string api_key;                   // non-empty: POST/DELETE /tasks need "Authorization: Bearer <key>"
  int64_t max_concurrent_requests = 512;  // beyond: 429
  int64_t max_client_batch_size = 32;     // inputs per request; beyond: 413
  size_t max_request_bytes = 2 << 20;     // request body; beyond: 413
  bool truncate = false;                  // default of a request's "truncate": cut long inputs, or 422
  int http_threads = 0;                   // 0: the hardware's threads, at least 8
  BatcherOptions batching;
};

class Server {
 public:
  Server(MultiTaskModel& model, const Tokenizer& tokenizer, ServeOptions options);
  ~Server();

  // Binds the listening socket; returns its port. InputError when the address cannot be bound.
  int bind();
  // Serves until stop(); then finishes every accepted request, drains the batcher and returns.
  void serve();
  // From any thread: stop accepting connections; serve() returns once what was accepted is answered.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace adapterbias
