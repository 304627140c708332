// adapterbias serve --model DIR --adapter NAME=FILE [--adapter ...] [--host 127.0.0.1 --port 8080]
// Serves every adapter on one backbone over HTTP (serve/server.h, docs/serve.md). SIGINT/SIGTERM: stop
// accepting, answer what was accepted, exit 0.
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include <pthread.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/common.h"        // defines: add_named_adapters, apply_run_options, positive
#include "core/error.h"
#include "model/checkpoint.h"  // defines: load_pretrained
#include "serve/server.h"

namespace adapterbias::cli {
namespace {

struct ServeArgs {
  std::string model;
  std::vector<std::string> adapters;
  std::string adapter_dir;
  int64_t max_wait_ms = 2;
  ServeOptions options;
  RunArgs run;
};

void run_serve(ServeArgs args) {
  // Signals go to one thread that waits for them, so that stopping runs outside a signal handler. Blocked
  // first: every thread made later (LibTorch's, OpenMP's, HTTP workers) inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  const Compute compute = apply_run_options(args.run);
  if (!args.adapter_dir.empty() && !std::filesystem::is_directory(args.adapter_dir))
    throw InputError(fmt::format("--adapter-dir {}: not a folder", args.adapter_dir));
  args.options.adapter_dir = args.adapter_dir;
  args.options.batching.max_wait = std::chrono::milliseconds(args.max_wait_ms);
  MultiTaskModel model(load_pretrained(args.model), compute);
  add_named_adapters(model, args.adapters);
  const auto tokenizer = Tokenizer::from_pretrained(model.pretrained().dir);

  Server server(model, *tokenizer, args.options);
  const int port = server.bind();
  std::fprintf(stderr, "adapterbias serve: %lld task(s) on %s (%s), listening on http://%s:%d\n",
               static_cast<long long>(model.num_tasks()), model.pretrained().dir.c_str(), compute.to_string().c_str(),
               args.options.host.c_str(), port);
  std::fflush(stderr);
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    std::fprintf(stderr, "adapterbias serve: signal %d, finishing accepted requests\n", signal);
    server.stop();
  });
  server.serve();
  // serve() returned on a signal: the waiter is done. (Nothing else stops the server.)
  waiter.join();
  std::fprintf(stderr, "adapterbias serve: stopped\n");
}

}  // namespace

void setup_serve(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  ServeOptions& o = args->options;
  auto* sub = app.add_subcommand("serve", "Serve adapters on one backbone over HTTP (predict, tokenize, tasks, metrics)");
  sub->add_option("--model", args->model, "Checkpoint folder or packaged model name (minilm) the adapters were trained on")
      ->required();
  sub->add_option("--adapter", args->adapters, "NAME=FILE (repeatable); a plain FILE is named after its task")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("--adapter-dir", args->adapter_dir, "Folder POST /tasks may load adapter files from (default: none)");
  sub->add_option("--host", o.host, "Address to listen on")->capture_default_str();
  sub->add_option("--port", o.port, "Port (0: any free one)")->capture_default_str()->check(CLI::Range(0, 65535));
  sub->add_option("--api-key", o.api_key, "Bearer token that POST/DELETE /tasks require (default: none)");
  sub->add_option("--max-concurrent-requests", o.max_concurrent_requests, "Requests at once; beyond: 429")
      ->capture_default_str()->check(positive());
  sub->add_option("--max-client-batch-size", o.max_client_batch_size, "Inputs per request; beyond: 413")
      ->capture_default_str()->check(positive());
  sub->add_option("--max-request-bytes", o.max_request_bytes, "Request body bytes; beyond: 413")
      ->capture_default_str()->check(positive());
  sub->add_option("--max-batch-tokens", o.batching.max_batch_tokens, "Real tokens per engine batch")
      ->capture_default_str()->check(positive());
  sub->add_option("--max-batch-requests", o.batching.max_batch_rows, "Inputs per engine batch")
      ->capture_default_str()->check(positive());
  sub->add_option("--max-wait-ms", args->max_wait_ms, "How long an input may wait for others to batch with")
      ->capture_default_str()->check(non_negative());
  sub->add_flag("--truncate", o.truncate, "Cut inputs longer than the task's max length (default: 422)");
  sub->add_option("--http-threads", o.http_threads, "HTTP worker threads (0: 64)")->capture_default_str()->check(non_negative());
  add_run_options(sub, args->run);
  sub->callback([args] { run_serve(*args); });
}

}  // namespace adapterbias::cli
