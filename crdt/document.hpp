// A replicated JSON document: the CRDT state owner's pure core.
//
// It applies signed changes (local or remote) in causal order, holds changes
// whose dependencies are missing in a bounded pending set, detects
// equivocation and quarantines the author deterministically, and builds local
// changes from JSON-Pointer mutations.
//
// Threading: not thread-safe. One owner (in the runtime, the doc_owner actor)
// calls everything; no call blocks or does I/O.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/change.hpp"
#include "crdt/hlc.hpp"
#include "crdt/state.hpp"

namespace starling::crdt {

struct document_limits {
  std::size_t max_pending = 1 << 16;        // dependency-blocked changes held
  std::size_t max_ops_per_change = 1 << 16;  // ops a local mutation batch may expand to
  std::size_t max_value_depth = 64;          // nesting of a JSON value written locally
  change_limits codec;                       // bounds for decoding and building
  // Keep every applied change (encoded) in memory. Rebuilding after a fork
  // proof and showing fork evidence need the encodings; without the log, a
  // document keeps only those not yet durable (durable_through) and reads
  // the rest from its change_log. The runtime keeps them in the store.
  bool retain_log = true;
};

// Where a document that does not retain its log reads the encodings of the
// changes it applied and were made durable. Called on the document owner's
// thread, from within apply calls (rarely: fork evidence and rebuilds).
class change_log {
 public:
  virtual ~change_log() = default;
  // The signed encoding of the durable change (author, seq), if there is one.
  virtual std::optional<bytes> encoding(const public_key& author, std::uint64_t seq) const = 0;
  // Calls `each` with every durable change in application order; false if
  // the log could not be read.
  virtual bool replay(const std::function<void(byte_view)>& each) const = 0;
};

// Why a change was refused. Stable names (to_string) for metrics and errors.
enum class refusal {
  bad_signature = 1,       // signature invalid for the claimed author
  broken_chain,            // prev is not the hash of the author's change seq-1
  chain_gap,               // a batch skips a seq inside one author's run
  bad_time,                // time not after prev, a dep or a referenced change
  invalid_op,              // op ill-formed against its causal state
  wrong_doc,               // change names another document
  quarantined,             // author equivocated at or before this seq
  refused_dependency,      // depends on a change refused for good (or quarantined)
  pending_full,            // dependency-blocked and the pending set is full
};
const char* to_string(refusal r);

enum class apply_status { applied, duplicate, pending, refused };

// Two validly signed changes with the same (author, seq) and different
// hashes. `a.hash < b.hash`, so a proof for the same pair is identical
// everywhere.
struct fork_proof {
  public_key author;
  std::uint64_t seq = 0;
  bytes a, b;  // signed encodings
};

struct change_outcome {
  hash256 hash;
  apply_status status = apply_status::applied;
  std::optional<refusal> reason;
  std::string message;
};

struct apply_report {
  std::vector<change_outcome> outcomes;  // one per input change, in input order
  // Every change that became applied during the call, in application order
  // (a causal order): the input ones and any released from pending. This is
  // what the caller persists and broadcasts.
  std::vector<hash256> applied;
  // Parallel to `applied`: what storing and relaying each change needs.
  struct applied_change {
    public_key author;
    std::uint64_t seq = 0;
    bytes encoded;  // signed encoding
  };
  std::vector<applied_change> applied_changes;
  // Changes reported `pending` earlier (in this or an earlier call) that were
  // refused once what they waited for became known.
  std::vector<change_outcome> late_refusals;
  std::vector<fork_proof> new_forks;
  std::size_t signatures_checked = 0;
  bool rebuilt = false;  // a fork proof removed applied changes from the state
};

// A JSON-Pointer mutation from a local writer.
struct mutation {
  enum class kind { set, del, ins, rm, inc };
  kind k = kind::set;
  std::string path;      // JSON Pointer (RFC 6901); "-" as the last list token appends
  nlohmann::json value;  // set, ins: any JSON; inc: an integer
};
// Parses {"op": "set", "path": "/a", "value": 1}; errors name the field.
expected<mutation, std::string> parse_mutation(const nlohmann::json& j);

struct mutation_error {
  std::size_t index = 0;  // which mutation of the batch
  std::string path;
  std::string message;
};

class document {
 public:
  explicit document(std::string name, document_limits limits = {});
  document(document&&) noexcept;
  document& operator=(document&&) noexcept;
  ~document();

  const std::string& name() const { return name_; }
  const document_limits& limits() const { return limits_; }

  // -- remote changes ----------------------------------------------------
  // Single-change path: checks this change's own signature.
  apply_report apply(change c);
  // Amortised path: per author, checks every hash-chain link inside the
  // batch and the signature of only the newest change of each linked run.
  apply_report apply_batch(std::vector<change> batch);
  // A fork proof received from a peer: verified, then handled as if both
  // changes had arrived here.
  apply_report apply_fork_proof(const fork_proof& proof);

  // -- local changes -----------------------------------------------------
  // Builds one signed change from a batch of mutations against the current
  // state and applies it. On any error the document is unchanged.
  expected<change, mutation_error> make_change(const std::vector<mutation>& batch,
                                               const crypto::keypair& author,
                                               std::uint64_t wall_ms);

