// Rebuilds a document from what a store holds: its snapshot (if compacted)
// and then its log, in local order (a causal order). The log was validated
// before it was stored, so replay uses the amortised batch path.
// Threading: reads only; callable from any thread (see store.hpp).
#pragma once

#include <memory>
#include <string>

#include "crdt/document.hpp"
#include "persistence/store.hpp"

namespace starling::persistence {

struct load_stats {
  std::size_t changes = 0;     // replayed from the log
  bool from_snapshot = false;
};

// Fork proofs are kept in the store's meta table under fork_proofs_key(doc)
// (the store keeps one branch of a fork in its log; the proofs make a
// reloaded document quarantine the author again, before replay).
std::string fork_proofs_key(const std::string& doc);
bytes encode_fork_proofs(const std::vector<crdt::fork_proof>& proofs);
expected<std::vector<crdt::fork_proof>, std::string> decode_fork_proofs(byte_view data);

// Replays the doc's snapshot, fork proofs and log into a document. With
// limits.retain_log off, the document reads old changes back through `log`
// (see stored_change_log), set before the replay.
expected<crdt::document, std::string> load_document(const store& st, const std::string& doc,
                                                    const crdt::document_limits& limits = {},
                                                    load_stats* stats = nullptr,
                                                    std::shared_ptr<const crdt::change_log> log = nullptr);

// The doc's changes as the store holds them, for a document that does not
// retain its log. Read-only; callable from any thread (LMDB read txns).
std::shared_ptr<const crdt::change_log> stored_change_log(std::shared_ptr<const store> st, std::string doc);

}  // namespace starling::persistence
