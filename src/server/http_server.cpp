#include "server/http_server.h"

#include <sys/socket.h>

#include <chrono>

#include <httplib.h>

#include "server/openai_errors.h"
#include "server/sse.h"

namespace dsv3::server {

namespace {

using json = nlohmann::json;

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& param = "",
                const std::string& code = "") {
  res.status = status;
  res.set_content(to_json_text(error_body(status, message, param, code)), "application/json");
}

// Comparison whose time does not depend on where the strings differ (API keys).
bool same_secret(const std::string& a, const std::string& b) {
  unsigned diff = unsigned(a.size() != b.size());
  for (size_t i = 0; i < a.size(); ++i) diff |= unsigned(uint8_t(a[i]) ^ uint8_t(i < b.size() ? b[i] : 0));
  return diff == 0;
}

bool known_path(const std::string& p) {
  return p == "/health" || p == "/metrics" || p == "/v1/models" || p.rfind("/v1/models/", 0) == 0 ||
         p == "/v1/completions" || p == "/v1/chat/completions";
}

}  // namespace

HttpServer::HttpServer(CompletionService& service, ServerMetrics& metrics, ServerOptions opts)
    : service_(service), metrics_(metrics), opts_(std::move(opts)), http_(std::make_unique<httplib::Server>()) {
  started_ = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const int threads = std::max(4, opts_.http_threads);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  http_->set_payload_max_length(opts_.max_body_bytes);
  http_->set_keep_alive_max_count(1000);
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
  // server start on a busy port and silently take half of its connections.
  http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  install_routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  int port = opts_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(opts_.host);
    DSV3_CHECK(port > 0, "serve: cannot bind ", opts_.host, " (any port)");
  } else {
    DSV3_CHECK(http_->bind_to_port(opts_.host, port), "serve: cannot bind ", opts_.host, ":", port,
               " (in use, or not an address of this machine)");
  }
  return port;
}

void HttpServer::run() { http_->listen_after_bind(); }

void HttpServer::stop() {
  service_.shut_down();
  http_->stop();
}

void HttpServer::install_routes() {
  auto& h = *http_;

  // Authentication before anything is read or routed; /health stays open for probes.
  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (opts_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0 && same_secret(auth.substr(7), opts_.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, 401,
               auth.empty() ? "missing API key: send the header 'Authorization: Bearer <key>'" : "incorrect API key",
               "", "invalid_api_key");
    return httplib::Server::HandlerResponse::Handled;
  });

  // Errors raised by httplib itself (no route, body too large, malformed HTTP) get the same
  // OpenAI error objects as ours; responses that already carry a body are left alone.
  h.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string where = " (" + req.method + " " + req.path + ")";
    if (res.status == 404 && known_path(req.path)) {
      const bool post = req.path == "/v1/completions" || req.path == "/v1/chat/completions";
      res.set_header("Allow", post ? "POST" : "GET");
      send_error(res, 405, "method not allowed" + where + "; use " + (post ? "POST" : "GET"));
    } else if (res.status == 404) {
      send_error(res, 404, "Invalid URL" + where, "", "unknown_url");
    } else if (res.status == 413) {
      send_error(res, 413, "request body too large: the limit is " + std::to_string(opts_.max_body_bytes) + " bytes");
    } else if (res.status == 400) {
      send_error(res, 400, "malformed HTTP request" + where);
    } else {
      send_error(res, res.status, "HTTP error " + std::to_string(res.status) + where);
    }
    return httplib::Server::HandlerResponse::Handled;
  }));

  h.set_logger([this](const httplib::Request&, const httplib::Response& res) { metrics_.count_response(res.status); });

  h.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });

  h.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(service_.engine().stats()), "text/plain; version=0.0.4; charset=utf-8");
  });

  auto model_object = [this] {
    return json{{"id", service_.config().model_name},
                {"object", "model"},
                {"created", started_},
                {"owned_by", "dsv3"},
                {"max_model_len", service_.config().context}};
  };
  h.Get("/v1/models", [model_object](const httplib::Request&, httplib::Response& res) {
    res.set_content(to_json_text({{"object", "list"}, {"data", json::array({model_object()})}}), "application/json");
  });
  h.Get(R"(/v1/models/(.+))", [this, model_object](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1] != service_.config().model_name)
      return send_error(res, 404, "The model '" + std::string(req.matches[1]) + "' does not exist", "model",
                        "model_not_found");
    res.set_content(to_json_text(model_object()), "application/json");
  });

  // Bodies are read through a content reader: it enforces the size limit (413) but, unlike
  // httplib's default reader, does not parse form-encoded bodies (curl -d without a JSON
  // Content-Type would otherwise hit httplib's 8 KB form limit).
  for (const auto& [path, kind] : {std::pair{"/v1/completions", ApiKind::kCompletion},
                                   std::pair{"/v1/chat/completions", ApiKind::kChat}}) {
    h.Post(path, httplib::Server::HandlerWithContentReader(
                     [this, kind](const httplib::Request&, httplib::Response& res, const httplib::ContentReader& reader) {
                       std::string body;
                       if (!reader([&](const char* d, size_t n) {
                             body.append(d, n);
                             return true;
                           })) {
                         if (res.status == 413)
                           return send_error(res, 413, "request body too large: the limit is " +
                                                           std::to_string(opts_.max_body_bytes) + " bytes");
                       }  // otherwise the JSON parser names what is wrong with the partial body
                       generate(kind, body, res);
                     }));
    h.Post(path, httplib::Server::Handler([this, kind](const httplib::Request& req, httplib::Response& res) {
             generate(kind, req.body, res);  // no body at all
           }));
  }
}

void HttpServer::generate(ApiKind kind, const std::string& body, httplib::Response& res) {
  metrics_.count_request(kind == ApiKind::kChat ? "chat" : "completions");
  try {
    const OpenAIRequest r = parse_openai_request(body, kind);
    if (!r.model.empty() && r.model != service_.config().model_name)
      throw ApiError(404,
                     "The model '" + r.model + "' does not exist; this server serves '" + service_.config().model_name +
                         "'",
                     "model", "model_not_found");
    std::shared_ptr<CompletionJob> job = service_.start(r);
    if (!r.stream) {
      res.set_content(to_json_text(job->wait_response()), "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, job](size_t, httplib::DataSink& sink) {
      std::string out;
      while (out.empty()) {
        if (!job->next_sse(out, std::chrono::milliseconds(100))) {
          sink.done();
          return true;
        }
        // Nothing new: notice a client that went away even while no token is due.
        if (out.empty() && !sink.is_writable()) {
          metrics_.count_disconnect();
          job->cancel();
          return false;
        }
      }
      if (!sink.write(out.data(), out.size())) {
        metrics_.count_disconnect();
        job->cancel();
        return false;
      }
      if (job->finished()) sink.done();
      return true;
    });
  } catch (const ApiError& e) {
    send_error(res, e.status, e.what(), e.param, e.code);
  } catch (const std::exception& e) {
    send_error(res, 500, std::string("internal error: ") + e.what());
  }
}

}  // namespace dsv3::server