  // -- the log without retain_log -----------------------------------------
  void set_change_log(std::shared_ptr<const change_log> log) { change_log_ = std::move(log); }
  // Changes applied so far by this document object (a running count, also
  // across rebuilds): a mark for durable_through.
  std::uint64_t applied_total() const { return applied_total_; }
  // The first `mark` applied changes are durable in the change_log: their
  // encodings need not be kept here any more.
  void durable_through(std::uint64_t mark);
  std::size_t undurable_count() const { return undurable_.size(); }

  // -- reads -------------------------------------------------------------
  nlohmann::json state() const;
  // The sub-tree at a JSON Pointer; nullopt if the path does not exist.
  std::optional<nlohmann::json> read(std::string_view pointer) const;
  // BLAKE2b-256 of state().dump(): equal on replicas with equal state.
  // Serialising the whole state is costly and every status request and
  // metrics scrape asks, so the digest is kept until the state changes.
  hash256 digest() const;
  const frontier& current_frontier() const { return frontier_; }
  // Changes no applied change depends on: the deps of the next local change.
  std::vector<hash256> heads() const { return {heads_.begin(), heads_.end()}; }
  bool has_change(const hash256& h) const;
  std::size_t change_count() const { return state_.changes.size(); }
  std::size_t pending_count() const { return pending_.size(); }
  const std::vector<fork_proof>& forks() const { return forks_; }
  // Quarantined authors and the first seq refused for each.
  const std::map<public_key, std::uint64_t>& quarantine() const { return quarantine_; }
  std::uint64_t clock() const { return clock_.last(); }

  // Applied changes the given frontier lacks, in application order, as
  // signed encodings. Needs retain_log; only changes since the last snapshot.
  std::vector<bytes> changes_since(const frontier& theirs) const;
  // Number of applied changes in the retained log.
  std::size_t log_size() const { return log_.size(); }
  // The signed encoding of an applied change, if the log retains it.
  std::optional<bytes> encoding(const hash256& h) const;

  // -- snapshots ---------------------------------------------------------
  // The complete CRDT state (not only its JSON) in a versioned binary form,
  // enough to apply later changes on top of it.
  bytes snapshot() const;
  static expected<document, std::string> from_snapshot(std::string name, byte_view snap,
                                                       document_limits limits = {});
  // The snapshot of the state at an earlier frontier `at` (for compaction):
  // replays the retained log up to it. Refused if `at` is ahead of this
  // document or not causally closed (a change at or below it depends on one
  // above it).
  expected<bytes, std::string> snapshot_at(const frontier& at) const;

 private:
  struct pending_change {
    change c;
  };
  enum class try_result { applied, waiting, refused };

  apply_report run(std::vector<change> batch, bool amortised);
  void admit(change&& c, bool verified, apply_report& rep, change_outcome& out);
  try_result try_apply(const change& c, change_outcome& out, hash256& missing);
  // Applies a validated change; its op values are moved into the state.
  void commit_applied(change& c, apply_report* rep);
  // The bookkeeping after a change's ops are in the state.
  void record_applied(const change& c, std::uint32_t ref, std::uint32_t author, apply_report* rep,
                      bytes encoded);
  void release_waiters(const hash256& h, apply_report& rep);
  void record_fork(bytes existing, const change& incoming, apply_report& rep);
  void quarantine_from(const public_key& author, std::uint64_t seq, apply_report& rep);
  void exclude(const hash256& h, apply_report& rep);
  void rebuild();
  void replay_one(byte_view encoded);
  const change_meta* chain_at(const public_key& author, std::uint64_t seq) const;
  std::optional<bytes> encoding_of(std::uint32_t change_ref) const;
  std::uint64_t chain_length(const public_key& author) const;
  static hash256 chain_key(const public_key& author, std::uint64_t seq);

  friend class change_builder;
  friend struct snapshot_codec;

  std::string name_;
  document_limits limits_;
  doc_state state_;
  hlc clock_;
  frontier frontier_;
  std::set<hash256> heads_;
  // author index -> change_ref per seq (seq 1 at [0]); from the snapshot on,
  // entries below base_seq are absent.
  std::vector<std::vector<std::uint32_t>> chain_;
  std::vector<bytes> log_;
  // Without retain_log: the applied changes not yet durable, in order; the
  // first has the running number undurable_first_.
  struct undurable_change {
    public_key author;
    std::uint64_t seq = 0;
    bytes encoded;
  };
  std::deque<undurable_change> undurable_;
  std::uint64_t undurable_first_ = 0;
  std::uint64_t applied_total_ = 0;
  bool rebuilding_ = false;
  std::shared_ptr<const change_log> change_log_;
  std::size_t log_base_ = 0;             // changes inside the snapshot this document started from
  std::optional<bytes> base_snapshot_;  // that snapshot, to rebuild on a fork proof
  std::unordered_map<hash256, pending_change, fixed_bytes_hasher> pending_;
  std::map<std::pair<public_key, std::uint64_t>, hash256> pending_by_seq_;
  std::unordered_map<hash256, std::vector<hash256>, fixed_bytes_hasher> waiters_;
  std::vector<fork_proof> forks_;
  std::map<public_key, std::uint64_t> quarantine_;
  std::set<hash256> excluded_;  // refused for good: their dependents are too
  // The state changes only by applying a change (the change count grows) or
  // by a rebuild (which may end at any count): the pair names a state.
  std::uint64_t rebuilds_ = 0;
  mutable std::optional<std::pair<std::pair<std::uint64_t, std::size_t>, hash256>> digest_cache_;
};

}  // namespace starling::crdt
