// An accepted TCP connection while it speaks HTTP: reads requests within
// the size limits and timeouts, answers them, or hands the socket over to a
// WebSocket session when the request is a valid upgrade on sync_path. An
// answer may also be a streaming response (http_stream): then the session
// writes chunks until the stream ends and closes the connection afterwards.
//
// Everything runs on the session's strand (the executor of its socket)
// except the entry points of http_reply and http_stream and the closable
// calls, which only post onto it.
#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

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

  // runtime::stop(): a stream ends gracefully (final chunk after the
  // queue); anything else closes at once.
  void shutdown() override {
    context_->core->post_from_outside(strand_, [self = shared_from_this()] {
      if (self->streaming_ && !self->done_) {
        self->stream_open_.store(false, std::memory_order_release);
        self->close_stream();
      } else {
        self->finish();
      }
    });
  }
  void force_close() override {
    context_->core->post_from_outside(strand_, [self = shared_from_this()] { self->finish(); });
  }

  // --- the streaming response, any thread (through stream_handle) ---------

  std::shared_ptr<http_stream> open_stream(unsigned status, std::string content_type,
                                           std::vector<http_header> headers);

  bool stream_send(std::string chunk) {
    if (!stream_open_.load(std::memory_order_acquire)) return false;
    if (chunk.empty()) return true;  // an empty chunk would end the response
    const std::size_t size = chunk.size();
    const std::size_t limit = context_->config.http_stream_queue_limit;
    std::size_t queued = stream_queued_.load(std::memory_order_relaxed);
    do {
      if (size > limit || queued > limit - size) {
        // The client does not keep up: cut it off rather than buffer more.
        stream_open_.store(false, std::memory_order_release);
        context_->core->post_from_outside(strand_, [self = shared_from_this()] { self->finish(); });
        return false;
      }
    } while (!stream_queued_.compare_exchange_weak(queued, queued + size, std::memory_order_relaxed));
    bool posted = context_->core->post_from_outside(
        strand_, [self = shared_from_this(), chunk = std::move(chunk)]() mutable {
          self->enqueue_chunk(std::move(chunk));
        });
    if (!posted) stream_queued_.fetch_sub(size, std::memory_order_relaxed);
    return posted;
  }

  void stream_close() {
    stream_open_.store(false, std::memory_order_release);
    context_->core->post_from_outside(strand_,
                                      [self = shared_from_this()] { self->close_stream(); });
  }

  bool stream_is_open() const { return stream_open_.load(std::memory_order_acquire); }
  std::size_t stream_queued_bytes() const { return stream_queued_.load(std::memory_order_relaxed); }

  void stream_on_closed(std::function<void()> callback) {
    {
      std::lock_guard<std::mutex> lock(stream_mutex_);
      if (!stream_ended_) {
        stream_closed_callback_ = std::move(callback);
        return;
      }
    }
    if (!callback) return;
    // Ended already: run it on an io thread all the same, or here if the
    // runtime has stopped (nothing would run it otherwise).
    auto run = [callback = std::move(callback)] { invoke_callback(callback); };
    if (!context_->core->post_from_outside(strand_, run)) run();
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
    http_reply reply(
        [self = shared_from_this()](http_response response) {
          self->context_->core->post_from_outside(
              self->strand_, [self, response = std::move(response)]() mutable {
                self->respond(std::move(response));
              });
        },
        [self = shared_from_this()](unsigned status, std::string content_type,
                                    std::vector<http_header> headers) {
          return self->open_stream(status, std::move(content_type), std::move(headers));
        });
    try {
      context_->on_http(std::move(plain), reply);
    } catch (...) {
      reply(json_error(500, "internal", "the request handler failed"));
    }
  }

  // --- the streaming response, on the strand --------------------------------

  void start_stream(unsigned status, std::string content_type, std::vector<http_header> headers) {
    if (done_) return;
    streaming_ = true;
    keep_alive_ = false;
    // HTTP/1.0 knows no chunks: the body then simply ends with the connection.
    chunked_ = version_ >= 11;
    stream_head_.emplace();
    stream_head_->version(version_);
    stream_head_->result((status < 100 || status > 599) ? 500 : status);
    stream_head_->set(http::field::server, "starling");
    stream_head_->set(http::field::content_type, content_type);
    stream_head_->set(http::field::cache_control, "no-cache");
    for (const auto& h : headers) stream_head_->insert(h.name, h.value);
    stream_head_->keep_alive(false);
    if (chunked_) stream_head_->chunked(true);
    stream_serializer_.emplace(*stream_head_);
    // The client sends nothing more; a read that completes means it is gone.
    // Reads never time out while streaming; each write does (the stream's
    // read and write timers are separate while the other one is pending).
    stream_.expires_never();
    watch_client();
    stream_writing_ = true;
    stream_.expires_after(context_->config.http_idle_timeout);
    http::async_write_header(stream_, *stream_serializer_,
                             beast::bind_front_handler(&http_session::on_stream_written,
                                                       shared_from_this()));
  }

  void watch_client() {
    stream_.async_read_some(boost::asio::buffer(discard_),
                            beast::bind_front_handler(&http_session::on_client_read,
                                                      shared_from_this()));
  }

  void on_client_read(error_code ec, std::size_t) {
    if (done_) return;
    if (ec) return finish();  // EOF or reset: the client went away
    // Bytes the client sends while streaming (a pipelined request) are ignored.
    stream_.expires_never();
    watch_client();
  }

  void enqueue_chunk(std::string chunk) {
    if (done_ || !streaming_ || stream_last_sent_) {
      stream_queued_.fetch_sub(chunk.size(), std::memory_order_relaxed);
      return;
    }
    stream_queue_.push_back(std::move(chunk));
    pump_stream();
  }

  void close_stream() {
    if (done_ || !streaming_) return;
    stream_close_requested_ = true;
    pump_stream();
  }

  // One write in flight: the header, then everything queued meanwhile as one
  // chunk, then the final chunk once close was requested and the queue is empty.
  void pump_stream() {
    if (done_ || stream_writing_ || !stream_head_written_) return;
    if (!stream_queue_.empty()) {
      for (auto& chunk : stream_queue_) {
        in_flight_bytes_ += chunk.size();
        in_flight_.push_back(std::move(chunk));
      }
      stream_queue_.clear();
      for (const auto& chunk : in_flight_)
        in_flight_buffers_.emplace_back(chunk.data(), chunk.size());
      stream_writing_ = true;
      stream_.expires_after(context_->config.http_idle_timeout);
      auto done = beast::bind_front_handler(&http_session::on_stream_written, shared_from_this());
      if (chunked_)
        boost::asio::async_write(stream_, http::make_chunk(in_flight_buffers_), std::move(done));
      else
        boost::asio::async_write(stream_, in_flight_buffers_, std::move(done));
      return;
    }
    if (stream_close_requested_ && !stream_last_sent_) {
      stream_last_sent_ = true;
      if (!chunked_) return end_stream();
      stream_writing_ = true;
      stream_.expires_after(context_->config.http_idle_timeout);
      boost::asio::async_write(stream_, http::make_chunk_last(),
                               beast::bind_front_handler(&http_session::on_stream_written,
                                                         shared_from_this()));
    }
  }

  void on_stream_written(error_code ec, std::size_t) {
    stream_writing_ = false;
    stream_queued_.fetch_sub(in_flight_bytes_, std::memory_order_relaxed);
    in_flight_bytes_ = 0;
    in_flight_.clear();
    in_flight_buffers_.clear();
    if (done_) return;
    if (ec) return finish();  // the client went away or stopped reading (timeout)
    stream_head_written_ = true;
    if (stream_last_sent_) return end_stream();
    pump_stream();
  }

  void end_stream() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    finish();
  }

  template <class F>
  static void invoke_callback(const F& callback) {
    try {
      callback();
    } catch (...) {
      // The callback's failure is its own; the stream has ended either way.
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
    // A write in flight still owns its buffers; its completion releases them.
    std::size_t dropped = 0;
    for (const auto& chunk : stream_queue_) dropped += chunk.size();
    stream_queue_.clear();
    stream_queued_.fetch_sub(dropped, std::memory_order_relaxed);
    std::function<void()> callback;
    {
      // Under the lock: open_stream() sets stream_open_ under it too.
      std::lock_guard<std::mutex> lock(stream_mutex_);
      stream_ended_ = true;
      stream_open_.store(false, std::memory_order_release);
      callback = std::move(stream_closed_callback_);
      stream_closed_callback_ = nullptr;
    }
    if (callback) invoke_callback(callback);
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

  // The streaming response, any thread.
  std::atomic<bool> stream_open_{false};
  std::atomic<std::size_t> stream_queued_{0};
  std::mutex stream_mutex_;
  bool stream_ended_ = false;                    // by stream_mutex_: no stream can run any more
  std::function<void()> stream_closed_callback_;  // by stream_mutex_
  // The streaming response, on the strand.
  bool streaming_ = false;
  bool chunked_ = true;
  bool stream_head_written_ = false;
  bool stream_writing_ = false;
  bool stream_close_requested_ = false;
  bool stream_last_sent_ = false;
  std::optional<http::response<http::empty_body>> stream_head_;
  std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
  std::deque<std::string> stream_queue_;
  std::vector<std::string> in_flight_;
  std::vector<boost::asio::const_buffer> in_flight_buffers_;
  std::size_t in_flight_bytes_ = 0;
  std::array<char, 512> discard_{};
};

// What the handler holds: releasing the last reference closes the stream,
// so a forgotten stream does not stay open forever.
class stream_handle final : public http_stream {
 public:
  explicit stream_handle(std::shared_ptr<http_session> session) : session_(std::move(session)) {}
  ~stream_handle() override { session_->stream_close(); }

  bool send(std::string chunk) override { return session_->stream_send(std::move(chunk)); }
  void close() override { session_->stream_close(); }
  bool is_open() const override { return session_->stream_is_open(); }
  std::size_t queued_bytes() const override { return session_->stream_queued_bytes(); }
  void on_closed(std::function<void()> callback) override {
    session_->stream_on_closed(std::move(callback));
  }

 private:
  const std::shared_ptr<http_session> session_;
};

std::shared_ptr<http_stream> http_session::open_stream(unsigned status, std::string content_type,
                                                       std::vector<http_header> headers) {
  auto handle = std::make_shared<stream_handle>(shared_from_this());
  {
    std::lock_guard<std::mutex> lock(stream_mutex_);
    if (stream_ended_) return handle;  // the connection is gone already
    stream_open_.store(true, std::memory_order_release);
  }
  bool posted = context_->core->post_from_outside(
      strand_, [self = shared_from_this(), status, content_type = std::move(content_type),
                headers = std::move(headers)]() mutable {
        self->start_stream(status, std::move(content_type), std::move(headers));
      });
  if (!posted) {  // the runtime has stopped: nothing will ever run the stream
    stream_open_.store(false, std::memory_order_release);
    std::lock_guard<std::mutex> lock(stream_mutex_);
    stream_ended_ = true;
  }
  return handle;
}

}  // namespace

void start_http_session(std::shared_ptr<const route_context> context, tcp::socket&& socket) {
  std::make_shared<http_session>(std::move(context), std::move(socket))->start();
}

}  // namespace starling::net::detail
