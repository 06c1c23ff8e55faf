#include "actors/errors.hpp"

namespace starling::actors {

const char* to_string(errc e) {
  switch (e) {
    case errc::bad_request: return "bad_request";
    case errc::storage: return "storage";
    case errc::peer_closed: return "peer_closed";
    case errc::refused: return "refused";
    case errc::storage_full: return "storage_full";
    case errc::conflict: return "conflict";
    case errc::invalid_mutation: return "invalid_mutation";
  }
  return "unknown";
}

std::string detail_of(const caf::error& e) {
  if (!e.context().empty() && e.context().match_elements<std::string>()) return e.context().get_as<std::string>(0);
  return {};
}

caf::error from_store(const persistence::store_error& e) {
  using persistence::store_errc;
  switch (e.code) {
    case store_errc::map_full: return make_error(errc::storage_full, e.message);
    case store_errc::token_unavailable:
    case store_errc::chain_conflict: return make_error(errc::conflict, e.message);
    default: return make_error(errc::storage, std::string(persistence::to_string(e.code)) + ": " + e.message);
  }
}

std::string render_detail(const caf::error& e) {
  auto d = detail_of(e);
  return d.empty() ? render(e) : d;
}

std::string render(const caf::error& e) {
  if (!e) return "ok";
  std::string detail = detail_of(e);
  if (e.category() == error_category)
    return std::string(to_string(static_cast<errc>(e.code()))) + (detail.empty() ? "" : ": " + detail);
  return "error " + std::to_string(e.code()) + (detail.empty() ? "" : ": " + detail);
}

}  // namespace starling::actors
