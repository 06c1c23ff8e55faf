// The sync protocol of one authenticated peer connection, as a pure state
// machine: the peer-session actor feeds it events and carries out what it
// returns (frames to send, batches to apply, fan-out subscriptions).
//
// Per document:
//  1. Each side sends `frontier{doc, F}` for every document the peer may read
//     or write: it announces the document and asks for what it lacks. A
//     reader must hear of every document it may read, or it never asks.
//  2. On the peer's frontier, if the peer may read the document, this side
//     subscribes to the document's live changes, and only once the caller
//     confirms the subscription (on_subscribed) reads the delta: a change
//     committed before that is in the store, one committed after reaches the
//     subscription, so none falls in between. It sends every change the peer lacks in causal
//     order, in batch frames of at most max_batch_bytes, then `ready{doc}`.
//     If the peer may not read it: `error{forbidden, doc}` (the connection
//     stays up). A document first heard of this way is announced back when
//     the peer may write it, so that its changes come in.
//  3. Live changes committed here are held back while the delta is being
//     sent and until the peer's `ready` (when we asked for its changes), then
//     flushed in order, then streamed as they come.
//  4. Changes from the peer are applied only if the peer may write the
//     document; otherwise they are dropped and the first such batch per
//     document gets `error{forbidden, doc}`; the session stays up (an honest
//     reader that wrote locally answers our frontier with its changes). A
//     batch for a document this session never heard of: `error{forbidden}`
//     and close. A frame that does not decode: `error` with its code and
//     close.
//  5. `lagged` (the fan-out detached us, the connection could not take a
//     live batch, or too many changes were held back): resume over the same
//     connection by a delta from what the peer is known to have (its
//     frontier plus everything sent to or received from it since). One lag
//     episode lasts until the document is live again, however many batches
//     it skips; a peer with more than max_lags episodes within lag_window
//     is disconnected with `error{lagged}`.
//  6. resync: changes from the peer that were refused for a reason the peer
//     can mend (a gap, a full pending set) or lost (the document owner
//     restarted before committing them) are asked for again by announcing
//     our frontier once more; the peer answers with the delta. At most
//     max_resyncs per document within lag_window.
//
// Threading: not thread-safe; one owner (the session actor). The sync_source
// callbacks are made synchronously from within the calls.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crdt/change.hpp"
#include "protocol/control.hpp"
#include "protocol/errors.hpp"
#include "protocol/limits.hpp"

namespace starling::protocol {

struct peer_sync_config {
  std::size_t max_batch_bytes = 1u << 20;  // per change batch frame sent
  std::size_t max_held_changes = 65536;    // live changes held back per document during catch-up
  int max_lags = 3;                        // lagged events tolerated within lag_window
  std::chrono::milliseconds lag_window{60'000};
  int max_resyncs = 10;                    // re-requests of the peer's delta per document within lag_window
  protocol_limits limits;
};

// Reads a delta page by page (a store cursor).
class delta_cursor {
 public:
  virtual ~delta_cursor() = default;
  struct page {
    std::vector<bytes> changes;  // signed encodings, causal order
    bool more = false;
    bool behind_horizon = false;  // the peer needs a snapshot first
  };
  virtual page next(std::size_t max_bytes) = 0;
};

// What the node knows and allows, asked synchronously.
class sync_source {
 public:
  virtual ~sync_source() = default;
  virtual bool peer_may_read(const std::string& doc) const = 0;
  virtual bool peer_may_write(const std::string& doc) const = 0;
  virtual frontier our_frontier(const std::string& doc) = 0;
  virtual std::unique_ptr<delta_cursor> open_delta(const std::string& doc, const frontier& theirs) = 0;
};

// What the caller must do after a call, in order.
struct sync_output {
  struct frame {
    bool binary = false;
    std::string data;
  };
  std::vector<frame> frames;
  std::vector<std::pair<std::string, std::vector<crdt::change>>> apply;  // to the doc owners
  std::vector<std::string> subscribe;    // to the document's fan-out
  std::vector<std::string> unsubscribe;
  std::optional<protocol_error> close;   // after sending `frames` (the last is the error)
  std::size_t bytes_out() const;
};

class peer_sync {
 public:
  using clock = std::chrono::steady_clock;
  peer_sync(sync_source& src, peer_sync_config cfg = {});

