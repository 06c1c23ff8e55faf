#include "net/runtime.hpp"

#include <cassert>

#include "net/detail/core.hpp"

namespace starling::net {

namespace detail {

namespace {
// The runtime whose io thread this is, so stop() can refuse to join itself.
thread_local const runtime_core* current_io_core = nullptr;
}  // namespace

runtime_core::runtime_core(const settings& config)
    : config_(config), io_(static_cast<int>(config.io_threads == 0 ? 1 : config.io_threads)) {}

runtime_core::~runtime_core() = default;

bool runtime_core::enroll(std::uint64_t id, std::weak_ptr<closable> object) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stop_begun_) return false;
  enrolled_.emplace(id, std::move(object));
  return true;
}

void runtime_core::withdraw(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (enrolled_.erase(id) > 0 && enrolled_.empty()) withdrawn_.notify_all();
}

std::vector<std::shared_ptr<closable>> runtime_core::enrolled_snapshot() {
  std::vector<std::shared_ptr<closable>> alive;
  std::lock_guard<std::mutex> lock(mutex_);
  alive.reserve(enrolled_.size());
  for (auto& [id, weak] : enrolled_)
    if (auto object = weak.lock()) alive.push_back(std::move(object));
  return alive;
}

bool runtime_core::wait_until_all_withdrawn(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return withdrawn_.wait_until(lock, deadline, [&] { return enrolled_.empty(); });
}

bool runtime_core::on_own_io_thread() const { return current_io_core == this; }

void runtime_core::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stop_begun_ || running_.load()) return;
  work_.emplace(asio::make_work_guard(io_));
  std::size_t count = config_.io_threads == 0 ? 1 : config_.io_threads;
  for (std::size_t i = 0; i < count; ++i)
    threads_.emplace_back([this] {
      current_io_core = this;
      io_.run();
    });
  running_.store(true, std::memory_order_release);
}

void runtime_core::stop() {
  assert(!on_own_io_thread() && "runtime::stop() called from one of its own io threads");
  bool had_threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_begun_) return;
    stop_begun_ = true;
    had_threads = !threads_.empty();
  }
  stopping_.store(true, std::memory_order_release);

  // Graceful first, while the io threads still run; then hard for whatever
  // did not finish in time. Without io threads nothing graceful can happen.
  if (had_threads) {
    for (auto& object : enrolled_snapshot()) object->shutdown();
    auto deadline = std::chrono::steady_clock::now() + config_.shutdown_timeout;
    if (!wait_until_all_withdrawn(deadline)) {
      for (auto& object : enrolled_snapshot()) object->force_close();
      wait_until_all_withdrawn(std::chrono::steady_clock::now() + std::chrono::seconds(1));
    }
  } else {
    for (auto& object : enrolled_snapshot()) object->force_close();
  }

  // From here nothing new may be posted (see post_from_outside).
  gate_closed_.store(true, std::memory_order_seq_cst);
  while (posting_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();

  work_.reset();
  io_.stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  running_.store(false, std::memory_order_release);

  // Run the completions still queued (aborted operations, cancelled timers)
  // on this thread. They only drop their references; afterwards no handler
  // holds a session, so sessions die when their last user reference goes.
  io_.restart();
  for (int round = 0; round < 10000 && io_.poll() > 0; ++round) {
  }
  std::lock_guard<std::mutex> lock(mutex_);
  enrolled_.clear();
}

}  // namespace detail

runtime::runtime(const settings& config) : core_(std::make_shared<detail::runtime_core>(config)) {}

runtime::~runtime() { stop(); }

void runtime::start() { core_->start(); }
void runtime::stop() { core_->stop(); }
bool runtime::running() const { return core_->running(); }
const settings& runtime::config() const { return core_->config(); }

}  // namespace starling::net
