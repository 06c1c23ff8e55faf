#include "app/http_errors.hpp"

#include <caf/error.hpp>
#include <caf/sec.hpp>

#include "actors/errors.hpp"

namespace starling::app {

http_failure http_failure_of(const caf::error& e) {
  using actors::errc;
  if (e.category() == actors::error_category) {
    auto code = static_cast<errc>(e.code());
    // The detail without the code prefix render() adds (the code travels
    // in its own field).
    auto message = actors::detail_of(e);
    if (message.empty()) message = actors::to_string(code);
    switch (code) {
      case errc::bad_request: return {400, "bad_request", message};
      case errc::invalid_mutation: return {422, "invalid_mutation", message};
      case errc::storage: return {503, "storage", message};
      case errc::storage_full: return {507, "storage_full", message};
      case errc::conflict: return {409, "conflict", message};
      case errc::peer_closed:
      case errc::refused: break;  // a session's end, never a request's answer
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
