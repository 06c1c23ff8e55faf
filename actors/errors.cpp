#include "actors/errors.hpp"

namespace starling::actors {

const char* to_string(errc e) {
  switch (e) {
    case errc::bad_request: return "bad_request";
    case errc::storage: return "storage";
    case errc::not_found: return "not_found";
    case errc::shutting_down: return "shutting_down";
    case errc::overloaded: return "overloaded";
    case errc::peer_closed: return "peer_closed";
    case errc::invalid_mutation: return "invalid_mutation";
  }
  return "unknown";
}

std::string render(const caf::error& e) {
  if (!e) return "ok";
  std::string detail;
  if (!e.context().empty() && e.context().match_elements<std::string>()) detail = e.context().get_as<std::string>(0);
  if (e.category() == error_category)
    return std::string(to_string(static_cast<errc>(e.code()))) + (detail.empty() ? "" : ": " + detail);
  return "error " + std::to_string(e.code()) + (detail.empty() ? "" : ": " + detail);
}

}  // namespace starling::actors
