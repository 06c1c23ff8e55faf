// Rebuilds a document from what a store holds: its snapshot (if compacted)
// and then its log, in local order (a causal order). The log was validated
// before it was stored, so replay uses the amortised batch path.
// Threading: reads only; callable from any thread (see store.hpp).
#pragma once

#include <string>

#include "crdt/document.hpp"
#include "persistence/store.hpp"

namespace starling::persistence {

struct load_stats {
  std::size_t changes = 0;     // replayed from the log
  bool from_snapshot = false;
};

expected<crdt::document, std::string> load_document(const store& st, const std::string& doc,
                                                    const crdt::document_limits& limits = {},
                                                    load_stats* stats = nullptr);

}  // namespace starling::persistence
