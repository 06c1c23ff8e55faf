// The network runtime: one io_context and the threads that run it. Every
// listener, connection and dial belongs to one runtime.
//
// Threading contract
// - start() and stop() are called by the owner, from a thread that is not
//   one of the runtime's io threads (stop() joins them). Neither is safe to
//   call concurrently with the other.
// - Everything else in net/ may be used from any thread once the runtime
//   exists; work submitted before start() waits until start().
// - stop() closes every listener (no new accepts), closes every WebSocket
//   connection with 1001 (handlers get on_closed), ends streaming HTTP
//   responses (final chunk after their queue; http_stream on_closed runs),
//   aborts pending dials and HTTP exchanges, waits up to
//   settings::shutdown_timeout for all of that, then closes whatever
//   remains hard and joins the threads. After stop() no callback runs any
//   more, and send()/close() on surviving connection and stream objects are
//   harmless no-ops. A stopped runtime cannot be restarted.
// - Connection objects may outlive the runtime object; the io_context they
//   need is kept alive until the last of them is released.
#pragma once

#include <memory>

#include "net/settings.hpp"

namespace starling::net {

namespace detail {
class runtime_core;
}

class runtime {
 public:
  explicit runtime(const settings& config = {});
  ~runtime();  // calls stop()
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Starts settings::io_threads threads running the io_context.
  void start();
  // Closes everything and joins the threads; see the contract above.
  // Idempotent.
  void stop();
  bool running() const;
  const settings& config() const;

  // For the implementation in net/: the shared state behind this runtime.
  const std::shared_ptr<detail::runtime_core>& core() const { return core_; }

 private:
  std::shared_ptr<detail::runtime_core> core_;
};

}  // namespace starling::net
