// Every atom and message type that actors exchange, in one place.
//
// Messages stay inside one process (peers talk over WebSocket, not CAF
// networking), so they are marked as local-only types rather than given
// serialisers. Large payloads shared by many receivers (a published batch
// going to every subscriber) travel as shared_ptr<const ...> so that a
// broadcast never copies the bytes.
#pragma once

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/timespan.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crdt/change.hpp"
#include "crdt/document.hpp"
#include "crdt/types.hpp"
#include "auth/token.hpp"
#include "auth/trust.hpp"
#include "persistence/store.hpp"
#include "actors/status.hpp"

namespace starling::actors {

// -- atoms ----------------------------------------------------------------
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using write_atom = caf::atom_constant<caf::atom("write")>;
using apply_atom = caf::atom_constant<caf::atom("apply")>;
using read_atom = caf::atom_constant<caf::atom("read")>;
using frontier_atom = caf::atom_constant<caf::atom("frontier")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("unsub")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using live_atom = caf::atom_constant<caf::atom("live")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using lagged_atom = caf::atom_constant<caf::atom("lagged")>;
using doc_atom = caf::atom_constant<caf::atom("doc")>;
using docs_atom = caf::atom_constant<caf::atom("docs")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using join_atom = caf::atom_constant<caf::atom("join")>;        // use a join token
using trust_atom = caf::atom_constant<caf::atom("trust")>;      // add or replace a trusted key
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;    // revoke a key, close its sessions
using token_atom = caf::atom_constant<caf::atom("token")>;      // issue a join token
using trusted_atom = caf::atom_constant<caf::atom("trusted")>;  // list trusted keys
using tokens_atom = caf::atom_constant<caf::atom("tokens")>;    // list unused tokens
using untoken_atom = caf::atom_constant<caf::atom("untoken")>;  // withdraw a token

// -- payloads -------------------------------------------------------------
using subscriber_id = std::uint64_t;
using token_list = std::vector<std::pair<hash256, auth::token_record>>;  // unused join tokens, by hash  // 0: a local writer, never a subscriber

// A local write: one batch of mutations becomes one change.
struct write_request {
  std::vector<crdt::mutation> mutations;
};
struct write_ack {
  hash256 hash;
  frontier at;  // the document's frontier after the change
};
// A write that its caller does not wait for: the reply goes to `done` (on a
// scheduler thread; exactly one of the pointers is set).
struct async_write {
  std::string doc;
  write_request req;
  caf::timespan timeout;
  std::function<void(const write_ack*, const std::string* error)> done;
};

// Changes received from a peer, to validate and apply.
struct remote_batch {
  std::vector<crdt::change> changes;
  subscriber_id origin = 0;  // the session it came from: not echoed back to it
};
struct apply_ack {
  std::size_t applied = 0;  // includes changes released from pending
  std::size_t duplicates = 0;
  std::size_t pending = 0;
  std::size_t refused = 0;
  std::string first_refusal;  // reason and message of the first refusal
  // The first refusal's reason and the author of that change: whether the
  // sender is to blame depends on both (see peer_link).
  std::optional<crdt::refusal> first_reason;
  public_key first_author;
};

struct read_reply {
  bool found = false;
  std::string json;  // the sub-tree at the pointer, serialised
};

// Applied, committed changes of one document, in application order.
struct change_set {
  std::string doc;
  std::vector<bytes> changes;  // signed encodings
  // Each change's index in this node's log of the document (store log_end
  // order); empty for fork evidence.
  std::vector<std::uint64_t> log_index;
  std::size_t total_bytes = 0;
  // The two changes of a fork proof, not applied: sent to peers so that
  // they detect the equivocation too; local subscribers skip it.
  bool fork_evidence = false;
};
using change_set_ptr = std::shared_ptr<const change_set>;



}  // namespace starling::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::peer_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::node_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::write_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::write_ack)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::async_write)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::remote_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::apply_ack)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::read_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::change_set_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::doc_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::frontier)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::public_key)  // also hash256: the same type
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::auth::trust_entry)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::auth::token_record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<starling::auth::trust_entry>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::token_list)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::persistence::write_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::persistence::commit_result)
