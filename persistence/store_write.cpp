// The writer: group commit of a batch in one transaction, with the map grown
// and the batch retried on MDB_MAP_FULL; snapshots and compaction.
#include <cstring>
#include <unordered_map>

#include "persistence/store_impl.hpp"

namespace starling::persistence {

namespace {

// What a batch has read and changed of one document; written back once, at
// the end of the batch, so that a batch of many changes for one doc touches
// its frontier and bookkeeping records once.
struct doc_state {
  frontier front;
  records::doc_record rec;
  std::optional<frontier> horizon;  // loaded when first needed
  bool dirty = false;               // front and rec
  bool horizon_dirty = false;
};

[[noreturn]] void refuse(store_errc code, std::string message) {
  throw store_failure(code, std::move(message));
}

std::string describe(std::string_view doc, const public_key& author, std::uint64_t seq) {
  return "doc '" + std::string(doc) + "' author " + short_id(author) + " seq " +
         std::to_string(seq);
}

class batch_writer {
 public:
  batch_writer(store::impl& s, const lmdb::txn& t, std::size_t changes) : s_(s), t_(t) {
    result_.outcomes.reserve(changes);
  }

  void apply(const write_batch::item& item) {
    std::visit([this](const auto& i) { this->apply_item(i); }, item);
  }

  commit_result finish() {
    for (auto& [name, d] : docs_) {
      auto k = records::doc_key(name);
      if (d.dirty) {
        s_.db.docs.put(t_, k.view(), records::encode_doc_record(d.rec));
        s_.db.frontier.put(t_, k.view(), records::encode_frontier(d.front));
      }
      if (d.horizon_dirty) s_.db.horizon.put(t_, k.view(), records::encode_frontier(*d.horizon));
    }
    return std::move(result_);
  }

 private:
  doc_state& doc(const std::string& name) {
    if (last_ && last_->first == name) return last_->second;  // batches run in streaks of one doc
    auto it = docs_.find(name);
    if (it == docs_.end()) {
      require_doc(name);
      doc_state d;
      d.front = s_.load_frontier(t_, name);
      d.rec = s_.load_doc_record(t_, name);
      it = docs_.emplace(name, std::move(d)).first;
    }
    last_ = &*it;  // nodes of an unordered_map stay put when it grows
    return it->second;
  }

  frontier& horizon(const std::string& name, doc_state& d) {
    if (!d.horizon) d.horizon = s_.load_horizon(t_, name);
    return *d.horizon;
  }

  static std::uint64_t seq_of(const frontier& f, const public_key& author) {
    auto it = f.find(author);
    return it == f.end() ? 0 : it->second.seq;
  }

  // Whether (author, seq) at or below the head holds `hash`: the chain entry
  // if it is still stored, else the horizon (only its head hash is known).
  bool holds(const std::string& name, doc_state& d, const public_key& author, std::uint64_t seq,
             const hash256& hash) {
    if (auto e = s_.load_chain_entry(t_, name, author, seq)) return e->hash == hash;
    const auto& hz = horizon(name, d);
    auto it = hz.find(author);
    if (it == hz.end() || seq > it->second.seq)
      fail_corrupt("chain entry missing below the head: " + describe(name, author, seq));
    return seq < it->second.seq || it->second.hash == hash;
  }

