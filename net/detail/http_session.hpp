// Private: what an accepted connection needs to route its first request.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "net/detail/core.hpp"
#include "net/listener.hpp"

namespace starling::net::detail {

struct route_context {
  std::shared_ptr<runtime_core> core;
  settings config;
  connection_factory on_connection;
  http_handler on_http;  // may be empty
};

// Takes over a freshly accepted socket (whose executor is its own strand):
// reads HTTP requests and routes them; see listener.hpp.
void start_http_session(std::shared_ptr<const route_context> context,
                        boost::asio::ip::tcp::socket&& socket);

}  // namespace starling::net::detail
