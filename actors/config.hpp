// Every tunable of a node, with its default, in one place. Plain data.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <optional>
#include <vector>

#include "auth/trust.hpp"
#include "core/clock.hpp"
#include "crdt/document.hpp"
#include "net/settings.hpp"
#include "persistence/store.hpp"
#include "protocol/peer_sync.hpp"

namespace starling::actors {

// The dialer's reconnect schedule: a random delay in
// [0, min(max_backoff, base_backoff * 2^(failures-1))] (full jitter).
struct dialer_settings {
  std::chrono::milliseconds base_backoff{1000};
  std::chrono::milliseconds max_backoff{30'000};
  int error_after = 10;  // consecutive failures before logging at ERROR
  // A link that stayed up this long was a good connection: the backoff
  // starts over after it ends.
  std::chrono::milliseconds good_connection{10'000};
};

// The scheduler of the actor system a node runs in, when the node makes
// its own (the embedding facade, the `starling` binary). An idle worker
// spins briefly, then polls its queue every `poll_interval` for
// `poll_attempts` rounds, then sleeps until work is handed to it.
// The actor library's default is 500 rounds (25 ms of 50 µs naps after
// every burst of work): at 1 k writes/s workers never sleep, and nine nodes
// on 2 cores spent their time waking each other (bench_sync: p99 70 ms at 8
// peers against 12 ms without the rounds, and no loss in catch-up).
struct scheduler_settings {
  std::size_t threads = 0;  // worker threads; 0: one per core, at least 4
  std::size_t poll_attempts = 0;
  std::chrono::microseconds poll_interval{50};
};

// Pacing and internal timeouts of the node's actors: named here so that
// none hides as a literal; tests shorten them.
struct actor_timings {
  // A dialer, link or owner asked for its status by the node.
  std::chrono::milliseconds status_timeout{5'000};
  // A session closing because the node stops waits this long for the close
  // handshake before it ends anyway.
  std::chrono::milliseconds close_timeout{2'000};
  // A session sending a delta checks its send queue this often.
  std::chrono::milliseconds pump_interval{5};
  // Remote changes of one document gathered into one apply (and one
  // commit); also at most half the fan-out backlog, so that publishing the
  // result never detaches local subscribers.
  std::size_t max_apply_changes = 8192;
  // The embedding facade waits this long past request_timeout for a write's
  // own timeout reply before it gives up.
  std::chrono::milliseconds reply_grace{5'000};
};

struct node_config {
  std::string data_dir;  // required: the LMDB environment and the key file live here
  persistence::store_options store;     // durability (default sync), map size
  crdt::document_limits document;       // pending set, op and value limits

  // Fan-out: backlog one subscriber may have in flight before it is
  // detached with `lagged`.
  std::size_t subscriber_max_changes = 10'000;
  std::size_t subscriber_max_bytes = 16u << 20;

  // Group commit: at most this many changes in one store transaction.
  std::size_t max_commit_changes = 100'000;
  // Remote changes a document may hold applied but not yet committed; below
  // it a session's next batch applies while the previous one commits.
  std::size_t max_uncommitted_changes = 65'536;

  // Peers. The sync listener binds net.listen_address:listen_port (127.0.0.1
  // and an ephemeral port by default) when `listen` is set; every URL in
  // `peers` gets a dialer. `trusted` lists the keys accepted, with their
  // permissions; `join_token` is presented when dialing (a new node).
  bool listen = false;
  net::settings net;
  std::vector<std::string> peers;
  std::vector<auth::trust_entry> trusted;
  std::optional<std::string> join_token;
  dialer_settings dialer;
  // Time a new connection has to complete the hello/auth handshake.
  std::chrono::milliseconds auth_timeout{10'000};
  // Per-session sync: batch size, catch-up hold-back, lag tolerance.
  protocol::peer_sync_config sync;

  // Document owners as sessions, event streams and the embedding facade
  // find them through the node: how long a lookup may take, and how often
  // (and how far apart) a failed lookup or a request to an owner that died
  // is retried before a peer session ends with `internal`.
  std::chrono::milliseconds owner_lookup_timeout{30'000};
  int owner_retries = 5;
  std::chrono::milliseconds owner_retry_delay{200};

  scheduler_settings scheduler;
  actor_timings timings;

  // Supervision: a child that fails more often than this within the window
  // is not restarted again and the node stops (something is badly wrong).
  int max_restarts = 5;
  std::chrono::seconds restart_window{60};

  // Time and non-security randomness (core/clock.hpp): the system clock and
  // a seed drawn at start by default; tests and the simulator inject a
  // manual clock and a fixed seed. The node logs the seed it uses.
  time_source clock = time_source::system();
  std::uint64_t seed = 0;  // 0: drawn from the operating system at spawn
};

}  // namespace starling::actors
