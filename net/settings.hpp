// Tunables of the network layer, in one place. Every field has a documented
// default that matches the design (DESIGN.md sections 4 and 5); tests shrink
// the timers to milliseconds.
//
// Threading: a plain value. Each runtime, listener and connection copies the
// settings it was given, so changing a settings object later has no effect
// on objects already created.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace starling::net {

struct settings {
  // --- runtime ---------------------------------------------------------
  // Threads running the io_context. One is enough for a node: the handlers
  // only post to actors, so the io threads never do real work.
  std::size_t io_threads = 1;
  // runtime::stop() first closes everything gracefully (WebSocket close
  // 1001) and waits up to this long; whatever is still open afterwards has
  // its socket closed hard.
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(5)};

  // --- listener --------------------------------------------------------
  // Secure by default: only the local machine can connect unless configured.
  std::string listen_address = "127.0.0.1";
  // 0 picks an ephemeral port; listener::local_port() tells which.
  std::uint16_t listen_port = 0;
  int listen_backlog = 512;
  // Limits on one incoming HTTP request (including the upgrade request).
  // Exceeding them answers 431 or 413 and closes the connection.
  std::size_t http_header_limit = 8 * 1024;
  std::size_t http_body_limit = 1024 * 1024;
  // Time a kept-alive HTTP connection may sit idle, or take to send its
  // next request, before it is closed.
  // It also bounds each write of a streaming response (http_stream): a
  // client that takes longer to accept one write loses the stream.
  std::chrono::milliseconds http_idle_timeout{std::chrono::seconds(30)};
  // Bytes a streaming response (http_stream, e.g. Server-Sent Events) may
  // hold queued for sending, including the write in flight. A send() that
  // would exceed it ends the stream: a client that stops reading is cut
  // off instead of costing unbounded memory.
  std::size_t http_stream_queue_limit = 1024 * 1024;

  // --- WebSocket -------------------------------------------------------
  // Time from TCP accept (or connect) until the WebSocket handshake is done,
  // and the time a close handshake (including draining the send queue) may
  // take before the socket is closed hard.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  // Time allowed for resolving and connecting when dialing.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  // Largest incoming message; a larger one closes the connection with 1009.
  std::size_t frame_limit = 4 * 1024 * 1024;
  // Bytes a connection may hold queued for sending. A send that would exceed
  // it is refused, which is how a slow peer is detected (it lags); a
  // message larger than the limit goes alone once the queue is empty.
  std::size_t send_queue_limit = 16 * 1024 * 1024;
  // A ping is sent every ping_interval; if nothing at all (data, pong, ping)
  // arrives from the peer for pong_timeout, the connection is closed.
  std::chrono::milliseconds ping_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds pong_timeout{std::chrono::seconds(60)};
};

}  // namespace starling::net
