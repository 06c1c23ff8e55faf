// A loopback TCP proxy for fault injection: it forwards every connection
// made to its port to an upstream port, and can cut, pause and delay the
// links it carries. Faults are made from outside the nodes, on real
// sockets, so a node under test runs exactly its production code.
//
//   cut()     closes every forwarded connection and refuses new ones
//             (accepted, then closed at once) until heal();
//   pause(d)  stops forwarding in direction d: the proxy stops reading the
//             sending side, whose kernel buffers and then send queue fill
//             up, as with a peer that stops reading; resume(d) goes on;
//   delay     holds each chunk for a fixed time before forwarding it.
//
// Threading: the proxy runs on its own thread. Every member may be called
// from any other thread; none blocks on I/O (the destructor joins).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

namespace starling::net {

class tcp_proxy {
 public:
  enum class direction { to_upstream, to_client };

  // Listens on 127.0.0.1 and an ephemeral port; forwards to
  // 127.0.0.1:upstream_port. Throws std::runtime_error if it cannot listen.
  explicit tcp_proxy(std::uint16_t upstream_port);
  ~tcp_proxy();
  tcp_proxy(const tcp_proxy&) = delete;
  tcp_proxy& operator=(const tcp_proxy&) = delete;

  std::uint16_t port() const;
  void cut();
  void heal();
  bool is_cut() const;
  void pause(direction d);
  void resume(direction d);
  void set_delay(std::chrono::milliseconds d);

  // Counters: connections accepted (including refused ones), open now,
  // bytes forwarded per direction.
  std::uint64_t accepted() const;
  std::uint64_t open_connections() const;
  std::uint64_t bytes(direction d) const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace starling::net
