// The project's error category inside the actor system. A code exists only
// when a caller can react to it; detail goes into the message and the log.
#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <string>

namespace starling::actors {

enum class errc : std::uint8_t {
  bad_request = 1,  // the caller's input is invalid (bad doc name, malformed request): do not retry
  storage,          // the store failed to commit: the node is unhealthy, retry later
  not_found,        // no such document or path
  shutting_down,    // the node is stopping
  overloaded,       // a bound was hit (pending, queue): retry later
  peer_closed,      // a peer session ended abnormally (detail: close code and reason): the dialer retries
  invalid_mutation, // a well-formed mutation the document refused (no such path, wrong kind): do not retry
};

constexpr caf::atom_value error_category = caf::atom("starling");

const char* to_string(errc e);

inline caf::error make_error(errc e, std::string detail = {}) {
  return caf::error(static_cast<std::uint8_t>(e), error_category, caf::make_message(std::move(detail)));
}

// "bad_request: no such path /a" from a caf::error of this category.
std::string render(const caf::error& e);

}  // namespace starling::actors
