// The node actor: supervises one node's actors. It opens the store, spawns
// the store writer, maps a document name to its owner (spawned on first use,
// loaded from LMDB), monitors the owners and restarts a failed one on the
// next request, and shuts everything down on `stop`.
#pragma once

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include <memory>
#include <string>
#include <vector>

#include "actors/config.hpp"
#include "actors/dialer.hpp"
#include "actors/doc_owner.hpp"
#include "actors/owner_cache.hpp"
#include "actors/peer_link.hpp"
#include "crdt/expected.hpp"

namespace starling::net {
class listener;
}

namespace starling::actors {

using listening_atom = caf::atom_constant<caf::atom("listening")>;
using listener_ptr = std::shared_ptr<net::listener>;

using node_actor = caf::typed_actor<
    caf::replies_to<doc_atom, std::string>::with<doc_owner_actor>,
    caf::replies_to<docs_atom>::with<std::vector<std::string>>,
    caf::reacts_to<register_atom, link_actor>,  // a link, told about new documents
    caf::reacts_to<dial_atom, std::string>,     // add a peer URL (or re-arm its refused dialer)
    // The sync listener, handed over once by spawn_node: the node owns it
    // from then on (stops it on shutdown); nobody else touches it.
    caf::reacts_to<listening_atom, listener_ptr>,
    caf::replies_to<peers_atom>::with<std::vector<link_actor>>,  // the live links
    caf::replies_to<join_atom, hash256, public_key>::with<bool>,  // a link uses a join token
    // Trust management: each reply comes after the change is committed.
    caf::replies_to<trust_atom, auth::trust_entry>::with<bool>,  // true: added, false: replaced
    caf::replies_to<revoke_atom, public_key>::with<bool>,        // false: not a trusted key
    caf::replies_to<token_atom, auth::token_record>::with<std::string>,  // the token text
    caf::replies_to<untoken_atom, hash256>::with<bool>,          // false: no such unused token
    caf::replies_to<trusted_atom>::with<std::vector<auth::trust_entry>>,
    caf::replies_to<tokens_atom>::with<token_list>,
    // The node's report: every document (loaded if needed), session and
    // dialer, and the session counters, gathered once for every caller.
    // false: without documents (cheap: peers and dialers only).
    caf::replies_to<status_atom, bool>::with<node_status>,
    caf::reacts_to<stop_atom>>;

struct node_info {
  node_actor handle;
  std::string node_id;     // lowercase hex public key
  std::uint16_t port = 0;  // the sync listener's port, 0 if not listening
  std::shared_ptr<const node_metrics> metrics;  // the node's session counters
  std::shared_ptr<persistence::store> store;    // for reads (any thread); writes go through the node
  std::shared_ptr<subscriber_ids> ids;          // every subscriber of this node's owners takes its id here
};

// Opens the data directory (creating it, the store and the node key if
// needed) and spawns the node inside `sys`. Errors name what failed.
expected<node_info, std::string> spawn_node(caf::actor_system& sys, const node_config& cfg);

}  // namespace starling::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::listener_ptr)
