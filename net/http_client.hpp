// A small blocking HTTP/1.1 client for the command line tools (put, get,
// status, watch) talking to a running node's HTTP API: std types only.
//
// Threading contract
// - Every call is self-contained: it creates its own io_context, runs it on
//   the calling thread, and blocks until it returns. It needs no runtime.
//   Calls on different threads are independent.
// - Callbacks (on_head, on_data) run on the calling thread, inside the call.
// - Only plain http:// URLs are supported (no TLS, no proxies, no
//   redirects). Hosts that are not IP addresses are resolved with the
//   system resolver, which has no timeout of its own: a hanging DNS lookup
//   can outlast the timeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http.hpp"

namespace starling::net {

struct http_url {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 80;
  std::string target = "/";  // path and query, e.g. "/v1/docs/a?x=1"
};

// Parses "http://host[:port][/path][?query]" (IPv6 hosts in brackets; the
// port defaults to 80; a fragment is dropped). Anything else, including
// https:// and user info, is refused. On failure returns nullopt and sets
// *error.
std::optional<http_url> parse_http_url(const std::string& url, std::string* error = nullptr);

struct http_result {
  unsigned status = 0;
  std::vector<http_header> headers;
  std::string body;

  // The first header with this name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

// The largest response body http_fetch accepts by default.
inline constexpr std::size_t default_fetch_body_limit = 64 * 1024 * 1024;

// One request on its own connection (Connection: close). The timeout bounds
// everything together: connecting, sending, and reading the whole response.
// A body, if any, is sent with Content-Length; method is sent as given.
// Any complete response counts as success, whatever its status. On failure
// (bad URL, connection refused, timeout, malformed or oversized response)
// returns nullopt and sets *error to a sentence for the user.
std::optional<http_result> http_fetch(const std::string& url, const std::string& method,
                                      const std::string& body,
                                      const std::vector<http_header>& headers,
                                      std::chrono::milliseconds timeout,
                                      std::string* error = nullptr,
                                      std::size_t body_limit = default_fetch_body_limit);

// Called once with the status and headers (body empty) before any body
// bytes; returning false ends the call (the status is still returned).
using http_head_callback = std::function<bool(const http_result& head)>;

// A streaming GET (Server-Sent Events): calls on_data with the body bytes as
// they arrive, chunked encoding removed and in arbitrary pieces (not
// aligned with the server's chunks or events), until on_data returns false,
// the server ends the response, or nothing arrives for idle_timeout (which
// also bounds connecting and sending the request). The body of every
// status is delivered; use on_head to look at the status first.
//
// Returns the response status, or 0 when no response head arrived (bad
// URL, refused, timeout, malformed head); *error then says why. Once the
// head has arrived the status is returned and *error is cleared when the
// response ended cleanly (the server's final chunk, or on_head/on_data
// returned false), or says why it did not (idle timeout, the connection
// dropped mid-body).
unsigned http_stream_get(const std::string& url, const std::vector<http_header>& headers,
                         const std::function<bool(std::string_view)>& on_data,
                         std::chrono::milliseconds idle_timeout, std::string* error = nullptr,
                         const http_head_callback& on_head = {});

}  // namespace starling::net
