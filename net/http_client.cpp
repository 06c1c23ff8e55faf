// The blocking HTTP client: each call runs its own io_context on the calling
// thread. Every step is an asynchronous Beast operation with a deadline
// (beast::tcp_stream's timer), run to completion before the next one.
#include "net/http_client.hpp"

#include "net/detail/url_parts.hpp"

#include <array>
#include <limits>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace starling::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;

// Response headers of the node are small; this only bounds a broken server.
constexpr std::uint32_t response_header_limit = 64 * 1024;

std::string millis_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

using detail::equal_ignoring_case;

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// One connection of one call: its own io_context, run until each operation
// completes.
class exchange {
 public:
  explicit exchange(http_url url) : url_(std::move(url)) {}

  std::string where() const {
    bool v6 = url_.host.find(':') != std::string::npos;
    return (v6 ? "[" + url_.host + "]" : url_.host) + ":" + std::to_string(url_.port);
  }

  // Resolves and connects before the deadline; returns "" or why not.
  std::string connect(steady::time_point deadline, std::chrono::milliseconds budget) {
    std::vector<tcp::endpoint> endpoints;
    error_code ec;
    auto address = asio::ip::make_address(url_.host, ec);
    if (!ec) {
      endpoints.emplace_back(address, url_.port);
    } else {
      // The resolver has no timeout of its own; the timer cancels it.
      tcp::resolver resolver(io_);
      asio::steady_timer timer(io_);
      bool resolved = false;
      error_code resolve_ec;
      timer.expires_at(deadline);
      timer.async_wait([&](error_code wait_ec) {
        if (!wait_ec && !resolved) resolver.cancel();
      });
      resolver.async_resolve(url_.host, std::to_string(url_.port),
                             [&](error_code e, const tcp::resolver::results_type& results) {
                               resolved = true;
                               resolve_ec = e;
                               for (const auto& entry : results) endpoints.push_back(entry.endpoint());
                               timer.cancel();
                             });
      run();
      if (resolve_ec == asio::error::operation_aborted)
        return "resolving " + url_.host + " timed out after " + millis_text(budget);
      if (resolve_ec) return "cannot resolve " + url_.host + ": " + resolve_ec.message();
      if (endpoints.empty()) return "cannot resolve " + url_.host + ": no addresses";
    }
    stream_.expires_at(deadline);
    stream_.async_connect(endpoints, [&](error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec == beast::error::timeout)
      return "connecting to " + where() + " timed out after " + millis_text(budget);
    if (ec) return "cannot connect to " + where() + ": " + ec.message();
    return {};
  }

  // Builds and sends the request; returns "" or why not.
  std::string send(const std::string& method, const std::string& body,
                   const std::vector<http_header>& headers, steady::time_point deadline,
                   std::chrono::milliseconds budget) {
    if (!is_token(method)) return "invalid HTTP method '" + method + "'";
    http::request<http::string_body> request;
    request.version(11);
    auto verb = http::string_to_verb(method);
    if (verb == http::verb::unknown)
      request.method_string(method);
    else
      request.method(verb);
    request.target(url_.target);
    request.set(http::field::host, url_.port == 80 && url_.host.find(':') == std::string::npos
                                       ? url_.host
                                       : where());
    request.set(http::field::user_agent, "starling");
    for (const auto& h : headers) {
      if (!is_token(h.name) || has_line_break(h.value))
        return "invalid request header '" + h.name + "'";
      request.set(h.name, h.value);
    }
    request.keep_alive(false);
    request.body() = body;
    request.prepare_payload();
    error_code ec;
    stream_.expires_at(deadline);
    http::async_write(stream_, request, [&](error_code e, std::size_t) { ec = e; });
    run();
    if (ec == beast::error::timeout)
      return "sending the request to " + where() + " timed out after " + millis_text(budget);
    if (ec) return "sending the request to " + where() + ": " + ec.message();
    return {};
  }

  // One read operation (async_read_header, async_read or async_read_some)
  // run to completion or the deadline.
  template <class Op>
  error_code run_read(steady::time_point deadline, Op op) {
    error_code ec;
    stream_.expires_at(deadline);
    op([&](error_code e, std::size_t) { ec = e; });
    run();
    return ec;
  }

  template <class Parser>
  error_code read_header(Parser& parser, steady::time_point deadline) {
    return run_read(deadline, [&](auto done) { http::async_read_header(stream_, buffer_, parser, done); });
  }

  template <class Parser>
  error_code read_all(Parser& parser, steady::time_point deadline) {
    return run_read(deadline, [&](auto done) { http::async_read(stream_, buffer_, parser, done); });
  }

  template <class Parser>
  error_code read_some(Parser& parser, steady::time_point deadline) {
    return run_read(deadline, [&](auto done) { http::async_read_some(stream_, buffer_, parser, done); });
  }

  void close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void run() {
    io_.restart();
    io_.run();
  }

  const http_url url_;
  asio::io_context io_{1};
  beast::tcp_stream stream_{io_};
  beast::flat_buffer buffer_;
};

// The text for a failed read of the response head or body.
std::string read_error(const error_code& ec, const std::string& where,
                       std::chrono::milliseconds budget, bool idle) {
  if (ec == beast::error::timeout)
    return idle ? "no data from " + where + " for " + millis_text(budget)
                : "no complete response from " + where + " within " + millis_text(budget);
  if (ec == http::error::end_of_stream)
    return where + " closed the connection without answering";
  if (ec == http::error::partial_message || ec == asio::error::eof)
    return where + " closed the connection before the response was complete";
  if (ec == http::error::header_limit) return "the response header from " + where + " is too large";
  return "reading the response from " + where + ": " + ec.message();
}

template <class Message>
http_result head_of(const Message& message) {
  http_result result;
  result.status = message.result_int();
  for (const auto& field : message)
    result.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  return result;
}

}  // namespace

