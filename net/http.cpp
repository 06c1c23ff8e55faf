#include "net/http.hpp"

#include "net/detail/url_parts.hpp"

#include <atomic>
#include <cstdio>

namespace starling::net {

namespace {

using detail::equal_ignoring_case;

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace

const std::string* http_request::header(std::string_view name) const {
  for (const auto& h : headers)
    if (equal_ignoring_case(h.name, name)) return &h.value;
  return nullptr;
}

std::string_view http_request::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

http_response json_error(unsigned status, std::string_view code, std::string_view message) {
  http_response response;
  response.status = status;
  response.content_type = "application/json";
  response.body = "{\"error\":{\"code\":";
  append_json_string(response.body, code);
  response.body += ",\"message\":";
  append_json_string(response.body, message);
  response.body += "}}";
  return response;
}

struct http_reply::state {
  state(sink deliver, stream_opener open_stream)
      : deliver(std::move(deliver)), open_stream(std::move(open_stream)) {}
  ~state() {
    // Every copy is gone and nobody answered: answer for the handler.
    if (!answered.exchange(true) && deliver)
      deliver(json_error(500, "unanswered", "the request handler did not answer"));
  }
  sink deliver;
  stream_opener open_stream;
  std::atomic<bool> answered{false};
};

http_reply::http_reply(sink deliver, stream_opener open_stream)
    : state_(std::make_shared<state>(std::move(deliver), std::move(open_stream))) {}

void http_reply::operator()(http_response response) const {
  if (!state_->answered.exchange(true) && state_->deliver) state_->deliver(std::move(response));
}

std::shared_ptr<http_stream> http_reply::stream(unsigned status, std::string content_type,
                                                std::vector<http_header> headers) const {
  if (!state_->open_stream || state_->answered.exchange(true)) return nullptr;
  return state_->open_stream(status, std::move(content_type), std::move(headers));
}

http_handler make_sync_http_handler(std::function<http_response(const http_request&)> answer) {
  return [answer = std::move(answer)](http_request request, http_reply reply) {
    reply(answer(request));
  };
}

}  // namespace starling::net