  // Per change: one log append and one chain insert, both at increasing keys
  // (no key by hash: a random key would dirty a page of its own per change).
  // A seq at or below the head is a duplicate if the chain holds the same
  // hash there, a chain_conflict if another; above head+1 it is refused.
  void apply_item(const write_batch::change_item& c) {
    auto& d = doc(c.doc);
    if (c.encoded.empty()) refuse(store_errc::invalid_argument, "empty change encoding");
    auto known = d.front.find(c.author);
    const std::uint64_t head = known == d.front.end() ? 0 : known->second.seq;
    if (c.seq == head + 1) {
      const std::uint64_t index = d.rec.next_log_index++;
      char* entry = s_.db.log.reserve_last(t_, records::log_key(c.doc, index).view(),
                                      records::log_entry_header + c.encoded.size());
      std::memcpy(entry, c.hash.data(), records::log_entry_header);
      std::memcpy(entry + records::log_entry_header, c.encoded.data(), c.encoded.size());
      s_.db.chain.put(t_, records::chain_key(c.doc, c.author, c.seq).view(),
                      records::encode_chain_entry({c.hash, index}).view());
      if (known != d.front.end()) known->second = chain_head{c.seq, c.hash};
      else d.front.emplace(c.author, chain_head{c.seq, c.hash});
      ++d.rec.change_count;
      d.dirty = true;
      ++result_.stored;
      result_.outcomes.push_back(change_outcome::stored);
    } else if (c.seq != 0 && c.seq <= head) {
      if (!holds(c.doc, d, c.author, c.seq, c.hash))
        refuse(store_errc::chain_conflict, describe(c.doc, c.author, c.seq) +
                                               " already holds another change than " +
                                               to_hex(c.hash));
      ++result_.duplicates;
      result_.outcomes.push_back(change_outcome::duplicate);
    } else {
      refuse(store_errc::invalid_argument, describe(c.doc, c.author, c.seq) +
                                               " does not follow the author's head seq " +
                                               std::to_string(head));
    }
  }

  // Deletes the author's changes with seq in [from, to]; all must be stored.
  void drop(const std::string& name, doc_state& d, const public_key& author, std::uint64_t from,
            std::uint64_t to) {
    for (std::uint64_t seq = from; seq <= to; ++seq) {
      auto k = records::chain_key(name, author, seq);
      auto e = s_.load_chain_entry(t_, name, author, seq);
      if (!e) fail_corrupt("chain entry missing above the horizon: " + describe(name, author, seq));
      s_.db.log.del(t_, records::log_key(name, e->log_index).view());
      s_.db.chain.del(t_, k.view());
      --d.rec.change_count;
      ++result_.compacted;
    }
    d.dirty = true;
  }

  void apply_item(const write_batch::snapshot_item& s) {
    auto& d = doc(s.doc);
    for (const auto& [author, at] : s.at) {
      const std::uint64_t head = seq_of(d.front, author);
      if (at.seq == 0) refuse(store_errc::invalid_argument, "snapshot frontier with seq 0");
      if (at.seq <= head) {
        if (!holds(s.doc, d, author, at.seq, at.hash))
          refuse(store_errc::chain_conflict,
                 "snapshot frontier disagrees with the chain at " + describe(s.doc, author, at.seq));
        continue;
      }
      // Ahead of us: what we hold of this author is older than the snapshot,
      // and the changes in between we will never store. Both are now below
      // the horizon, known through the snapshot only.
      auto& hz = horizon(s.doc, d);
      drop(s.doc, d, author, seq_of(hz, author) + 1, head);
      hz[author] = at;
      d.horizon_dirty = true;
      d.front[author] = at;
    }
    d.dirty = true;  // a doc known only by its snapshot is still listed
    s_.db.snapshot.put(t_, records::doc_key(s.doc).view(), records::encode_snapshot(s.at, s.state));
  }

  void apply_item(const write_batch::compact_item& c) {
    auto& d = doc(c.doc);
    auto snap = s_.load_snapshot(t_, c.doc);
    if (!snap) refuse(store_errc::snapshot_missing, "doc '" + c.doc + "' has no snapshot to compact to");
    for (const auto& [author, h] : c.horizon) {
      if (h.seq == 0) refuse(store_errc::invalid_argument, "horizon with seq 0");
      std::uint64_t covered = seq_of(snap->at, author);
      if (covered < h.seq)
        refuse(store_errc::snapshot_missing,
               "the snapshot covers " + describe(c.doc, author, covered) +
                   ", below the horizon seq " + std::to_string(h.seq));
      if (h.seq > seq_of(d.front, author))
        refuse(store_errc::invalid_argument, "horizon beyond the frontier: " +
                                                 describe(c.doc, author, h.seq));
      if (!holds(c.doc, d, author, h.seq, h.hash))
        refuse(store_errc::chain_conflict,
               "horizon disagrees with the chain at " + describe(c.doc, author, h.seq));
      auto& hz = horizon(c.doc, d);
      std::uint64_t done = seq_of(hz, author);
      if (h.seq <= done) continue;
      drop(c.doc, d, author, done + 1, h.seq);
      hz[author] = h;
      d.horizon_dirty = true;
    }
  }

