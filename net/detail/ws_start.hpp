// Private: hands a connected TCP stream over to a WebSocket session. The
// session class itself stays inside ws_session.cpp, so the heavy websocket
// templates are instantiated in that one translation unit only.
#pragma once

#include <memory>
#include <string>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/dial.hpp"
#include "net/listener.hpp"

namespace starling::net::detail {

class runtime_core;

// Server side: answers the upgrade request (already checked for path and
// subprotocol). After the handshake, make_handler supplies the handler.
void start_accepted_session(std::shared_ptr<runtime_core> core, const settings& config,
                            boost::beast::tcp_stream&& stream, std::string peer,
                            boost::beast::http::request<boost::beast::http::string_body>&& upgrade,
                            connection_factory make_handler);

// Client side: performs the handshake on a connected stream; done reports
// the outcome exactly once.
void start_dialed_session(std::shared_ptr<runtime_core> core, const settings& config,
                          boost::beast::tcp_stream&& stream, std::string peer,
                          std::string host_header, std::string path,
                          std::shared_ptr<connection_handler> handler, dial_callback done);

}  // namespace starling::net::detail
