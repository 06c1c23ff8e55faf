// Accepts TCP connections on one address and port, reads the first HTTP
// request of each, and routes it: a WebSocket upgrade on sync_path offering
// sync_subprotocol becomes a ws_connection; anything else goes to the HTTP
// handler (or gets a 404 JSON answer when there is none).
//
// Threading contract
// - listen() may be called from any thread; so may every listener member.
// - The connection_factory runs on the new connection's strand (an io
//   thread) right after the WebSocket handshake, before on_open. It must not
//   block. Returning nullptr refuses the connection (closed with 1013).
// - Destroying the listener or calling stop() stops accepting; connections
//   already accepted live on until closed or until runtime::stop().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "net/connection.hpp"
#include "net/http.hpp"
#include "net/runtime.hpp"
#include "net/settings.hpp"

namespace starling::net {

namespace detail {
class listener_core;
}

using connection_factory =
    std::function<std::shared_ptr<connection_handler>(const std::shared_ptr<ws_connection>&)>;

class listener {
 public:
  explicit listener(std::shared_ptr<detail::listener_core> core);
  ~listener();  // calls stop()
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  // The port actually bound (useful with settings::listen_port == 0).
  std::uint16_t local_port() const;
  std::string local_address() const;
  // Stops accepting. Idempotent.
  void stop();

 private:
  std::shared_ptr<detail::listener_core> core_;
};

// Binds settings::listen_address:listen_port and starts accepting on the
// runtime. Returns nullptr and sets *error when binding fails or the runtime
// has stopped. on_http may be empty.
std::unique_ptr<listener> listen(runtime& rt, const settings& config,
                                 connection_factory on_connection, http_handler on_http,
                                 std::string* error = nullptr);

}  // namespace starling::net
