#include "tests/support/tcp_proxy.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

namespace starling::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {
constexpr std::size_t chunk_bytes = 64 * 1024;
std::size_t idx(tcp_proxy::direction d) { return d == tcp_proxy::direction::to_upstream ? 0 : 1; }
}  // namespace

struct tcp_proxy::impl : std::enable_shared_from_this<tcp_proxy::impl> {
  struct link : std::enable_shared_from_this<link> {
    explicit link(asio::io_context& io) : client(io), upstream(io), timers{asio::steady_timer(io), asio::steady_timer(io)} {}
    tcp::socket client, upstream;
    std::array<std::array<char, chunk_bytes>, 2> buf;
    std::array<asio::steady_timer, 2> timers;
    std::array<bool, 2> parked{false, false};
    bool closed = false;
    tcp::socket& from(std::size_t d) { return d == 0 ? client : upstream; }
    tcp::socket& to(std::size_t d) { return d == 0 ? upstream : client; }
  };

  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::uint16_t upstream_port = 0;
  std::thread thread;
  // Touched on the io thread only.
  std::set<std::shared_ptr<link>> links;
  std::array<bool, 2> paused{false, false};
  std::chrono::milliseconds delay{0};
  // Read from any thread.
  std::atomic<bool> cut{false};
  std::atomic<std::uint64_t> accepted{0}, open{0};
  std::array<std::atomic<std::uint64_t>, 2> bytes{};

  void accept() {
    auto l = std::make_shared<link>(io);
    acceptor.async_accept(l->client, [this, l](error_code ec) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        ++accepted;
        if (cut) {
          error_code ignored;
          l->client.close(ignored);
        } else {
          connect(l);
        }
      }
      accept();
    });
  }

  void connect(const std::shared_ptr<link>& l) {
    links.insert(l);
    ++open;
    tcp::endpoint up(asio::ip::make_address("127.0.0.1"), upstream_port);
    l->upstream.async_connect(up, [this, l](error_code ec) {
      if (ec) return close(l);
      error_code ignored;
      l->client.set_option(tcp::no_delay(true), ignored);
      l->upstream.set_option(tcp::no_delay(true), ignored);
      read(l, 0);
      read(l, 1);
    });
  }

  void read(const std::shared_ptr<link>& l, std::size_t d) {
    if (l->closed) return;
    if (paused[d]) {
      l->parked[d] = true;
      return;
    }
    l->from(d).async_read_some(asio::buffer(l->buf[d]), [this, l, d](error_code ec, std::size_t n) {
      if (ec) return close(l);
      auto forward = [this, l, d, n] {
        if (l->closed) return;
        asio::async_write(l->to(d), asio::buffer(l->buf[d].data(), n), [this, l, d, n](error_code ec2, std::size_t) {
          if (ec2) return close(l);
          bytes[d] += n;
          read(l, d);
        });
      };
      if (delay.count() <= 0) return forward();
      l->timers[d].expires_after(delay);
      l->timers[d].async_wait([forward](error_code) { forward(); });
    });
  }

  void close(const std::shared_ptr<link>& l) {
    if (l->closed) return;
    l->closed = true;
    error_code ignored;
    l->client.close(ignored);
    l->upstream.close(ignored);
    l->timers[0].cancel();
    l->timers[1].cancel();
    if (links.erase(l)) --open;
  }

  void close_all() {
    auto all = links;
    for (auto& l : all) close(l);
  }

  template <class F>
  void on_io(F f) {
    asio::post(io, [self = shared_from_this(), f = std::move(f)]() mutable { f(*self); });
  }
};

tcp_proxy::tcp_proxy(std::uint16_t upstream_port) : impl_(std::make_shared<impl>()) {
  impl_->upstream_port = upstream_port;
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  error_code ec;
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("tcp_proxy: cannot listen: " + ec.message());
  impl_->accept();
  impl_->thread = std::thread([i = impl_] { i->io.run(); });
}

tcp_proxy::~tcp_proxy() {
  impl_->on_io([](impl& i) {
    error_code ignored;
    i.acceptor.close(ignored);
    i.close_all();
    i.io.stop();
  });
  impl_->thread.join();
}

std::uint16_t tcp_proxy::port() const { return impl_->acceptor.local_endpoint().port(); }

void tcp_proxy::cut() {
  impl_->cut = true;
  impl_->on_io([](impl& i) { i.close_all(); });
}

void tcp_proxy::heal() { impl_->cut = false; }

bool tcp_proxy::is_cut() const { return impl_->cut; }

void tcp_proxy::pause(direction d) {
  impl_->on_io([d](impl& i) { i.paused[idx(d)] = true; });
}

void tcp_proxy::resume(direction d) {
  impl_->on_io([d](impl& i) {
    auto k = idx(d);
    i.paused[k] = false;
    auto all = i.links;
    for (auto& l : all)
      if (l->parked[k]) {
        l->parked[k] = false;
        i.read(l, k);
      }
  });
}

void tcp_proxy::set_delay(std::chrono::milliseconds d) {
  impl_->on_io([d](impl& i) { i.delay = d; });
}

std::uint64_t tcp_proxy::accepted() const { return impl_->accepted; }
std::uint64_t tcp_proxy::open_connections() const { return impl_->open; }
std::uint64_t tcp_proxy::bytes(direction d) const { return impl_->bytes[idx(d)]; }

}  // namespace starling::net
