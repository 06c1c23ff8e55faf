// One running node as `starling serve` runs it: the node's actors (with its
// sync listener and dialers) plus its HTTP API, inside a caller's actor
// system. `serve` runs one; `demo` runs three in one process.
//
// Threading: start() and stop() from the owning thread (not an io or
// scheduler thread); the accessors from any thread.
#pragma once

#include <memory>
#include <string>

#include "app/service_config.hpp"
#include "crdt/expected.hpp"

namespace caf {
class actor_system;
}
namespace starling::actors {
struct node_info;
}

namespace starling::app {

class service {
 public:
  // Validates the configuration, opens the data directory, starts the node
  // and the HTTP API. Errors say what failed; nothing is left running.
  static expected<std::unique_ptr<service>, std::string> start(caf::actor_system& sys, const service_config& cfg);
  ~service();  // stop()
  // Stops the HTTP API and the node, and waits until the node's actors are
  // gone (so its data directory can be reopened).
  void stop();

  const std::string& node_id() const;
  std::uint16_t sync_port() const;  // 0 if not listening
  std::uint16_t http_port() const;
  std::string sync_url() const;     // ws://host:port/v1/sync
  std::string http_url() const;     // http://host:port
  // The node actor and its counters, for in-process callers (the demo).
  const actors::node_info& node() const;

  struct impl;
  explicit service(std::unique_ptr<impl> i);

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace starling::app
