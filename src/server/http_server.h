// The OpenAI-compatible HTTP front end (cpp-httplib): routes, API-key check, body-size
// limit, error objects, worker threads, and streaming with disconnect detection.
//   GET  /health                 200 {"status": "ok"} (no API key needed)
//   GET  /metrics                Prometheus text (metrics.h)
//   GET  /v1/models[/ID]         the served model
//   POST /v1/completions         text or token-id prompt
//   POST /v1/chat/completions    messages rendered with the model's chat template
// Every failure is an OpenAI error object with the matching status (openai_errors.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "server/completion_job.h"
#include "server/metrics.h"

namespace httplib {
class Server;
struct Response;
}

namespace dsv3::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (bind() returns it)
  std::string api_key;  // empty: no authentication
  size_t max_body_bytes = size_t(8) << 20;  // larger request bodies get 413
  int http_threads = 96;  // concurrent connections being served (streams hold one each)
};

class HttpServer {
 public:
  HttpServer(CompletionService& service, ServerMetrics& metrics, ServerOptions opts);
  ~HttpServer();
  // Binds the listening socket and returns the port; throws Error when it cannot.
  int bind();
  // Serves until stop(); returns after every connection thread has finished.
  void run();
  void stop();  // thread-safe, also from a signal-waiting thread

 private:
  void install_routes();
  // /v1/completions and /v1/chat/completions: JSON body -> response or SSE stream.
  void generate(ApiKind kind, const std::string& body, httplib::Response& res);
  CompletionService& service_;
  ServerMetrics& metrics_;
  ServerOptions opts_;
  int64_t started_ = 0;
  std::unique_ptr<httplib::Server> http_;
};

}  // namespace dsv3::server
