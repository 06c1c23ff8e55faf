// Plain HTTP requests and responses as seen by the HTTP handler of a
// listener: std types only, no Beast.
//
// Threading contract
// - The http_handler runs on the HTTP connection's strand (an io thread). It
//   must not block: it hands the request on and answers later through the
//   http_reply, from any thread.
// - An http_reply may be copied and called from any thread; the first call
//   sends the response, later calls are ignored. If every copy is destroyed
//   without a call, the client gets a 500, so a lost request never hangs.
// - The connection reads no further request until the current one is
//   answered (keep-alive, no pipelining).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace starling::net {

struct http_header {
  std::string name;
  std::string value;
};

struct http_request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // as sent, e.g. "/v1/docs/a?x=1"
  std::vector<http_header> headers;
  std::string body;
  std::string peer;  // "address:port" of the client
  bool keep_alive = true;

  // The first header with this name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  // The target without its query string.
  std::string_view path() const;
};

struct http_response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<http_header> headers;  // extra headers
  bool close = false;  // close the connection after this response
};

// {"error":{"code":<code>,"message":<message>}} with the given status.
http_response json_error(unsigned status, std::string_view code, std::string_view message);

class http_reply {
 public:
  using sink = std::function<void(http_response)>;
  // Built by the listener; the sink delivers the response to the connection.
  explicit http_reply(sink deliver);
  void operator()(http_response response) const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

using http_handler = std::function<void(http_request request, http_reply reply)>;

// Adapts a handler that can answer at once (it still must not block).
http_handler make_sync_http_handler(std::function<http_response(const http_request&)> answer);

}  // namespace starling::net
