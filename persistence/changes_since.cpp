// changes_since: the delta a peer lacks, in causal order, in pages.
//
// Each author's missing changes are a contiguous seq range of its chain, and
// along a chain log indexes increase (seq n+1 names n as prev, so it was
// applied after it). So the missing changes, in this node's log order, are
// the log entries from the first missing one on whose (author, seq) is the
// next one missing of its author. A page reads them with one cursor walk
// over the log, about 10x cheaper a change than a lookup of each. Where the
// walk would step over many changes the peer has (it lacks only the tail of
// one author among busy others), the page merges the per-author streams by
// log index with a heap instead, touching only the chain entries and the
// changes that are sent: O(missing · log authors).
//
// Where the peer's head for an author has another hash than our change at
// that seq, the author equivocated; our change at that seq is sent as well,
// so that catch-up (not only the live stream) spreads forks.
#include <algorithm>
#include <map>
#include <queue>

#include "crdt/change.hpp"
#include "crdt/varint.hpp"
#include "persistence/store_impl.hpp"

namespace starling::persistence {

namespace {

// The next change of one author's stream.
struct stream_head {
  std::uint64_t log_index;
  public_key author;
  std::uint64_t seq;
  hash256 hash;
};
struct later_in_log {
  bool operator()(const stream_head& a, const stream_head& b) const {
    return a.log_index > b.log_index;
  }
};

std::uint64_t seq_of(const frontier& f, const public_key& author) {
  auto it = f.find(author);
  return it == f.end() ? 0 : it->second.seq;
}

change_page behind_horizon() {
  change_page p;
  p.behind_horizon = true;
  return p;
}

}  // namespace

change_page store::impl::serve_page(const lmdb::txn& t, std::string_view doc,
                                    const continuation& from, std::size_t max_bytes) const {
  // The streams still to serve, and the first log entry the walk must read.
  std::map<public_key, std::uint64_t> next;
  std::uint64_t start = from.end_index;
  for (const auto& [author, seq] : from.next_seq) {
    auto e = load_chain_entry(t, doc, author, seq);
    if (!e || e->log_index >= from.end_index) continue;  // exhausted, or only later entries
    next.emplace(author, seq);
    start = std::min(start, e->log_index);
  }
  change_page page;
  if (next.empty()) return page;
  // Steps over changes the peer has, past which the heap serves the rest.
  constexpr std::size_t max_skipped = 1024;
  std::size_t page_bytes = 0, skipped = 0;
  const auto prefix = records::doc_key(doc);
  lmdb::cursor c(t, db.log);
  auto rest = [&] {
    continuation more;
    more.end_index = from.end_index;
    more.next_seq.assign(next.begin(), next.end());
    return more;
  };
  for (auto e = c.seek(records::log_key(doc, start).view()); e; e = c.next()) {
    auto [k, v] = *e;
    if (k.size() != prefix.view().size() + 8 || k.substr(0, prefix.view().size()) != prefix.view()) break;
    if (wire::get_u64be(k.data() + prefix.view().size()) >= from.end_index) break;
    auto entry = records::decode_log_entry(v);
    if (!entry) fail_corrupt("log entry of doc '" + std::string(doc) + "'");
    auto id = crdt::peek_author_seq(entry->encoded);
    if (!id) fail_corrupt("log entry of doc '" + std::string(doc) + "' has no change header");
    auto it = next.find(id->first);
    if (it == next.end() || it->second != id->second) {
      if (++skipped <= max_skipped) continue;
      // Mostly what the peer has: the heap serves this page (or the next,
      // if this one has changes already).
      if (!page.changes.empty()) {
        page.next = rest();
        return page;
      }
      return serve_by_chain(t, doc, rest(), max_bytes);
    }
    if (!page.changes.empty() && page_bytes + entry->encoded.size() > max_bytes) {
      page.next = rest();
      return page;
    }
    page.changes.emplace_back(entry->encoded);
    page_bytes += entry->encoded.size();
    ++it->second;
  }
  return page;  // every entry below end_index read: nothing more to send
}

change_page store::impl::serve_by_chain(const lmdb::txn& t, std::string_view doc,
                                        const continuation& from, std::size_t max_bytes) const {
  std::priority_queue<stream_head, std::vector<stream_head>, later_in_log> heap;
  auto push_if_served = [&](const public_key& author, std::uint64_t seq) {
    // Absent: the author's stream is exhausted. Logged at or after the end
    // index: it arrived after the first page, so it is not part of this delta.
    auto e = load_chain_entry(t, doc, author, seq);
    if (e && e->log_index < from.end_index) heap.push({e->log_index, author, seq, e->hash});
  };
  for (const auto& [author, seq] : from.next_seq) push_if_served(author, seq);

  change_page page;
  std::size_t page_bytes = 0;
  while (!heap.empty()) {
    const stream_head head = heap.top();
    auto entry = log_entry_at(t, doc, head.log_index);
    if (entry.hash != head.hash)
      fail_corrupt("chain and log of doc '" + std::string(doc) + "' disagree");
    if (!page.changes.empty() && page_bytes + entry.encoded.size() > max_bytes) break;
    page.changes.emplace_back(entry.encoded);
    page_bytes += entry.encoded.size();
    heap.pop();
    push_if_served(head.author, head.seq + 1);
  }

  if (!heap.empty()) {
    continuation next;
    next.end_index = from.end_index;
    for (; !heap.empty(); heap.pop()) next.next_seq.emplace_back(heap.top().author, heap.top().seq);
    std::sort(next.next_seq.begin(), next.next_seq.end());  // a deterministic value
    page.next = std::move(next);
  }
  return page;
}

expected<change_page, store_error> store::changes_since(std::string_view doc,
                                                        const frontier& theirs,
                                                        std::size_t max_bytes) const {
  return impl_->read([&](const lmdb::txn& t) {
    require_doc(doc);
    // Anything they lack at or below our horizon is gone from our log.
    for (const auto& [author, h] : impl_->load_horizon(t, doc))
      if (seq_of(theirs, author) < h.seq) return behind_horizon();

    continuation from;
    from.end_index = impl_->load_doc_record(t, doc).next_log_index;
    for (const auto& [author, head] : impl_->load_frontier(t, doc)) {
      std::uint64_t known = seq_of(theirs, author);
      std::uint64_t start = known + 1;
      if (known >= 1 && known <= head.seq) {
        // They hold another change at this seq: the author forked. Send
        // ours too, so that they can prove it.
        auto e = impl_->load_chain_entry(t, doc, author, known);
        if (e && e->hash != theirs.at(author).hash) start = known;
      }
      if (head.seq >= start) from.next_seq.emplace_back(author, start);
    }
    return impl_->serve_page(t, doc, from, max_bytes);
  });
}

expected<change_page, store_error> store::changes_since(std::string_view doc,
                                                        const continuation& next,
                                                        std::size_t max_bytes) const {
  return impl_->read([&](const lmdb::txn& t) {
    require_doc(doc);
    // A compaction between two pages may have dropped what is still to send.
    auto horizon = impl_->load_horizon(t, doc);
    for (const auto& [author, seq] : next.next_seq)
      if (seq <= seq_of(horizon, author)) return behind_horizon();
    return impl_->serve_page(t, doc, next, max_bytes);
  });
}

}  // namespace starling::persistence
