// Plain HTTP requests and responses as seen by the HTTP handler of a
// listener: std types only, no Beast.
//
// Threading contract
// - The http_handler runs on the HTTP connection's strand (an io thread). It
//   must not block: it hands the request on and answers later through the
//   http_reply, from any thread.
// - An http_reply may be copied and called from any thread; the first call
//   sends the response, later calls are ignored. If every copy is destroyed
//   without a call, the client gets a 500, so a lost request never hangs.
// - The connection reads no further request until the current one is
//   answered (keep-alive, no pipelining).
// - Instead of one response, the handler may open a streaming response with
//   http_reply::stream() (Server-Sent Events). An http_stream may be used
//   from any thread, see its own contract below. A streaming connection
//   reads no further request: it closes when the stream ends.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace starling::net {

struct http_header {
  std::string name;
  std::string value;
};

struct http_request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // as sent, e.g. "/v1/docs/a?x=1"
  std::vector<http_header> headers;
  std::string body;
  std::string peer;  // "address:port" of the client
  bool keep_alive = true;

  // The first header with this name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  // The target without its query string.
  std::string_view path() const;
};

struct http_response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<http_header> headers;  // extra headers
  bool close = false;  // close the connection after this response
};

// {"error":{"code":<code>,"message":<message>}} with the given status.
http_response json_error(unsigned status, std::string_view code, std::string_view message);

// One streaming response (chunked transfer encoding, Cache-Control:
// no-cache), e.g. Server-Sent Events. Obtained from http_reply::stream().
//
// Threading contract
// - Every member may be called from ANY thread, including from inside
//   on_closed. None blocks or does I/O itself: the bytes are posted to the
//   connection's strand, which writes them one write at a time.
// - Chunks from one thread are sent in the order of the send() calls.
// - The queue is bounded by settings::http_stream_queue_limit. A send()
//   that would exceed it is refused and ends the stream at once (queued
//   bytes dropped, connection closed): a client that does not read costs
//   at most that much memory. A single write that does not complete within
//   settings::http_idle_timeout ends the stream too.
// - The stream ends when close() has drained the queue and sent the final
//   chunk, when the queue overflows, when the client goes away (the
//   connection is read while streaming, so EOF or a reset is noticed even
//   when nothing is being sent), when a write fails or times out, when the
//   last reference to the stream is released (that is a close()), or when
//   runtime::stop() runs (a graceful close, then hard after
//   settings::shutdown_timeout). The connection is closed afterwards.
// - on_closed's callback runs exactly once per stream, on an io thread,
//   after the stream has ended for whatever reason; if the stream has ended
//   already it is posted at once (and runs at once on the calling thread if
//   the runtime has stopped). It must not block and should not throw. The
//   connection drops the callback after calling it, so the callback may
//   hold the stream without a lasting cycle.
class http_stream {
 public:
  virtual ~http_stream() = default;
  http_stream(const http_stream&) = delete;
  http_stream& operator=(const http_stream&) = delete;

  // Queues bytes to send as one chunk (an empty chunk is ignored and
  // accepted). Returns false, queueing nothing, when the stream is closing
  // or has ended, or when the queue limit would be exceeded (which ends
  // the stream, see above).
  virtual bool send(std::string chunk) = 0;
  // Ends the response with the final chunk once the queued bytes are sent,
  // then closes the connection. Later sends are refused. Idempotent.
  virtual void close() = 0;
  // True until close() is called or the stream ends; sends are accepted
  // only while it is true.
  virtual bool is_open() const = 0;
  // Bytes accepted by send() and not yet written to the socket.
  virtual std::size_t queued_bytes() const = 0;
  // Sets the callback run when the stream ends; replaces an earlier one
  // that has not run yet.
  virtual void on_closed(std::function<void()> callback) = 0;

 protected:
  http_stream() = default;
};

class http_reply {
 public:
  using sink = std::function<void(http_response)>;
  using stream_opener = std::function<std::shared_ptr<http_stream>(
      unsigned status, std::string content_type, std::vector<http_header> headers)>;
  // Built by the listener; the sink delivers the response to the
  // connection, the opener starts a streaming response on it.
  explicit http_reply(sink deliver, stream_opener open_stream = {});
  void operator()(http_response response) const;

  // Answers with a streaming response instead: the status line and headers
  // (plus Cache-Control: no-cache, Connection: close and Transfer-Encoding:
  // chunked; an HTTP/1.0 client gets no chunks, its body ends with the
  // connection) go out at once, the body follows through the returned
  // stream. This counts as the answer: returns nullptr if the reply was
  // answered (or streamed) before, or when the reply cannot stream (built
  // without an opener); later calls of operator() are ignored. If the
  // runtime has stopped, the returned stream has ended already.
  std::shared_ptr<http_stream> stream(unsigned status, std::string content_type,
                                      std::vector<http_header> headers = {}) const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

using http_handler = std::function<void(http_request request, http_reply reply)>;

// Adapts a handler that can answer at once (it still must not block).
http_handler make_sync_http_handler(std::function<http_response(const http_request&)> answer);

}  // namespace starling::net
