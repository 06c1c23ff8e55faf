// Private: the shared state behind net::runtime. Only net/*.cpp include this.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "net/settings.hpp"

namespace starling::net::detail {

namespace asio = boost::asio;

// Anything runtime::stop() must close: listeners, HTTP sessions, WebSocket
// sessions, dials in progress. Both calls may come from any thread and only
// post onto the object's strand.
class closable {
 public:
  virtual ~closable() = default;
  // Ends the object gracefully (WebSocket: close 1001 after the queue).
  virtual void shutdown() = 0;
  // Ends the object now: closes its socket, reports what must be reported.
  virtual void force_close() = 0;
};

class runtime_core : public std::enable_shared_from_this<runtime_core> {
 public:
  explicit runtime_core(const settings& config);
  ~runtime_core();

  asio::io_context& io() { return io_; }
  const settings& config() const { return config_; }
  std::uint64_t next_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  // Registers an object that stop() must close. Refused (false) once stop()
  // has begun; the caller then gives up on the object.
  bool enroll(std::uint64_t id, std::weak_ptr<closable> object);
  // The object has ended. Idempotent.
  void withdraw(std::uint64_t id);

  // Posts f onto ex unless the runtime has stopped; used by every entry
  // point callable from outside the io threads (send, close, HTTP replies),
  // so that nothing is queued on an io_context nobody will run again (the
  // handler would hold its session forever). Returns whether it posted.
  template <class Executor, class F>
  bool post_from_outside(const Executor& ex, F&& f) {
    posting_.fetch_add(1, std::memory_order_seq_cst);
    bool open = !gate_closed_.load(std::memory_order_seq_cst);
    if (open) asio::post(ex, std::forward<F>(f));
    posting_.fetch_sub(1, std::memory_order_seq_cst);
    return open;
  }

  void start();
  void stop();
  bool running() const { return running_.load(std::memory_order_acquire); }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

 private:
  std::vector<std::shared_ptr<closable>> enrolled_snapshot();
  bool wait_until_all_withdrawn(std::chrono::steady_clock::time_point deadline);
  bool on_own_io_thread() const;

  const settings config_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> gate_closed_{false};
  std::atomic<int> posting_{0};

  std::mutex mutex_;
  std::condition_variable withdrawn_;
  std::unordered_map<std::uint64_t, std::weak_ptr<closable>> enrolled_;  // by mutex_
  bool stop_begun_ = false;                                               // by mutex_
};

// "address:port", with IPv6 addresses in brackets.
template <class Endpoint>
std::string endpoint_text(const Endpoint& ep) {
  auto address = ep.address();
  std::string text = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return text + ":" + std::to_string(ep.port());
}

}  // namespace starling::net::detail
