// The document owner: one actor per document, the only one that touches its
// CRDT state. It validates and applies local writes and remote batches, has
// the applied changes committed by the store actor, replies and publishes to
// the fan-out only after the commit, and answers reads and frontiers.
//
// Group commit: while one commit of this document is in flight, new changes
// queue and go together in the next one. A failed commit leaves the
// in-memory state ahead of the disk, so the owner then fails all waiting
// requests and exits with an error; the node restarts it from the store.
#pragma once

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include <memory>

#include "actors/config.hpp"
#include "actors/doc_loader.hpp"
#include "actors/fanout.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/store_actor.hpp"

namespace starling::actors {

using doc_owner_actor = caf::typed_actor<
    caf::replies_to<write_atom, write_request>::with<write_ack>,
    caf::replies_to<apply_atom, remote_batch>::with<apply_ack>,
    caf::replies_to<read_atom, std::string>::with<read_reply>,
    caf::replies_to<frontier_atom>::with<frontier>,
    caf::replies_to<status_atom>::with<doc_status>,
    // Replies once the fan-out has the subscriber: every change committed
    // after the reply reaches it.
    caf::replies_to<subscribe_atom, subscriber_id, subscriber_actor>::with<bool>,
    caf::reacts_to<unsubscribe_atom, subscriber_id>,
    caf::reacts_to<ack_atom, subscriber_id, std::uint64_t, std::uint64_t>>;

struct doc_owner_deps {
  std::shared_ptr<persistence::store> store;  // reads
  store_actor writer;                          // writes
  const crypto::keypair* author = nullptr;     // signs local writes (owned by the node)
  std::shared_ptr<node_metrics> metrics;       // may be null
};

// Spawns the owner of `doc` with its state as the loader read it.
doc_owner_actor spawn_doc_owner(caf::actor_system& sys, std::string doc, loaded_document state,
                                doc_owner_deps deps, const node_config& cfg);

}  // namespace starling::actors