std::optional<http_url> parse_http_url(const std::string& url, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<http_url> {
    if (error) *error = "invalid URL '" + url + "': " + why;
    return std::nullopt;
  };
  const std::string scheme = "http://";
  if (url.size() < scheme.size() || !equal_ignoring_case(url.substr(0, scheme.size()), scheme))
    return fail("only http://host:port/path URLs are supported");
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return fail("spaces or control characters");
  std::string_view rest = std::string_view(url).substr(scheme.size());
  rest = rest.substr(0, rest.find('#'));
  auto path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  http_url result;
  if (path_start != std::string_view::npos) {
    result.target = std::string(rest.substr(path_start));
    if (result.target.front() == '?') result.target.insert(0, "/");
  }
  if (authority.find('@') != std::string_view::npos) return fail("user info is not supported");

  std::optional<std::uint16_t> port;
  if (const char* why = detail::split_authority(authority, &result.host, &port)) return fail(why);
  if (port) result.port = *port;
  return result;
}

const std::string* http_result::header(std::string_view name) const {
  for (const auto& h : headers)
    if (equal_ignoring_case(h.name, name)) return &h.value;
  return nullptr;
}

std::optional<http_result> http_fetch(const std::string& url, const std::string& method,
                                      const std::string& body,
                                      const std::vector<http_header>& headers,
                                      std::chrono::milliseconds timeout, std::string* error,
                                      std::size_t body_limit) {
  auto fail = [&](std::string why) -> std::optional<http_result> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  auto target = parse_http_url(url, error);
  if (!target) return std::nullopt;
  const auto deadline = steady::now() + timeout;
  exchange x(*target);
  if (auto why = x.connect(deadline, timeout); !why.empty()) return fail(why);
  if (auto why = x.send(method, body, headers, deadline, timeout); !why.empty()) return fail(why);

  http::response_parser<http::string_body> parser;
  parser.header_limit(response_header_limit);
  parser.body_limit(body_limit);
  // A response to HEAD has a Content-Length but no body.
  if (equal_ignoring_case(method, "HEAD")) parser.skip(true);
  // The head first: Beast 1.74 loses the body_limit error for a response
  // whose Content-Length is over the limit when it parses eagerly (as
  // http::read does), so the length is checked here before the body.
  auto ec = x.read_header(parser, deadline);
  if (!ec && !parser.is_done() && parser.content_length() &&
      *parser.content_length() > body_limit)
    ec = http::error::body_limit;
  if (!ec && !parser.is_done()) ec = x.read_all(parser, deadline);
  if (ec == http::error::body_limit)
    return fail("the response body from " + x.where() + " exceeds " + std::to_string(body_limit) +
                " bytes");
  if (ec) return fail(read_error(ec, x.where(), timeout, false));
  x.close();
  auto result = head_of(parser.get());
  result.body = std::move(parser.get().body());
  if (error) error->clear();
  return result;
}

unsigned http_stream_get(const std::string& url, const std::vector<http_header>& headers,
                         const std::function<bool(std::string_view)>& on_data,
                         std::chrono::milliseconds idle_timeout, std::string* error,
                         const http_head_callback& on_head) {
  auto set_error = [&](std::string why) {
    if (error) *error = std::move(why);
  };
  auto target = parse_http_url(url, error);
  if (!target) return 0;
  exchange x(*target);
  auto next_deadline = [&] { return steady::now() + idle_timeout; };
  std::string why = x.connect(next_deadline(), idle_timeout);
  if (why.empty()) why = x.send("GET", {}, headers, next_deadline(), idle_timeout);
  if (!why.empty()) {
    set_error(std::move(why));
    return 0;
  }

  http::response_parser<http::buffer_body> parser;
  parser.header_limit(response_header_limit);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // consumed as it arrives
  if (auto ec = x.read_header(parser, next_deadline())) {
    set_error(read_error(ec, x.where(), idle_timeout, false));
    return 0;
  }
  const unsigned status = parser.get().result_int();
  set_error({});
  if (on_head && !on_head(head_of(parser.get()))) return status;

  std::array<char, 16 * 1024> chunk;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    parser.get().body().more = true;
    auto ec = x.read_some(parser, next_deadline());
    if (ec == http::error::need_buffer) ec = {};  // the buffer is full: deliver it
    std::size_t got = chunk.size() - parser.get().body().size;
    if (got > 0 && on_data && !on_data(std::string_view(chunk.data(), got))) return status;
    if (ec) {
      set_error(read_error(ec, x.where(), idle_timeout, true));
      return status;
    }
  }
  x.close();
  return status;
}

}  // namespace starling::net
