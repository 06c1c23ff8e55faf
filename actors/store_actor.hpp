// The store actor: the single LMDB writer of a data directory.
//
// LMDB allows one write transaction per environment, so every write of the
// node goes through this actor, which runs on its own thread (spawned
// `detached`) and is the only caller of persistence::store::commit. Readers
// do not go through it: any actor may call the store's const functions
// directly (read-only transactions), through the shared store pointer.
//
// Group commit: a commit request is queued and a `flush` is sent to self;
// that flush arrives after every commit already in the mailbox, so one LMDB
// transaction (and one fsync) carries all of them. Each requester gets its
// reply after that transaction committed. Batches that must stay atomic on
// their own (token consumption, compaction) are committed alone; if a
// grouped commit fails, its batches are retried one by one so one bad batch
// fails only its own request.
#pragma once

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include <memory>

#include "actors/messages.hpp"
#include "actors/metrics.hpp"

namespace starling::actors {

using store_actor = caf::typed_actor<
    caf::replies_to<commit_atom, persistence::write_batch>::with<persistence::commit_result>,
    caf::reacts_to<flush_atom>>;

struct store_limits {
  std::size_t max_group_changes = 100'000;  // changes per grouped transaction
};

// Spawns the writer for an open store (shared with readers).
// `metrics` (may be null) gets the commit latency of every transaction.
store_actor spawn_store_actor(caf::actor_system& sys, std::shared_ptr<persistence::store> st,
                              store_limits limits = {}, std::shared_ptr<node_metrics> metrics = nullptr);

}  // namespace starling::actors
