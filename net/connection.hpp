// One WebSocket connection, accepted or dialed, and the callback interface
// through which it reports events.
//
// Threading contract
// - A ws_connection is owned by shared_ptr. Its I/O runs on one strand of
//   the runtime's io_context; at most one of its handler callbacks runs at a
//   time, in the order the events happened.
// - send(), close(), and every const accessor may be called from ANY thread,
//   including from inside a callback. send() and close() never block and
//   never do I/O themselves: they post onto the strand.
// - connection_handler callbacks run on an io thread. They must not block
//   and should only hand the event on (e.g. post it to an actor). They must
//   not throw; if one does, the connection is closed with 1011.
// - Every connection that reported on_open reports on_closed exactly once;
//   after that no callback runs and the connection drops its reference to
//   the handler (so a handler may hold the connection without a cycle).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace starling::net {

// The one WebSocket endpoint and the subprotocol both sides must agree on.
inline constexpr std::string_view sync_path = "/v1/sync";
inline constexpr std::string_view sync_subprotocol = "starling.1";

// WebSocket close codes used by this layer (RFC 6455 section 7.4.1).
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;    // runtime stopping
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t no_status = 1005;     // peer's close frame had no code
inline constexpr std::uint16_t abnormal = 1006;      // no close frame: I/O error, timeout
inline constexpr std::uint16_t too_big = 1009;       // frame over settings::frame_limit
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t try_again_later = 1013;
}  // namespace close_code

struct close_info {
  // The close code exchanged in the close handshake, or close_code::abnormal
  // when the connection ended without one.
  std::uint16_t code = close_code::abnormal;
  std::string reason;  // the close frame's reason text, if any
  // Why the connection ended when it was not a clean close handshake (I/O
  // error, keepalive or handshake timeout, oversized frame); empty otherwise.
  std::string error;
  // True when this side decided to close: close() was called, the runtime
  // stopped, or this side detected a violation or timeout.
  bool initiated_locally = false;
};

class ws_connection;

class connection_handler {
 public:
  virtual ~connection_handler() = default;
  // The WebSocket handshake completed; frames may be sent from now on.
  virtual void on_open(const std::shared_ptr<ws_connection>& conn) = 0;
  // One complete message (a WebSocket message, called a frame here).
  virtual void on_frame(const std::shared_ptr<ws_connection>& conn, bool binary,
                        std::string data) = 0;
  // The connection is gone; see close_info for how.
  virtual void on_closed(const std::shared_ptr<ws_connection>& conn,
                         const close_info& info) = 0;
};

class ws_connection : public std::enable_shared_from_this<ws_connection> {
 public:
  ws_connection(const ws_connection&) = delete;
  ws_connection& operator=(const ws_connection&) = delete;
  virtual ~ws_connection() = default;

  // Queues one message. Returns false, without queueing anything, when the
  // connection is closing or closed, or when the queued bytes would exceed
  // settings::send_queue_limit: the caller treats that as "peer is lagging".
  // A message larger than the limit is accepted when nothing is queued.
  // Messages from one thread are sent in the order of the calls.
  virtual bool send(std::string data, bool binary) = 0;
  // Starts a close handshake once everything already queued has been sent.
  // Later sends are refused and no on_frame follows. Idempotent. If called
  // from the connection_factory or dial_callback, on_open still runs first.
  // A close that does not finish within settings::handshake_timeout (e.g.
  // the peer stopped reading) ends with the socket closed hard.
  virtual void close(std::uint16_t code = close_code::normal, std::string reason = {}) = 0;

  // Unique within the process, for logs and maps.
  std::uint64_t id() const { return id_; }
  // "address:port" of the peer, for logs.
  const std::string& peer() const { return peer_; }
  // True for connections accepted by a listener, false for dialed ones.
  bool accepted() const { return accepted_; }
  // True from the end of the handshake until close() is called or the
  // connection ends; sends are accepted only while it is true.
  bool is_open() const { return open_.load(std::memory_order_acquire); }

  // Counters for metrics, readable from any thread. Payload bytes only.
  std::size_t queued_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }
  std::uint64_t bytes_in() const { return bytes_in_.load(std::memory_order_relaxed); }
  std::uint64_t bytes_out() const { return bytes_out_.load(std::memory_order_relaxed); }
  std::uint64_t frames_in() const { return frames_in_.load(std::memory_order_relaxed); }
  std::uint64_t frames_out() const { return frames_out_.load(std::memory_order_relaxed); }
  std::uint64_t pings_sent() const { return pings_sent_.load(std::memory_order_relaxed); }
  // Sends refused because the queue was full.
  std::uint64_t sends_refused() const { return sends_refused_.load(std::memory_order_relaxed); }

 protected:
  ws_connection(std::uint64_t id, std::string peer, bool accepted)
      : id_(id), peer_(std::move(peer)), accepted_(accepted) {}

  const std::uint64_t id_;
  const std::string peer_;
  const bool accepted_;
  std::atomic<bool> open_{false};
  std::atomic<std::size_t> queued_bytes_{0};
  std::atomic<std::uint64_t> bytes_in_{0};
  std::atomic<std::uint64_t> bytes_out_{0};
  std::atomic<std::uint64_t> frames_in_{0};
  std::atomic<std::uint64_t> frames_out_{0};
  std::atomic<std::uint64_t> pings_sent_{0};
  std::atomic<std::uint64_t> sends_refused_{0};
};

}  // namespace starling::net
