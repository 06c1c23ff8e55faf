// What a node reports about itself: its documents, peer sessions, dialers
// and session counters. One node_status is gathered by the node actor in
// answer to one `status` request, and the HTTP API (`/v1/status`,
// `/metrics`, the status page) and the embedding facade (node::status) all
// show that same answer. Plain data, no actor library: the embedding
// facade's public header includes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "crdt/types.hpp"

namespace starling::actors {

struct doc_status {
  std::string name;
  frontier at;
  std::size_t changes = 0;
  std::size_t pending = 0;
  std::size_t forks = 0;
  std::size_t subscribers = 0;
  std::string digest;  // hex
};

// One peer connection, as its link sees it.
struct peer_status {
  std::string peer_id;   // hex; empty before authentication
  std::string state;     // "handshake", "syncing", "live", "closing"
  std::uint64_t changes_sent = 0;
  std::uint64_t changes_received = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::string address;         // the peer's "address:port"
  bool dialed = false;         // we dialed it (else it dialed us)
  std::uint64_t lag_changes = 0;  // live changes held back for it
  double lag_seconds = 0;         // time since it was last caught up (0 when it is)
  std::uint64_t queued_bytes = 0; // in its send queue
  // Catch-up from this peer: changes it has (per the frontiers it sent)
  // that this node lacks; 0 when caught up.
  std::uint64_t behind_changes = 0;
};

struct dialer_status {
  std::string url;
  // "connecting", "connected", "waiting", or "refused: <code>: <reason>"
  // (stopped until re-armed)
  std::string state;
  std::uint64_t attempts = 0;
  std::uint64_t consecutive_failures = 0;
  std::string last_error;
  std::chrono::milliseconds next_retry_in{0};
};

struct node_status {
  std::string node_id;
  std::vector<doc_status> documents;  // by name
  std::vector<peer_status> peers;
  std::vector<dialer_status> dialers;
  // Sessions this node closed because of the peer's error, by error wire
  // name ("bad_change", "untrusted", ...); and sessions peers closed on us.
  std::map<std::string, std::uint64_t> peer_errors;
  std::map<std::string, std::uint64_t> errors_from_peers;
  std::uint64_t sessions_opened = 0, sessions_authenticated = 0;
  std::uint64_t lag_events = 0;  // sessions that fell behind and resumed by delta (once per episode)
  // Document owners that failed (a commit) and were restarted, and the
  // subscriptions of peer sessions that followed them to the new owner.
  std::uint64_t owner_failures = 0, owner_resubscribes = 0;
};

}  // namespace starling::actors
