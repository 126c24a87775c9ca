// OpenAI-style error objects: {"error": {"message", "type", "param", "code"}} with the HTTP
// status the OpenAI API uses for the same failure, so clients raise their usual exception
// classes (BadRequestError, AuthenticationError, NotFoundError, RateLimitError, ...).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace dsv3::server {

// A request that fails with a specific status. `param` names the offending request field
// ("" when none); it is also part of the message so plain-text logs say it too.
struct ApiError : Error {
  int status;
  std::string param, code;
  ApiError(int status_, const std::string& message, std::string param_ = "", std::string code_ = "")
      : Error(message), status(status_), param(std::move(param_)), code(std::move(code_)) {}
};

// 400 naming the field: "max_tokens: must be >= 1, got -5".
[[noreturn]] void bad_field(const std::string& field, const std::string& what);

// The OpenAI error "type" for a status: invalid_request_error (400, 404, 405, 413),
// authentication_error (401), rate_limit_error (429), server_error (5xx).
const char* error_type(int status);

// {"error": {...}}; param and code are null when empty.
nlohmann::json error_body(int status, const std::string& message, const std::string& param = "",
                          const std::string& code = "");
inline nlohmann::json error_body(const ApiError& e) { return error_body(e.status, e.what(), e.param, e.code); }

}  // namespace dsv3::server
