// Client side: connects to a peer's sync endpoint and performs the WebSocket
// handshake offering sync_subprotocol.
//
// Threading contract
// - dial() may be called from any thread and returns at once.
// - The dial_callback runs exactly once, on an io thread, and must not
//   block: with the connection on success (right before the handler's
//   on_open), or with nullptr and an error text on failure (the handler is
//   then never called). Exception: once the runtime has stopped, done runs
//   at once on the calling thread with an error.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/connection.hpp"
#include "net/runtime.hpp"
#include "net/settings.hpp"

namespace starling::net {

struct dial_target {
  std::string host;
  std::uint16_t port = 80;
  std::string path{sync_path};
};

// Parses "ws://host[:port][/path]" (IPv6 hosts in brackets). Only ws:// is
// supported. On failure returns nullopt and sets *error.
std::optional<dial_target> parse_ws_url(const std::string& url, std::string* error = nullptr);

using dial_callback =
    std::function<void(const std::shared_ptr<ws_connection>& conn, const std::string& error)>;

// Resolves and connects within settings::connect_timeout, then handshakes
// within settings::handshake_timeout and checks that the server selected
// sync_subprotocol. done may be empty.
void dial(runtime& rt, const dial_target& target, std::shared_ptr<connection_handler> handler,
          dial_callback done, const settings& config);
// The same with a URL; a malformed URL reports through done.
void dial(runtime& rt, const std::string& url, std::shared_ptr<connection_handler> handler,
          dial_callback done, const settings& config);

}  // namespace starling::net