  void apply_item(const write_batch::record_item& r) {
    using kind = write_batch::record_item::kind;
    const auto& db = s_.db;
    switch (r.what) {
      case kind::put_peer: db.peers.put(t_, r.key, r.value); break;
      case kind::remove_peer: db.peers.del(t_, r.key); break;
      case kind::put_trust: db.trust.put(t_, r.key, r.value); break;
      case kind::remove_trust: db.trust.del(t_, r.key); break;
      case kind::put_token: {
        if (auto old = token(r.key); old && old->consumed)
          refuse(store_errc::token_unavailable, "token already used; it cannot be issued again");
        db.tokens.put(t_, r.key, records::encode_token({false, r.value}));
        break;
      }
      case kind::consume_token: {
        auto old = token(r.key);
        if (!old) refuse(store_errc::token_unavailable, "unknown token");
        if (old->consumed) refuse(store_errc::token_unavailable, "token already used");
        old->consumed = true;
        db.tokens.put(t_, r.key, records::encode_token(*old));
        break;
      }
      case kind::remove_token: db.tokens.del(t_, r.key); break;
      case kind::put_meta: db.meta.put(t_, r.key, r.value); break;
    }
  }

  std::optional<records::token_record> token(byte_view key) {
    auto v = s_.db.tokens.get(t_, key);
    if (!v) return std::nullopt;
    auto t = records::decode_token(*v);
    if (!t) fail_corrupt("token record");
    return t;
  }

  store::impl& s_;
  const lmdb::txn& t_;
  std::unordered_map<std::string, doc_state> docs_;
  std::pair<const std::string, doc_state>* last_ = nullptr;
  commit_result result_;
};

}  // namespace

commit_result store::impl::apply(const lmdb::txn& t, const write_batch& batch) {
  batch_writer w(*this, t, batch.change_count());
  for (const auto& item : batch.items()) w.apply(item);
  return w.finish();
}

expected<commit_result, store_error> store::commit(write_batch&& batch) {
  if (impl_->opts.read_only)
    return make_unexpected(store_error{store_errc::read_only, "store opened read-only"});
  if (!batch.build_errors().empty()) {
    std::string msg = "batch refused:";
    for (const auto& e : batch.build_errors()) msg += " " + e + ";";
    return make_unexpected(store_error{store_errc::invalid_argument, std::move(msg)});
  }
  for (;;) {
    try {
      commit_result r;
      {
        auto t = impl_->begin(0);
        r = impl_->apply(t.txn, batch);
        t.txn.commit();
      }
      ++impl_->commits;
      impl_->last_commit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
      return r;
    } catch (const store_failure& f) {
      // The transaction is gone (unwound); a full map is the one failure
      // worth a retry: grow it, then replay the whole batch.
      if (f.lmdb_code() != MDB_MAP_FULL) return make_unexpected(f.error());
    }
    try {
      impl_->grow_map();
    } catch (const store_failure& f) {
      return make_unexpected(f.error());
    }
  }
}

expected<std::uint64_t, store_error> store::compact(std::string_view doc, const frontier& horizon) {
  write_batch b;
  b.compact(std::string(doc), horizon);
  auto r = commit(std::move(b));
  if (!r) return make_unexpected(r.error());
  return r->compacted;
}

expected<done, store_error> store::flush() {
  if (impl_->opts.read_only) return done{};
  try {
    impl_->env.sync(true);
    return done{};
  } catch (const store_failure& f) {
    return make_unexpected(f.error());
  }
}

}  // namespace starling::persistence
