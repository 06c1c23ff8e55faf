// Internal to the peer link (peer_link.cpp: the actor, its handshake and
// frames; peer_link_session.cpp: what the session does with the document
// owners, the fan-outs and the connection's send queue). Not for other
// code: use peer_link.hpp.
//
// Threading: everything here runs inside the link actor.
#pragma once

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/log.hpp"
#include "actors/owner_cache.hpp"
#include "actors/peer_link.hpp"
#include "actors/session_source.hpp"
#include "auth/channel.hpp"
#include "protocol/handshake.hpp"
#include "protocol/peer_sync.hpp"

namespace starling::actors::link_detail {

struct link_state {
  static inline const char* name = "peer_link";
  std::shared_ptr<link_context> ctx;
  doc_resolver node;
  connection_ptr conn;
  std::optional<protocol::handshake> hs;
  // Session phase.
  std::optional<auth::sealed_channel> channel;
  std::unique_ptr<session_source> source;
  std::unique_ptr<protocol::peer_sync> sync;
  public_key peer;
  subscriber_id id = 0;
  owner_cache owners;
  // Per document: batches waiting for the owner (one apply in flight each,
  // so a peer's changes are applied in the order it sent them).
  std::map<std::string, std::deque<std::vector<crdt::change>>> to_apply;
  std::map<std::string, bool> applying;
  // Per document: consecutive failures to reach its owner, and what to do
  // again once owner_retry_delay has passed.
  std::map<std::string, int> owner_failures;
  std::map<std::string, std::vector<std::function<void()>>> retries;
  // Frames the connection could not take yet, in order (sealed only when
  // handed over, so the sealed stream stays in step).
  std::deque<std::pair<bool, std::string>> outbox;
  std::size_t outbox_bytes = 0;
  protocol::peer_sync::stats counted_stats;  // what of the session's counters is in the node's metrics
  bool pump_scheduled = false;
  bool closing = false;
  bool counted = false;  // the session's error is counted (closed_atom must not count it again)
  // Using a join token: the session starts once the node has committed it;
  // frames that arrive meanwhile wait here.
  bool joining = false;
  std::vector<std::pair<bool, std::string>> held_frames;
  // Lag: when the peer stopped being caught up (nothing to send, nothing
  // held back); unset while it is.
  std::optional<std::chrono::steady_clock::time_point> behind_since;
  // Documents the node opened before the session started: announced at start.
  std::vector<std::string> early_docs;
  // The handshake ended with a refusal that waiting cannot change ("code:
  // reason"): the link ends with errc::refused so that its dialer stops.
  std::optional<std::string> refusal;
};

using self_ptr = link_actor::stateful_pointer<link_state>;

void say(self_ptr self, log::level l, const std::string& msg);
// The session ends because of the peer's error: counted and logged (limited).
void count_error(self_ptr self, protocol::errc code, const std::string& detail);
void close_with(self_ptr self, std::uint16_t code, const std::string& reason);
// Hands a frame to the connection (sealed once the session is up), or
// keeps it in the outbox until the connection can take it.
void send_frame(self_ptr self, bool binary, const std::string& data);
// Carries out what peer_sync asked for.
void process(self_ptr self, protocol::sync_output& out);
// Sends more of the pending deltas while the connection has room.
void pump(self_ptr self);
void note_lag(self_ptr self);
void on_owner_down(self_ptr self, const std::string& doc);

}  // namespace starling::actors::link_detail
