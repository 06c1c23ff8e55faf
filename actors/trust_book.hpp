// The node's trust store in memory: the keys it accepts and the join tokens
// it has issued, loaded from the store's `trust` and `tokens` tables.
//
// The store is the record; this is its cache for the handshake, which must
// answer without touching LMDB's write lock. Every change is committed by
// the store writer first (the node actor builds the batch) and applied here
// only after the commit succeeded, so the cache never holds what a crash
// would lose. Token consumption is made single-use by the store itself
// (write_batch::consume_token refuses a used token), not by this cache.
//
// Threading: every member may be called from any thread (one mutex);
// check_peer is called by links on scheduler threads.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/trust.hpp"
#include "crdt/expected.hpp"
#include "persistence/store.hpp"

namespace starling::actors {

class trust_book final : public auth::trust_policy {
 public:
  // Loads entries and unconsumed tokens from `st`. Entries of `seed` (the
  // node_config's trusted keys) whose key the store does not know yet are
  // added and put in `seed_batch` for the caller to commit: configuration
  // seeds the trust store once; after that the store decides (a key revoked
  // at run time stays revoked though it is still in the config). Fails,
  // naming the record, when a stored record does not decode.
  // `now` is the node's wall clock (node_config::clock): token expiry and
  // the time a seeded key is recorded as added are read from it.
  static expected<std::shared_ptr<trust_book>, std::string> load(const persistence::store& st,
                                                                 const std::vector<auth::trust_entry>& seed,
                                                                 persistence::write_batch& seed_batch,
                                                                 auth::static_trust_policy::clock now);
  explicit trust_book(auth::static_trust_policy::clock now) : policy_(std::move(now)) {}

  auth::decision check_peer(const public_key& peer, const std::optional<std::string>& token) override;
  // What using the token for key would trust; nullopt if it cannot be used.
  std::optional<auth::trust_entry> token_grant(const hash256& token_hash, const public_key& key) const;

  // After the matching commit.
  void trusted(const auth::trust_entry& e);
  void token_added(const hash256& token_hash, const auth::token_record& r);
  void token_removed(const hash256& token_hash);

  std::optional<auth::trust_entry> find(const public_key& key) const;
  std::vector<auth::trust_entry> entries() const;
  std::vector<std::pair<hash256, auth::token_record>> tokens() const;

 private:
  mutable std::mutex mu_;
  auth::static_trust_policy policy_;
};

}  // namespace starling::actors
