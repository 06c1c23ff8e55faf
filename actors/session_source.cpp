#include "actors/session_source.hpp"

namespace starling::actors {

store_cursor::store_cursor(std::shared_ptr<persistence::store> st, std::string doc, frontier theirs)
    : st_(std::move(st)), doc_(std::move(doc)), theirs_(std::move(theirs)) {}

store_cursor::page store_cursor::next(std::size_t max_bytes) {
  auto p = next_ ? st_->changes_since(doc_, *next_, max_bytes) : st_->changes_since(doc_, theirs_, max_bytes);
  if (!p) return page{};  // a read failure ends the delta; the peer catches up on reconnect
  next_ = p->next;
  return page{std::move(p->changes), p->next.has_value(), p->behind_horizon};
}

session_source::session_source(std::shared_ptr<persistence::store> st, auth::permissions perm,
                               std::vector<std::string> patterns)
    : st_(std::move(st)), perm_(perm), patterns_(std::move(patterns)) {}

bool session_source::peer_may_read(const std::string& doc) const {
  return perm_.has(auth::permission::read) && auth::matches_any(patterns_, doc);
}

bool session_source::peer_may_write(const std::string& doc) const {
  return perm_.has(auth::permission::write) && auth::matches_any(patterns_, doc);
}

frontier session_source::our_frontier(const std::string& doc) {
  auto f = st_->load_frontier(doc);
  return f ? *f : frontier{};
}

std::unique_ptr<protocol::delta_cursor> session_source::open_delta(const std::string& doc, const frontier& theirs) {
  return std::make_unique<store_cursor>(st_, doc, theirs);
}

}  // namespace starling::actors
