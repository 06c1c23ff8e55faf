// The WebSocket session behind ws_connection, used for both accepted and
// dialed connections. Everything except send(), close() and the closable
// calls runs on the session's strand (the executor of its socket).
#include <algorithm>
#include <deque>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "net/detail/core.hpp"
#include "net/detail/ws_start.hpp"

namespace starling::net::detail {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using error_code = beast::error_code;
using steady = std::chrono::steady_clock;

std::string millis_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

// Codes that may not appear in a close frame (RFC 6455 section 7.4) become 1000.
std::uint16_t sendable_close_code(std::uint16_t code) {
  bool reserved = code == 1004 || code == 1005 || code == 1006 || code == 1015;
  return (code < 1000 || code >= 5000 || reserved) ? close_code::normal : code;
}

class ws_session final : public ws_connection, public closable {
 public:
  ws_session(std::shared_ptr<runtime_core> core, const settings& config,
             beast::tcp_stream&& stream, std::string peer, bool accepted)
      : ws_connection(core->next_id(), std::move(peer), accepted),
        core_(std::move(core)),
        config_(config),
        ws_(std::move(stream)),
        strand_(ws_.get_executor()),
        keepalive_timer_(strand_),
        close_timer_(strand_) {}

  ~ws_session() override { core_->withdraw(id_); }

  // --- start (on the strand) ----------------------------------------------