  // Announces our documents.
  void start(const std::vector<std::string>& our_docs, sync_output& out);
  // A document created here after start.
  void on_new_doc(const std::string& doc, sync_output& out);
  // Frames from the peer (already unsealed).
  void on_text(std::string_view text, sync_output& out);
  void on_binary(std::string_view data, sync_output& out);
  // The doc owner refused changes from this peer (bad signature, broken
  // chain, invalid op): the peer is faulty; close.
  void on_refused(const std::string& doc, const std::string& reason, sync_output& out);
  // The fan-out subscription asked for in sync_output::subscribe is in place.
  void on_subscribed(const std::string& doc, sync_output& out);
  // Committed changes from the fan-out; and the fan-out detaching us.
  void on_live(const std::string& doc, const std::vector<bytes>& changes, sync_output& out);
  // Returns whether this began a new lag episode (a lag to count).
  bool on_lagged(const std::string& doc, clock::time_point now, sync_output& out);
  // The document's owner restarted: its fan-out (and our subscription) is
  // gone, and changes it acknowledged may not have been committed.
  // Subscribes again, resumes by delta, and asks for the peer's delta; not
  // a lag.
  void on_owner_restart(const std::string& doc, clock::time_point now, sync_output& out);
  // Asks the peer again for what we lack of doc (see 6.); false when the
  // peer may not write it, one is under way, or the bound is reached.
  bool resync(const std::string& doc, clock::time_point now, sync_output& out);
  // Sends more of the pending deltas, up to about max_bytes (flow control:
  // the caller calls it while the connection has room).
  void pump(std::size_t max_bytes, sync_output& out);

  bool closed() const { return closed_; }
  bool delta_pending() const;
  // Live changes held back for the peer (it has not sent `ready` yet).
  std::size_t held_changes() const;
  // The peer's ready arrived for doc and our delta is out: live from here.
  bool live(const std::string& doc) const;
  const frontier* peer_known(const std::string& doc) const;
  // The documents this session has heard of or announced.
  std::vector<std::string> documents() const;

  struct stats {
    std::uint64_t changes_sent = 0, changes_received = 0, frames_sent = 0, frames_received = 0;
    std::uint64_t lag_episodes = 0;      // begun (see 5.)
    std::uint64_t forbidden_batches = 0; // dropped: the peer may not write the document
    std::uint64_t resyncs = 0;           // deltas asked for again (see 6.)
  };
  const stats& counters() const { return stats_; }

 private:
  struct doc_state {
    bool announced = false;   // we sent our frontier
    bool peer_ready = false;  // the peer finished its delta to us
    bool serving = false;     // we owe the peer a delta
    bool served = false;      // our delta and ready are out
    bool subscribed = false;
    bool subscribing = false;  // asked for, not confirmed yet
    bool lagging = false;      // in a lag episode: not live since it began
    bool refused_forbidden = false;  // the peer was told it may not write this document
    bool resyncing = false;    // our frontier went out again; the peer's ready ends it
    std::deque<clock::time_point> resyncs;
    frontier peer_known;
    std::unique_ptr<delta_cursor> cursor;
    std::deque<bytes> held;
  };
  doc_state& doc(const std::string& name) { return docs_[name]; }
  void announce(const std::string& name, sync_output& out);
  void serve(const std::string& name, sync_output& out);
  void send_changes(const std::string& name, const std::vector<bytes>& changes, sync_output& out);
  void maybe_go_live(const std::string& name, sync_output& out);
  void fail(protocol_error e, std::optional<std::string> doc, sync_output& out);
  static void note(frontier& f, const crdt::change& c);

  sync_source& src_;
  peer_sync_config cfg_;
  std::map<std::string, doc_state> docs_;
  std::deque<clock::time_point> lags_;
  bool closed_ = false;
  stats stats_;
};

}  // namespace starling::protocol
