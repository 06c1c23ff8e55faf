#include "net/dial.hpp"

#include "net/detail/url_parts.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "net/detail/core.hpp"
#include "net/detail/ws_start.hpp"

namespace starling::net {

namespace detail {

namespace {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// Resolves and connects; on success hands the stream to a WebSocket session
// that performs the handshake and reports through the same callback.
class dial_attempt final : public closable, public std::enable_shared_from_this<dial_attempt> {
 public:
  dial_attempt(std::shared_ptr<runtime_core> core, const settings& config, dial_target target,
               std::shared_ptr<connection_handler> handler, dial_callback done)
      : core_(std::move(core)),
        config_(config),
        target_(std::move(target)),
        handler_(std::move(handler)),
        done_(std::move(done)),
        id_(core_->next_id()),
        strand_(asio::make_strand(core_->io())),
        resolver_(strand_),
        stream_(strand_),
        resolve_timer_(strand_) {}

  ~dial_attempt() override { core_->withdraw(id_); }

  void start() {
    if (!core_->enroll(id_, weak_from_this())) return fail("dial aborted: the runtime has stopped");
    asio::post(strand_, [self = shared_from_this()] { self->resolve(); });
  }

  void shutdown() override { force_close(); }
  void force_close() override {
    core_->post_from_outside(strand_, [self = shared_from_this()] {
      self->fail("dial aborted: the runtime has stopped");
    });
  }

 private:
  void resolve() {
    if (finished_) return;
    // The resolver has no timeout of its own. The timer's handler also
    // keeps this attempt alive while resolving: the resolve handler holds
    // only a weak reference, because a lookup in progress cannot be
    // interrupted and must not keep the attempt (and the io_context it
    // holds) alive after the runtime has stopped.
    resolve_timer_.expires_after(config_.connect_timeout);
    resolve_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->finished_) return;
      self->fail("resolving " + self->target_.host + " timed out");
    });
    resolver_.async_resolve(target_.host, std::to_string(target_.port),
                            [weak = weak_from_this()](error_code ec, tcp::resolver::results_type results) {
                              if (auto self = weak.lock()) self->on_resolve(ec, std::move(results));
                            });
  }

  void on_resolve(error_code ec, tcp::resolver::results_type results) {
    if (finished_) return;
    resolve_timer_.cancel();
    if (ec) return fail("cannot resolve " + target_.host + ": " + ec.message());
    stream_.expires_after(config_.connect_timeout);
    stream_.async_connect(results,
                          beast::bind_front_handler(&dial_attempt::on_connect, shared_from_this()));
  }

  void on_connect(error_code ec, const tcp::endpoint& endpoint) {
    if (finished_) return;
    if (ec)
      return fail("cannot connect to " + target_.host + ":" + std::to_string(target_.port) + ": " +
                  ec.message());
    finished_ = true;
    core_->withdraw(id_);
    std::string host_header = target_.host + ":" + std::to_string(target_.port);
    start_dialed_session(core_, config_, std::move(stream_), endpoint_text(endpoint),
                         std::move(host_header), target_.path, std::move(handler_),
                         std::move(done_));
  }

  void fail(const std::string& why) {
    if (finished_) return;
    finished_ = true;
    core_->withdraw(id_);
    resolver_.cancel();
    resolve_timer_.cancel();
    stream_.close();
    handler_.reset();
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) {
      try {
        done(nullptr, why);
      } catch (...) {
        // The caller's failure; the dial is over either way.
      }
    }
  }

  const std::shared_ptr<runtime_core> core_;
  const settings config_;
  const dial_target target_;
  std::shared_ptr<connection_handler> handler_;
  dial_callback done_;
  const std::uint64_t id_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  asio::steady_timer resolve_timer_;
  bool finished_ = false;
};

}  // namespace

}  // namespace detail

std::optional<dial_target> parse_ws_url(const std::string& url, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<dial_target> {
    if (error) *error = "invalid URL '" + url + "': " + why;
    return std::nullopt;
  };
  const std::string scheme = "ws://";
  if (url.compare(0, scheme.size(), scheme) != 0) return fail("only ws:// is supported");
  std::string_view rest = std::string_view(url).substr(scheme.size());
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  dial_target target;
  target.path = slash == std::string_view::npos ? std::string(sync_path) : std::string(rest.substr(slash));

  std::optional<std::uint16_t> port;
  if (const char* why = detail::split_authority(authority, &target.host, &port)) return fail(why);
  if (port) target.port = *port;
  return target;
}

void dial(runtime& rt, const dial_target& target, std::shared_ptr<connection_handler> handler,
          dial_callback done, const settings& config) {
  std::make_shared<detail::dial_attempt>(rt.core(), config, target, std::move(handler),
                                         std::move(done))
      ->start();
}

void dial(runtime& rt, const std::string& url, std::shared_ptr<connection_handler> handler,
          dial_callback done, const settings& config) {
  std::string error;
  auto target = parse_ws_url(url, &error);
  if (!target) {
    auto& core = rt.core();
    if (done && !core->post_from_outside(core->io().get_executor(),
                                         [done, error] { done(nullptr, error); }))
      done(nullptr, error);
    return;
  }
  dial(rt, *target, std::move(handler), std::move(done), config);
}

}  // namespace starling::net