  void accept(http::request<http::string_body>&& upgrade, connection_factory make_handler) {
    make_handler_ = std::move(make_handler);
    upgrade_ = std::move(upgrade);
    if (!enroll()) return;
    configure();
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, "starling");
      res.set(http::field::sec_websocket_protocol, std::string(sync_subprotocol));
    }));
    ws_.async_accept(upgrade_, beast::bind_front_handler(&ws_session::on_accepted, self()));
  }

  void handshake(std::string host_header, std::string path,
                 std::shared_ptr<connection_handler> handler, dial_callback done) {
    handler_ = std::move(handler);
    dial_done_ = std::move(done);
    host_header_ = std::move(host_header);
    path_ = std::move(path);
    if (!enroll()) return;
    configure();
    ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(http::field::user_agent, "starling");
      req.set(http::field::sec_websocket_protocol, std::string(sync_subprotocol));
    }));
    ws_.async_handshake(handshake_response_, host_header_, path_,
                        beast::bind_front_handler(&ws_session::on_handshaked, self()));
  }

  // --- any thread -----------------------------------------------------------

  bool send(std::string data, bool binary) override {
    if (!open_.load(std::memory_order_acquire)) return false;
    const std::size_t size = data.size();
    const std::size_t limit = config_.send_queue_limit;
    std::size_t queued = queued_bytes_.load(std::memory_order_relaxed);
    do {
      // The bound applies between messages: one larger than the whole
      // queue still goes, alone, once the queue is empty (a 1 MiB change
      // must reach a peer whose queue is set below it).
      const bool fits = queued == 0 || (size <= limit && queued <= limit - size);
      if (!fits) {
        sends_refused_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    } while (!queued_bytes_.compare_exchange_weak(queued, queued + size, std::memory_order_relaxed));
    bool posted = core_->post_from_outside(
        strand_, [self = self(), data = std::move(data), binary]() mutable {
          self->enqueue(std::move(data), binary);
        });
    if (!posted) queued_bytes_.fetch_sub(size, std::memory_order_relaxed);
    return posted;
  }

  void close(std::uint16_t code, std::string reason) override {
    open_.store(false, std::memory_order_release);
    core_->post_from_outside(strand_, [self = self(), code, reason = std::move(reason)]() mutable {
      self->begin_close(code, std::move(reason));
    });
  }

  void shutdown() override {
    core_->post_from_outside(strand_, [self = self()] {
      if (self->phase_ == phase::handshaking)
        self->abort_handshake("runtime stopped");
      else
        self->begin_close(close_code::going_away, "shutting down");
    });
  }

  void force_close() override {
    core_->post_from_outside(strand_, [self = self()] {
      if (self->phase_ == phase::handshaking)
        self->abort_handshake("runtime stopped");
      else
        self->finish({close_code::abnormal, {}, "runtime stopped", true});
    });
  }

 private:
  enum class phase { handshaking, open, finished };
  struct outgoing {
    std::string data;
    bool binary;
  };

  std::shared_ptr<ws_session> self() {
    return std::static_pointer_cast<ws_session>(shared_from_this());
  }

  bool enroll() {
    if (core_->enroll(id_, std::weak_ptr<closable>(self()))) return true;
    fail_before_open("runtime stopped");
    return false;
  }

  void configure() {
    // The WebSocket layer does its own timing; the TCP stream's timer (used
    // while reading the HTTP upgrade) must not fire under it.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = config_.handshake_timeout;  // also bounds the close handshake
    timeouts.idle_timeout = websocket::stream_base::none();  // keepalive is ours, see on_keepalive
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.read_message_max(config_.frame_limit);
    // Pings, pongs and close frames prove the peer alive, like data does.
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      last_rx_ = steady::now();
      if (kind == websocket::frame_type::close) close_frame_received_ = true;
    });
  }

  // Ends the handshake in progress (it was started before anything could be
  // posted to the strand); its completion handler reports.
  void abort_handshake(std::string why) {
    abort_reason_ = std::move(why);
    beast::get_lowest_layer(ws_).close();
  }

  void on_accepted(error_code ec) {
    if (ec) {
      fail_before_open({});
      return;
    }
    become_open();
    auto make_handler = std::move(make_handler_);
    make_handler_ = nullptr;
    invoke_guarded([&] { handler_ = make_handler(self()); });
    if (!handler_) {
      begin_close(close_code::try_again_later, "no handler for this connection");
      return;
    }
    deliver_open();
  }

  void on_handshaked(error_code ec) {
    if (ec) {
      std::string why;
      if (!abort_reason_.empty())
        why = "dial aborted: " + abort_reason_;
      else if (ec == websocket::error::upgrade_declined)
        why = "server declined the upgrade: HTTP " +
              std::to_string(handshake_response_.result_int()) + " " + handshake_response_.body();
      else
        why = "WebSocket handshake: " + ec.message();
      fail_before_open(why);
      return;
    }
    auto chosen = handshake_response_[http::field::sec_websocket_protocol];
    if (std::string_view(chosen.data(), chosen.size()) != sync_subprotocol) {
      fail_before_open("server did not select subprotocol " + std::string(sync_subprotocol));
      return;
    }
    become_open();
    auto done = std::move(dial_done_);
    dial_done_ = nullptr;
    if (done) invoke_guarded([&] { done(self(), std::string()); });
    deliver_open();
  }

  // The connection never opened: nothing but the dial callback hears of it.
  void fail_before_open(const std::string& why) {
    if (phase_ == phase::finished) return;
    phase_ = phase::finished;
    beast::get_lowest_layer(ws_).close();
    core_->withdraw(id_);
    auto done = std::move(dial_done_);
    dial_done_ = nullptr;
    handler_.reset();
    make_handler_ = nullptr;
    if (done) invoke_guarded([&] { done(nullptr, why); });
  }

  void become_open() {
    phase_ = phase::open;
    last_rx_ = last_ping_ = steady::now();
    open_.store(true, std::memory_order_release);
  }

  void deliver_open() {
    open_delivered_ = true;
    invoke_guarded([&] { handler_->on_open(self()); });
    if (phase_ != phase::open || close_requested_) return;
    do_read();
    schedule_keepalive();
  }

  // A handler that throws costs its connection, not the io thread.
  template <class F>
  void invoke_guarded(F&& f) {
    try {
      f();
    } catch (...) {
      begin_close(close_code::internal_error, "internal error");
    }
  }

  // --- reading --------------------------------------------------------------

  void do_read() { ws_.async_read(rx_, beast::bind_front_handler(&ws_session::on_read, self())); }

  void on_read(error_code ec, std::size_t bytes) {
    if (ec) return on_io_error(ec, "read");
    last_rx_ = steady::now();
    bytes_in_.fetch_add(bytes, std::memory_order_relaxed);
    frames_in_.fetch_add(1, std::memory_order_relaxed);
    bool binary = ws_.got_binary();
    std::string data = beast::buffers_to_string(rx_.data());
    rx_.consume(rx_.size());
    if (rx_.capacity() > 1024 * 1024) rx_.shrink_to_fit();  // one big frame should not pin memory
    // After close() the owner wants no more frames; keep reading so pongs
    // and the peer's close frame are still processed.
    if (!close_requested_ && handler_)
      invoke_guarded([&] { handler_->on_frame(self(), binary, std::move(data)); });
    if (phase_ != phase::finished) do_read();
  }

  // --- writing --------------------------------------------------------------

  void enqueue(std::string data, bool binary) {
    if (phase_ != phase::open || close_started_) {
      queued_bytes_.fetch_sub(data.size(), std::memory_order_relaxed);
      return;
    }
    queue_.push_back({std::move(data), binary});
    do_write();
  }

  void do_write() {
    if (writing_ || queue_.empty() || phase_ != phase::open || close_started_) return;
    writing_ = true;
    ws_.binary(queue_.front().binary);
    ws_.async_write(boost::asio::buffer(queue_.front().data),
                    beast::bind_front_handler(&ws_session::on_write, self()));
  }

  void on_write(error_code ec, std::size_t) {
    writing_ = false;
    const std::size_t size = queue_.front().data.size();
    queue_.pop_front();
    queued_bytes_.fetch_sub(size, std::memory_order_relaxed);
    if (ec) return on_io_error(ec, "write");
    bytes_out_.fetch_add(size, std::memory_order_relaxed);
    frames_out_.fetch_add(1, std::memory_order_relaxed);
    if (phase_ != phase::open) return;
    if (close_requested_ && queue_.empty()) return start_close_handshake();
    do_write();
  }

  // --- keepalive ------------------------------------------------------------

  void schedule_keepalive() {
    bool pinging = config_.ping_interval.count() > 0;
    bool watching = config_.pong_timeout.count() > 0;
    if (!pinging && !watching) return;
    auto next = steady::time_point::max();
    if (pinging) next = std::min(next, last_ping_ + config_.ping_interval);
    if (watching) next = std::min(next, last_rx_ + config_.pong_timeout);
    keepalive_timer_.expires_at(next);
    keepalive_timer_.async_wait(beast::bind_front_handler(&ws_session::on_keepalive, self()));
  }

  void on_keepalive(error_code ec) {
    if (ec || phase_ != phase::open || close_requested_) return;
    auto now = steady::now();
    if (config_.pong_timeout.count() > 0 && now - last_rx_ >= config_.pong_timeout) {
      // A peer that does not answer will not answer a close frame either.
      finish({close_code::abnormal, {},
              "keepalive: nothing received for " + millis_text(config_.pong_timeout), true});
      return;
    }
    if (config_.ping_interval.count() > 0 && now - last_ping_ >= config_.ping_interval) {
      last_ping_ = now;  // also when skipped, so a stuck ping does not spin the timer
      if (!ping_in_flight_) {
        ping_in_flight_ = true;
        pings_sent_.fetch_add(1, std::memory_order_relaxed);
        ws_.async_ping({}, beast::bind_front_handler(&ws_session::on_ping, self()));
      }
    }
    schedule_keepalive();
  }

  void on_ping(error_code ec) {
    ping_in_flight_ = false;
    if (ec) on_io_error(ec, "ping");
  }

  // --- closing --------------------------------------------------------------

  void begin_close(std::uint16_t code, std::string reason) {
    if (phase_ == phase::finished || close_requested_) return;
    if (phase_ == phase::handshaking) return abort_handshake("closed before the handshake completed");
    close_requested_ = true;
    open_.store(false, std::memory_order_release);
    close_code_ = sendable_close_code(code);
    if (reason.size() > 123) reason.resize(123);  // the most a close frame carries
    close_reason_ = std::move(reason);
    keepalive_timer_.cancel();
    // Bounds the drain of the queue plus the close handshake: a peer that
    // stopped reading cannot hold the connection open.
    close_timer_.expires_after(config_.handshake_timeout);
    close_timer_.async_wait([self = self()](error_code ec) {
      if (ec || self->phase_ == phase::finished) return;
      self->finish({close_code::abnormal, {},
                    "close did not complete within " + millis_text(self->config_.handshake_timeout),
                    true});
    });
    if (!writing_) start_close_handshake();
  }

  void start_close_handshake() {
    // The peer's close frame may have arrived already; the read then
    // completes the handshake and reports it.
    if (close_started_ || !ws_.is_open()) return;
    close_started_ = true;
    websocket::close_reason frame(close_code_);
    frame.reason = close_reason_;
    ws_.async_close(frame,
                    beast::bind_front_handler(&ws_session::on_closed_handshake, self()));
  }

  void on_closed_handshake(error_code ec) {
    if (ec) return on_io_error(ec, "close");
    finish({close_code_, close_reason_, {}, true});
  }

  // Every I/O error ends here. Errors caused by our own cancellation are
  // dropped (whoever cancelled has reported); the first real outcome is
  // reported once through finish().
  void on_io_error(error_code ec, const char* operation) {
    if (phase_ == phase::finished || ec == boost::asio::error::operation_aborted) return;
    // Violations this side detected; the read has already sent the close frame.
    if (ec == websocket::error::message_too_big)
      return finish({close_code::too_big, {},
                     "incoming message larger than " + std::to_string(config_.frame_limit) + " bytes",
                     true});
    if (ec == websocket::condition::protocol_violation)
      return finish({close_code::protocol_error, {}, std::string(operation) + ": " + ec.message(),
                     true});
    // A complete close handshake, or a teardown error after the close frames
    // were exchanged (the peer may reset the socket once it has closed).
    bool peer_sent_close = close_frame_received_ || ws_.reason().code != websocket::close_code::none;
    if (ec == websocket::error::closed || peer_sent_close) {
      if (close_started_) return finish({close_code_, close_reason_, {}, true});
      auto peer_reason = ws_.reason();
      std::uint16_t code = peer_reason.code == websocket::close_code::none
                               ? close_code::no_status
                               : static_cast<std::uint16_t>(peer_reason.code);
      return finish({code, std::string(peer_reason.reason.data(), peer_reason.reason.size()), {},
                     false});
    }
    if (ec == boost::asio::error::eof && close_started_)  // peer hung up after our close frame
      return finish({close_code_, close_reason_, {}, true});
    if (ec == beast::error::timeout)
      return finish({close_code::abnormal, {}, std::string(operation) + ": timed out", true});
    finish({close_code::abnormal, {}, std::string(operation) + ": " + ec.message(), false});
  }

  void finish(close_info info) {
    if (phase_ == phase::finished) return;
    phase_ = phase::finished;
    open_.store(false, std::memory_order_release);
    keepalive_timer_.cancel();
    close_timer_.cancel();
    // Unsent frames are dropped; a write in flight still owns its buffer.
    std::size_t dropped = 0;
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      dropped += queue_.back().data.size();
      queue_.pop_back();
    }
    queued_bytes_.fetch_sub(dropped, std::memory_order_relaxed);
    beast::get_lowest_layer(ws_).close();  // no-op after a clean close
    core_->withdraw(id_);
    auto handler = std::move(handler_);
    handler_.reset();
    if (handler && open_delivered_) {
      try {
        handler->on_closed(self(), info);
      } catch (...) {
        // Nothing left to close; the handler's failure is its own.
      }
    }
  }

  const std::shared_ptr<runtime_core> core_;
  const settings config_;
  websocket::stream<beast::tcp_stream> ws_;
  boost::asio::any_io_executor strand_;
  boost::asio::steady_timer keepalive_timer_;
  boost::asio::steady_timer close_timer_;

  // Handshake state.
  http::request<http::string_body> upgrade_;
  websocket::response_type handshake_response_;
  std::string host_header_;
  std::string path_;
  connection_factory make_handler_;
  dial_callback dial_done_;
  std::string abort_reason_;

  std::shared_ptr<connection_handler> handler_;
  phase phase_ = phase::handshaking;
  bool open_delivered_ = false;
  beast::flat_buffer rx_;
  std::deque<outgoing> queue_;
  bool writing_ = false;
  bool ping_in_flight_ = false;
  steady::time_point last_rx_{};
  steady::time_point last_ping_{};
  bool close_requested_ = false;
  bool close_started_ = false;
  bool close_frame_received_ = false;
  std::uint16_t close_code_ = close_code::normal;
  std::string close_reason_;
};

}  // namespace

void start_accepted_session(std::shared_ptr<runtime_core> core, const settings& config,
                            beast::tcp_stream&& stream, std::string peer,
                            http::request<http::string_body>&& upgrade,
                            connection_factory make_handler) {
  auto session = std::make_shared<ws_session>(std::move(core), config, std::move(stream),
                                              std::move(peer), true);
  session->accept(std::move(upgrade), std::move(make_handler));
}

void start_dialed_session(std::shared_ptr<runtime_core> core, const settings& config,
                          beast::tcp_stream&& stream, std::string peer, std::string host_header,
                          std::string path, std::shared_ptr<connection_handler> handler,
                          dial_callback done) {
  auto session = std::make_shared<ws_session>(std::move(core), config, std::move(stream),
                                              std::move(peer), false);
  session->handshake(std::move(host_header), std::move(path), std::move(handler), std::move(done));
}

}  // namespace starling::net::detail
