// Helpers for the net/ tests: condition waits with deadlines, a handler that
// records what it sees, and a raw TCP client for misbehaving peers.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "net/net.hpp"

namespace net_test {

using namespace std::chrono_literals;
using starling::net::close_info;
using starling::net::connection_handler;
using starling::net::ws_connection;

// Polls pred until it holds or the deadline passes; returns its last value.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

struct frame {
  bool binary;
  std::string data;
};

// Records every callback; optionally echoes frames back.
class recorder : public connection_handler {
 public:
  explicit recorder(bool echo = false) : echo_(echo) {}

  void on_open(const std::shared_ptr<ws_connection>& conn) override {
    std::lock_guard<std::mutex> lock(mutex_);
    conn_ = conn;
    opened_++;
  }
  void on_frame(const std::shared_ptr<ws_connection>& conn, bool binary, std::string data) override {
    if (echo_) conn->send(data, binary);
    std::lock_guard<std::mutex> lock(mutex_);
    frames_.push_back({binary, std::move(data)});
  }
  void on_closed(const std::shared_ptr<ws_connection>&, const close_info& info) override {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_++;
    info_ = info;
    closed_at_ = std::chrono::steady_clock::now();
  }

  int opened() const { std::lock_guard<std::mutex> l(mutex_); return opened_; }
  int closed() const { std::lock_guard<std::mutex> l(mutex_); return closed_; }
  std::size_t frame_count() const { std::lock_guard<std::mutex> l(mutex_); return frames_.size(); }
  std::vector<frame> frames() const { std::lock_guard<std::mutex> l(mutex_); return frames_; }
  close_info info() const { std::lock_guard<std::mutex> l(mutex_); return info_; }
  std::chrono::steady_clock::time_point closed_at() const { std::lock_guard<std::mutex> l(mutex_); return closed_at_; }
  std::shared_ptr<ws_connection> conn() const { std::lock_guard<std::mutex> l(mutex_); return conn_; }

 private:
  const bool echo_;
  mutable std::mutex mutex_;
  std::shared_ptr<ws_connection> conn_;
  int opened_ = 0;
  int closed_ = 0;
  std::vector<frame> frames_;
  close_info info_;
  std::chrono::steady_clock::time_point closed_at_{};
};

// The server side of a test: one recorder per accepted connection.
class accepted_set {
 public:
  explicit accepted_set(bool echo = false) : echo_(echo) {}

  starling::net::connection_factory factory() {
    return [this](const std::shared_ptr<ws_connection>&) {
      auto handler = std::make_shared<recorder>(echo_);
      std::lock_guard<std::mutex> lock(mutex_);
      handlers_.push_back(handler);
      return handler;
    };
  }
  std::size_t size() const { std::lock_guard<std::mutex> l(mutex_); return handlers_.size(); }
  std::shared_ptr<recorder> at(std::size_t i) const { std::lock_guard<std::mutex> l(mutex_); return handlers_.at(i); }
  int opened() const { int n = 0; for (auto& h : all()) n += h->opened(); return n; }
  int closed() const { int n = 0; for (auto& h : all()) n += h->closed(); return n; }
  std::vector<std::shared_ptr<recorder>> all() const { std::lock_guard<std::mutex> l(mutex_); return handlers_; }

 private:
  const bool echo_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<recorder>> handlers_;
};

// Outcome of a dial, filled in by its callback.
struct dial_outcome {
  std::mutex mutex;
  bool done = false;
  std::shared_ptr<ws_connection> conn;
  std::string error;

  starling::net::dial_callback callback() {
    return [this](const std::shared_ptr<ws_connection>& c, const std::string& e) {
      std::lock_guard<std::mutex> lock(mutex);
      conn = c;
      error = e;
      done = true;
    };
  }
  bool finished() { std::lock_guard<std::mutex> l(mutex); return done; }
  std::string error_text() { std::lock_guard<std::mutex> l(mutex); return error; }
};

inline std::string sync_url(std::uint16_t port, const std::string& path = "/v1/sync") {
  return "ws://127.0.0.1:" + std::to_string(port) + path;
}

// A blocking loopback TCP client for peers that misbehave on purpose.
class raw_client {
 public:
  explicit raw_client(std::uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    if (receive_buffer > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect");
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  void send_all(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      auto n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send");
      sent += static_cast<std::size_t>(n);
    }
  }

  // Reads whatever arrives within the timeout into the buffer. Returns
  // false on end of stream or error.
  bool read_some(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return true;  // nothing yet
    char chunk[65536];
    auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  // Reads up to the end of an HTTP header block; returns it ("" on failure).
  std::string read_headers(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.find("\r\n\r\n") == std::string::npos) {
      if (std::chrono::steady_clock::now() >= deadline || !read_some(10ms)) return {};
    }
    auto end = buffer_.find("\r\n\r\n") + 4;
    std::string headers = buffer_.substr(0, end);
    buffer_.erase(0, end);
    return headers;
  }

  struct response {
    int status = 0;
    std::string headers;
    std::string body;
  };
  // Reads one response with a Content-Length body.
  response read_response(std::chrono::milliseconds timeout = 5s) {
    response r;
    r.headers = read_headers(timeout);
    if (r.headers.size() < 12) return r;
    r.status = std::stoi(r.headers.substr(9, 3));
    std::size_t length = 0;
    auto at = lowercase(r.headers).find("content-length:");
    if (at != std::string::npos) length = std::stoul(r.headers.substr(at + 15));
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.size() < length && std::chrono::steady_clock::now() < deadline)
      if (!read_some(10ms)) break;
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, std::min(length, buffer_.size()));
    return r;
  }

  // True when the server closes the connection within the timeout.
  bool wait_for_close(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!read_some(10ms)) return true;
      buffer_.clear();
    }
    return false;
  }

  // Performs the client half of the WebSocket handshake; returns the
  // response headers (check for " 101 ").
  std::string websocket_handshake(std::optional<std::string> subprotocol = std::string("starling.1"),
                                  const std::string& path = "/v1/sync") {
    send_all(upgrade_request(subprotocol, path));
    return read_headers();
  }

  static std::string upgrade_request(std::optional<std::string> subprotocol,
                                     const std::string& path = "/v1/sync") {
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n";
    if (subprotocol) request += "Sec-WebSocket-Protocol: " + *subprotocol + "\r\n";
    return request + "\r\n";
  }

  std::string& buffer() { return buffer_; }

 private:
  static std::string lowercase(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  int fd_ = -1;
  std::string buffer_;
};

}  // namespace net_test
