// The node's HTTP API (README "HTTP API"): its own listener (127.0.0.1 by
// default) and one actor that answers each request by asking the node's
// actors, so that no io thread ever waits.
//
// Threading: start() and the destructor are called by the owner (not from
// an io thread); port() from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "app/service_config.hpp"
#include "crdt/expected.hpp"

namespace caf {
class actor_system;
}
namespace starling::net {
class runtime;
}
namespace starling::actors {
struct node_info;
}

namespace starling::app {

class http_api {
 public:
  static expected<std::unique_ptr<http_api>, std::string> start(caf::actor_system& sys, net::runtime& rt,
                                                                const actors::node_info& node,
                                                                const service_config& cfg);
  ~http_api();
  std::uint16_t port() const;

  struct impl;
  explicit http_api(std::unique_ptr<impl> i);

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace starling::app
