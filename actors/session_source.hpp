// What a peer session reads from the node for protocol::peer_sync: the
// store's frontiers and deltas (read transactions, any thread) and the
// permissions the handshake granted the peer.
//
// Threading: used by one session actor; the store is shared and thread-safe
// for reads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/trust.hpp"
#include "persistence/store.hpp"
#include "protocol/peer_sync.hpp"

namespace starling::actors {

// A delta read page by page from the store.
class store_cursor final : public protocol::delta_cursor {
 public:
  store_cursor(std::shared_ptr<persistence::store> st, std::string doc, frontier theirs);
  page next(std::size_t max_bytes) override;

 private:
  std::shared_ptr<persistence::store> st_;
  std::string doc_;
  frontier theirs_;
  std::optional<persistence::continuation> next_;
};

// What the session may do for this peer, from the handshake's decision.
class session_source final : public protocol::sync_source {
 public:
  session_source(std::shared_ptr<persistence::store> st, auth::permissions perm, std::vector<std::string> patterns);
  bool peer_may_read(const std::string& doc) const override;
  bool peer_may_write(const std::string& doc) const override;
  frontier our_frontier(const std::string& doc) override;
  std::unique_ptr<protocol::delta_cursor> open_delta(const std::string& doc, const frontier& theirs) override;

 private:
  std::shared_ptr<persistence::store> st_;
  auth::permissions perm_;
  std::vector<std::string> patterns_;
};

}  // namespace starling::actors
