#include "app/http_errors.hpp"

#include <caf/error.hpp>
#include <caf/sec.hpp>

#include "actors/errors.hpp"

namespace starling::app {

namespace {

// The detail of an error of the project's category, without the code
// prefix render() adds (the code travels in its own field).
std::string detail_of(const caf::error& e) {
  if (!e.context().empty() && e.context().match_elements<std::string>()) return e.context().get_as<std::string>(0);
  return {};
}

}  // namespace

http_failure http_failure_of(const caf::error& e) {
  using actors::errc;
  if (e.category() == actors::error_category) {
    auto code = static_cast<errc>(e.code());
    auto message = detail_of(e);
    if (message.empty()) message = actors::to_string(code);
    switch (code) {
      case errc::bad_request: return {400, "bad_request", message};
      case errc::invalid_mutation: return {422, "invalid_mutation", message};
      case errc::not_found: return {404, "not_found", message};
      case errc::overloaded: return {503, "overloaded", message};
      case errc::storage: return {503, "storage", message};
      case errc::shutting_down: return {503, "shutting_down", message};
      case errc::peer_closed: break;  // a session's end, never a request's answer
    }
    return {500, "internal", actors::render(e)};
  }
  if (e == caf::sec::request_timeout) return {503, "timeout", "the node did not answer in time"};
  // The actor asked ended before answering: a document owner restarting, or
  // the node stopping. Nothing was done; a retry may succeed.
  if (e == caf::sec::request_receiver_down)
    return {503, "unavailable", "the node's actor ended before answering: " + actors::render(e)};
  return {500, "internal", actors::render(e)};
}

}  // namespace starling::app
