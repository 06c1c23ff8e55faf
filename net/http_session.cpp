// An accepted TCP connection while it speaks HTTP: reads requests within
// the size limits and timeouts, answers them, or hands the socket over to a
// WebSocket session when the request is a valid upgrade on sync_path.
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "net/detail/http_session.hpp"
#include "net/detail/ws_start.hpp"

namespace starling::net::detail {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using error_code = beast::error_code;
using tcp = boost::asio::ip::tcp;

// The Sec-WebSocket-Protocol header is a comma-separated list of offers.
bool offers_sync_subprotocol(std::string_view offers) {
  while (!offers.empty()) {
    auto comma = offers.find(',');
    auto offer = offers.substr(0, comma);
    while (!offer.empty() && (offer.front() == ' ' || offer.front() == '\t')) offer.remove_prefix(1);
    while (!offer.empty() && (offer.back() == ' ' || offer.back() == '\t')) offer.remove_suffix(1);
    if (offer == sync_subprotocol) return true;
    if (comma == std::string_view::npos) break;
    offers.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view view(beast::string_view s) { return {s.data(), s.size()}; }

class http_session final : public closable, public std::enable_shared_from_this<http_session> {
 public:
  http_session(std::shared_ptr<const route_context> context, tcp::socket&& socket)
      : context_(std::move(context)),
        id_(context_->core->next_id()),
        strand_(socket.get_executor()),
        stream_(std::move(socket)) {
    error_code ec;
    auto remote = stream_.socket().remote_endpoint(ec);
    peer_ = ec ? "unknown" : endpoint_text(remote);
  }

  ~http_session() override { context_->core->withdraw(id_); }

  void start() {
    if (!context_->core->enroll(id_, weak_from_this())) {
      done_ = true;
      stream_.close();
      return;
    }
    // The first request is part of the handshake, so it gets the handshake
    // timeout: a client that connects and sends nothing is dropped quickly.
    read_request(context_->config.handshake_timeout);
  }

  void shutdown() override { force_close(); }
  void force_close() override {
    context_->core->post_from_outside(strand_, [self = shared_from_this()] { self->finish(); });
  }

 private:
  void read_request(std::chrono::milliseconds timeout) {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(context_->config.http_header_limit));
    parser_->body_limit(context_->config.http_body_limit);
    stream_.expires_after(timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  void on_read(error_code ec, std::size_t) {
    if (done_) return;
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return finish();
    if (ec == http::error::header_limit)
      return reject(json_error(431, "header_too_large", "request header exceeds " +
                               std::to_string(context_->config.http_header_limit) + " bytes"));
    if (ec == http::error::body_limit)
      return reject(json_error(413, "body_too_large", "request body exceeds " +
                               std::to_string(context_->config.http_body_limit) + " bytes"));
    if (ec && &ec.category() == &http::make_error_code(http::error::bad_method).category())
      return reject(json_error(400, "bad_request", "malformed HTTP request: " + ec.message()));
    if (ec) return finish();  // timeout, reset, or our own cancellation
    route(parser_->release());
  }

  void route(http::request<http::string_body>&& request) {
    version_ = request.version();
    keep_alive_ = request.keep_alive();
    std::string target(view(request.target()));
    std::string_view path = std::string_view(target).substr(0, target.find('?'));

    if (beast::websocket::is_upgrade(request)) {
      if (path != sync_path || !context_->on_connection)
        return reject(json_error(404, "not_found", "no WebSocket endpoint at " + std::string(path)));
      if (!offers_sync_subprotocol(view(request[http::field::sec_websocket_protocol])))
        return reject(json_error(400, "unsupported_subprotocol",
                                 "the WebSocket upgrade must offer subprotocol " +
                                     std::string(sync_subprotocol)));
      // The socket now belongs to the WebSocket session.
      done_ = true;
      context_->core->withdraw(id_);
      start_accepted_session(context_->core, context_->config, std::move(stream_), peer_,
                             std::move(request), context_->on_connection);
      return;
    }

    if (!context_->on_http)
      return respond(json_error(404, "not_found", "no such endpoint: " + std::string(path)));

    http_request plain;
    plain.method = std::string(view(request.method_string()));
    plain.target = std::move(target);
    for (const auto& field : request)
      plain.headers.push_back({std::string(view(field.name_string())), std::string(view(field.value()))});
    plain.body = std::move(request.body());
    plain.peer = peer_;
    plain.keep_alive = keep_alive_;

    // The handler may answer late, from any thread; meanwhile no timer runs
    // (a long poll is legitimate) and no next request is read.
    stream_.expires_never();
    http_reply reply([self = shared_from_this()](http_response response) {
      self->context_->core->post_from_outside(
          self->strand_, [self, response = std::move(response)]() mutable {
            self->respond(std::move(response));
          });
    });
    try {
      context_->on_http(std::move(plain), reply);
    } catch (...) {
      reply(json_error(500, "internal", "the request handler failed"));
    }
  }

  // Answers and closes: after a malformed or refused request the rest of
  // the byte stream cannot be trusted.
  void reject(http_response response) {
    keep_alive_ = false;
    respond(std::move(response));
  }

  void respond(http_response answer) {
    if (done_) return;
    unsigned status = (answer.status < 100 || answer.status > 599) ? 500 : answer.status;
    response_.emplace();
    response_->version(version_);
    response_->result(status);
    response_->set(http::field::server, "starling");
    response_->set(http::field::content_type, answer.content_type);
    for (const auto& h : answer.headers) response_->insert(h.name, h.value);
    response_->body() = std::move(answer.body);
    response_->keep_alive(keep_alive_ && !answer.close);
    response_->prepare_payload();
    bool close_after = !response_->keep_alive();
    stream_.expires_after(context_->config.http_idle_timeout);
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&http_session::on_write, shared_from_this(),
                                                close_after));
  }

  void on_write(bool close_after, error_code ec, std::size_t) {
    response_.reset();
    if (done_) return;
    if (ec) return finish();
    if (close_after) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return finish();
    }
    read_request(context_->config.http_idle_timeout);
  }

  void finish() {
    if (done_) return;
    done_ = true;
    stream_.close();
    context_->core->withdraw(id_);
  }

  const std::shared_ptr<const route_context> context_;
  const std::uint64_t id_;
  boost::asio::any_io_executor strand_;
  beast::tcp_stream stream_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool done_ = false;
};

}  // namespace

void start_http_session(std::shared_ptr<const route_context> context, tcp::socket&& socket) {
  std::make_shared<http_session>(std::move(context), std::move(socket))->start();
}

}  // namespace starling::net::detail
