// A peer connection's actor: the authentication handshake, then the sealed
// sync session, over one WebSocket connection from net/.
//
// The protocol work is done by two pure state machines: protocol::handshake
// (hello/auth, trust and token checks, key exchange) and protocol::peer_sync
// (frontier exchange, delta, ready, hold-back, live stream, lag recovery).
// This actor only wires them to the connection, the document owners and the
// fan-outs: it unseals incoming frames, seals outgoing ones, sends remote
// batches to the owners, subscribes to fan-outs and acknowledges what it
// handed to the connection. Decision: the handshake and the session share
// one actor (two phases) instead of handing the connection between two
// actors, so no frame can arrive at an actor that does not own it yet.
#pragma once

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include <functional>
#include <memory>

#include "actors/config.hpp"
#include "actors/doc_owner.hpp"
#include "actors/fanout.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/owner_cache.hpp"
#include "actors/trust_book.hpp"
#include "auth/identity.hpp"

namespace starling::net {
class ws_connection;
class connection_handler;
}  // namespace starling::net

namespace starling::actors {

using frame_atom = caf::atom_constant<caf::atom("frame")>;
using closed_atom = caf::atom_constant<caf::atom("closed")>;
using timeout_atom = caf::atom_constant<caf::atom("timeout")>;
using pump_atom = caf::atom_constant<caf::atom("pump")>;
using opened_atom = caf::atom_constant<caf::atom("opened")>;
using register_atom = caf::atom_constant<caf::atom("register")>;  // a new link, to the node
using retry_atom = caf::atom_constant<caf::atom("retry")>;        // reach a document's owner again

using connection_ptr = std::shared_ptr<net::ws_connection>;

// What a link needs from its node: a document's owner, the documents, and
// the use of a join token (committed by the node before the session starts).
using doc_resolver = caf::typed_actor<caf::replies_to<doc_atom, std::string>::with<doc_owner_actor>,
                                      caf::replies_to<docs_atom>::with<std::vector<std::string>>,
                                      caf::replies_to<join_atom, hash256, public_key>::with<bool>>;

using link_actor = subscriber_actor::extend<
    caf::reacts_to<opened_atom, connection_ptr>,
    caf::reacts_to<frame_atom, bool, std::string>,
    caf::reacts_to<closed_atom, std::uint16_t, std::string, bool>,  // code, reason, closed by us
    caf::reacts_to<timeout_atom>,
    caf::reacts_to<pump_atom>,
    caf::reacts_to<retry_atom, std::string>,
    caf::reacts_to<doc_atom, std::string>,
    caf::replies_to<status_atom>::with<peer_status>,
    caf::reacts_to<revoke_atom, public_key>,  // closes the session if it is this key's
    caf::reacts_to<stop_atom>>;

// What every link of a node shares.
struct link_context {
  std::shared_ptr<persistence::store> store;
  std::shared_ptr<auth::identity> id;
  std::shared_ptr<trust_book> trust;
  std::shared_ptr<node_metrics> metrics = std::make_shared<node_metrics>();
  std::shared_ptr<log_limiter> log_limit = std::make_shared<log_limiter>();
  std::shared_ptr<subscriber_ids> ids = std::make_shared<subscriber_ids>();  // the node's, for every subscriber
  node_config cfg;
  std::size_t send_queue_limit = 16u << 20;  // the connection's (net::settings)
};

// A connection handler that forwards net events to a link actor.
std::shared_ptr<net::connection_handler> make_bridge(const link_actor& target);

// Spawns a link; it starts when the connection opens. `join_token` is
// presented in our hello (the dialing side of a new node).
link_actor spawn_link(caf::actor_system& sys, std::shared_ptr<link_context> ctx, doc_resolver node,
                      std::optional<std::string> join_token);

}  // namespace starling::actors
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::connection_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::link_actor)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<starling::actors::link_actor>)
