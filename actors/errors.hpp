// The project's error category inside the actor system. A code exists only
// when a caller can react to it; detail goes into the message and the log.
#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <string>

#include "persistence/error.hpp"

namespace starling::actors {

enum class errc : std::uint8_t {
  bad_request = 1,  // the caller's input is invalid (bad doc name, malformed request): do not retry
  storage,          // the store failed to commit: the node is unhealthy, retry later
  peer_closed,      // a peer session ended abnormally (detail: close code and reason): the dialer retries
  refused,          // the peer refused us (or we it) for a reason waiting cannot change: do not redial
  storage_full,     // the store's map or the disk is full: an operator must make room
  conflict,         // the store refused a write that conflicts with what it holds (a used token)
  invalid_mutation, // a well-formed mutation the document refused (no such path, wrong kind): do not retry
};

constexpr caf::atom_value error_category = caf::atom("starling");

const char* to_string(errc e);

inline caf::error make_error(errc e, std::string detail = {}) {
  return caf::error(static_cast<std::uint8_t>(e), error_category, caf::make_message(std::move(detail)));
}

// A store failure as the caller can react to it (storage_full, conflict,
// else storage), the store's wording kept as the detail.
caf::error from_store(const persistence::store_error& e);

// "bad_request: no such path /a" from a caf::error of this category.
std::string render(const caf::error& e);
// Only the detail ("no such path /a"); render() when there is none.
std::string render_detail(const caf::error& e);
// Only the detail; empty when there is none.
std::string detail_of(const caf::error& e);

}  // namespace starling::actors
