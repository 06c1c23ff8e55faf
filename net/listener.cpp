#include "net/listener.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "net/detail/core.hpp"
#include "net/detail/http_session.hpp"

namespace starling::net {

namespace detail {

namespace {
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
// Accept can fail for lack of file descriptors; retrying at once would spin.
constexpr std::chrono::milliseconds accept_retry_delay{50};
}  // namespace

class listener_core final : public closable, public std::enable_shared_from_this<listener_core> {
 public:
  listener_core(std::shared_ptr<runtime_core> core, const settings& config,
                connection_factory on_connection, http_handler on_http)
      : context_(std::make_shared<route_context>(
            route_context{core, config, std::move(on_connection), std::move(on_http)})),
        id_(core->next_id()),
        strand_(asio::make_strand(core->io())),
        acceptor_(strand_),
        retry_timer_(strand_) {}

  ~listener_core() override { context_->core->withdraw(id_); }

  // Binds and listens; returns an error text or "".
  std::string open() {
    const settings& config = context_->config;
    error_code ec;
    auto address = asio::ip::make_address(config.listen_address, ec);
    if (ec) return "invalid listen address '" + config.listen_address + "': " + ec.message();
    tcp::endpoint endpoint(address, config.listen_port);
    std::string where = endpoint_text(endpoint);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (ec) return "cannot bind " + where + ": " + ec.message();
    acceptor_.listen(config.listen_backlog, ec);
    if (ec) return "cannot listen on " + where + ": " + ec.message();
    local_ = acceptor_.local_endpoint(ec);
    if (ec) return "cannot read the bound address: " + ec.message();
    return {};
  }

  std::string start_accepting() {
    if (!context_->core->enroll(id_, weak_from_this())) return "the runtime has stopped";
    asio::post(strand_, [self = shared_from_this()] { self->do_accept(); });
    return {};
  }

  std::uint16_t local_port() const { return local_.port(); }
  std::string local_address() const { return local_.address().to_string(); }

  void stop() {
    context_->core->post_from_outside(strand_, [self = shared_from_this()] { self->stop_on_strand(); });
  }
  void shutdown() override { stop(); }
  void force_close() override { stop(); }

 private:
  void do_accept() {
    if (stopped_) return;
    // Each connection gets its own strand: its handlers never run concurrently.
    acceptor_.async_accept(asio::make_strand(context_->core->io()),
                           [self = shared_from_this()](error_code ec, tcp::socket socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

  void on_accept(error_code ec, tcp::socket socket) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      retry_timer_.expires_after(accept_retry_delay);
      retry_timer_.async_wait([self = shared_from_this()](error_code wait_ec) {
        if (!wait_ec) self->do_accept();
      });
      return;
    }
    start_http_session(context_, std::move(socket));
    do_accept();
  }

  void stop_on_strand() {
    if (stopped_) return;
    stopped_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
    context_->core->withdraw(id_);
  }

  const std::shared_ptr<const route_context> context_;
  const std::uint64_t id_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  tcp::endpoint local_;
  bool stopped_ = false;
};

}  // namespace detail

listener::listener(std::shared_ptr<detail::listener_core> core) : core_(std::move(core)) {}
listener::~listener() { stop(); }
std::uint16_t listener::local_port() const { return core_->local_port(); }
std::string listener::local_address() const { return core_->local_address(); }
void listener::stop() { core_->stop(); }

std::unique_ptr<listener> listen(runtime& rt, const settings& config,
                                 connection_factory on_connection, http_handler on_http,
                                 std::string* error) {
  auto core = std::make_shared<detail::listener_core>(rt.core(), config, std::move(on_connection),
                                                      std::move(on_http));
  std::string why = rt.core()->stopping() ? "the runtime has stopped" : core->open();
  if (why.empty()) why = core->start_accepting();
  if (!why.empty()) {
    if (error) *error = why;
    return nullptr;
  }
  return std::make_unique<listener>(std::move(core));
}

}  // namespace starling::net
