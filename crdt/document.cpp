#include "crdt/document.hpp"

#include <algorithm>
#include <chrono>
#include <deque>

#include "crdt/varint.hpp"
#include "crdt/verify.hpp"

namespace starling::crdt {

std::uint64_t wall_clock_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

const char* to_string(refusal r) {
  switch (r) {
    case refusal::bad_signature: return "bad_signature";
    case refusal::broken_chain: return "broken_chain";
    case refusal::chain_gap: return "chain_gap";
    case refusal::bad_time: return "bad_time";
    case refusal::invalid_op: return "invalid_op";
    case refusal::wrong_doc: return "wrong_doc";
    case refusal::quarantined: return "quarantined";
    case refusal::refused_dependency: return "refused_dependency";
    case refusal::pending_full: return "pending_full";
  }
  return "unknown";
}

document::document(std::string name, document_limits limits)
    : name_(std::move(name)), limits_(limits) {}
document::document(document&&) noexcept = default;
document& document::operator=(document&&) noexcept = default;
document::~document() = default;

namespace {
// A refusal that no later arrival can undo: whatever depends on the change
// can never apply either, so it is refused too (the same way everywhere).
bool permanent(refusal r) {
  switch (r) {
    case refusal::broken_chain:
    case refusal::bad_time:
    case refusal::invalid_op:
    case refusal::quarantined:
    case refusal::refused_dependency: return true;
    default: return false;
  }
}

void refuse(change_outcome& out, refusal r, std::string msg) {
  out.status = apply_status::refused;
  out.reason = r;
  out.message = std::move(msg);
}
}  // namespace

apply_report document::apply(change c) {
  std::vector<change> v;
  v.push_back(std::move(c));
  return run(std::move(v), false);
}

apply_report document::apply_batch(std::vector<change> batch) { return run(std::move(batch), true); }

apply_report document::run(std::vector<change> batch, bool amortised) {
  apply_report rep;
  rep.outcomes.resize(batch.size());
  std::vector<verdict> verdicts;
  if (amortised) {
    auto v = verify_batch(batch);
    verdicts = std::move(v.verdicts);
    rep.signatures_checked = v.signatures_checked;
  } else {
    verdicts.reserve(batch.size());
    for (auto& c : batch) verdicts.push_back(signature_valid(c) ? verdict::valid : verdict::bad_signature);
    rep.signatures_checked = batch.size();
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& out = rep.outcomes[i];
    out.hash = batch[i].hash;
    if (verdicts[i] == verdict::chain_gap) {
      refuse(out, refusal::chain_gap, "batch skips a seq of this author");
      continue;
    }
    admit(std::move(batch[i]), verdicts[i] == verdict::valid, rep, out);
  }
  return rep;
}

// A synthetic key under which changes wait for (author, seq) to be applied.
hash256 document::chain_key(const public_key& author, std::uint64_t seq) {
  std::string k("chain", 5);
  k.append(author.view());
  wire::put_u64be(k, seq);
  return crypto::blake2b_256(k);
}

const change_meta* document::chain_at(const public_key& author, std::uint64_t seq) const {
  auto it = state_.author_index.find(author);
  if (it == state_.author_index.end() || seq == 0) return nullptr;
  const auto& ch = chain_[it->second];
  if (seq > ch.size()) return nullptr;
  return &state_.changes[ch[seq - 1]];
}

std::uint64_t document::chain_length(const public_key& author) const {
  auto it = state_.author_index.find(author);
  return it == state_.author_index.end() ? 0 : chain_[it->second].size();
}

std::optional<bytes> document::encoding_of(std::uint32_t change_ref) const {
  if (limits_.retain_log) {
    if (change_ref < log_base_ || change_ref - log_base_ >= log_.size()) return std::nullopt;
    return log_[change_ref - log_base_];
  }
  if (change_ref >= state_.changes.size()) return std::nullopt;
  const auto& m = state_.changes[change_ref];
  const auto& author = state_.authors[m.author];
  for (auto& u : undurable_)
    if (u.seq == m.seq && u.author == author) return u.encoded;
  return change_log_ ? change_log_->encoding(author, m.seq) : std::nullopt;
}

void document::durable_through(std::uint64_t mark) {
  while (!undurable_.empty() && undurable_first_ < mark) {
    undurable_.pop_front();
    ++undurable_first_;
  }
}

std::optional<bytes> document::encoding(const hash256& h) const {
  auto ref = state_.find_change(h);
  if (ref == npos32) return std::nullopt;
  return encoding_of(ref);
}

bool document::has_change(const hash256& h) const { return state_.knows(h); }

void document::admit(change&& c, bool verified, apply_report& rep, change_outcome& out) {
  if (c.doc != name_) return refuse(out, refusal::wrong_doc, "change belongs to document " + c.doc);
  if (!verified) return refuse(out, refusal::bad_signature, "signature does not match author " + short_id(c.author));
  if (state_.knows(c.hash) || (!pending_.empty() && pending_.count(c.hash))) {
    out.status = apply_status::duplicate;
    return;
  }
  auto q = quarantine_.find(c.author);
  if (q != quarantine_.end() && c.seq >= q->second) {
    exclude(c.hash, rep);
    return refuse(out, refusal::quarantined, "author " + short_id(c.author) + " equivocated");
  }
  // Equivocation: another change already holds (author, seq).
  if (const change_meta* m = chain_at(c.author, c.seq)) {
    auto enc = encoding_of(static_cast<std::uint32_t>(m - state_.changes.data()));
    if (enc) record_fork(std::move(*enc), c, rep);
    exclude(c.hash, rep);
    return refuse(out, refusal::quarantined, "equivocation at seq " + std::to_string(c.seq));
  }
  auto ps = pending_by_seq_.empty() ? pending_by_seq_.end() : pending_by_seq_.find({c.author, c.seq});
  if (ps != pending_by_seq_.end()) {
    bytes other = encode(pending_.at(ps->second).c);
    record_fork(std::move(other), c, rep);
    exclude(c.hash, rep);
    return refuse(out, refusal::quarantined, "equivocation at seq " + std::to_string(c.seq));
  }
  hash256 missing;
  switch (try_apply(c, out, missing)) {
    case try_result::applied:
      commit_applied(c, &rep);
      release_waiters(c.hash, rep);
      if (!waiters_.empty()) release_waiters(chain_key(c.author, c.seq), rep);
      return;
    case try_result::refused:
      if (permanent(*out.reason)) exclude(c.hash, rep);
      return;
    case try_result::waiting:
      if (pending_.size() >= limits_.max_pending)
        return refuse(out, refusal::pending_full, "pending set is full");
      out.status = apply_status::pending;
      waiters_[missing].push_back(c.hash);
      pending_by_seq_[{c.author, c.seq}] = c.hash;
      pending_.emplace(c.hash, pending_change{std::move(c)});
      return;
  }
}

document::try_result document::try_apply(const change& c, change_outcome& out, hash256& missing) {
  auto dependency_excluded = [&](const hash256& h) {
    if (!excluded_.count(h)) return false;
    refuse(out, refusal::refused_dependency, "depends on refused change " + to_hex(h).substr(0, 16));
    return true;
  };
  if (c.seq > 1 && dependency_excluded(c.prev)) return try_result::refused;
  for (auto& d : c.deps)
    if (dependency_excluded(d)) return try_result::refused;
  for (auto& o : c.ops)
    for (const op_ref* r : {&o.obj, &o.elem, &o.target})
      if (r->t == op_ref::tag::ext && dependency_excluded(r->change)) return try_result::refused;

  std::uint64_t head = chain_length(c.author);
  if (c.seq > head + 1) {
    // Wait for the author's seq-1 whatever its hash, so that a wrong prev is
    // refused as soon as the real predecessor is known.
    missing = chain_key(c.author, c.seq - 1);
    return try_result::waiting;
  }
  if (c.seq > 1) {
    const change_meta* p = chain_at(c.author, c.seq - 1);
    if (p->hash != c.prev) {
      refuse(out, refusal::broken_chain, "prev is not the hash of seq " + std::to_string(c.seq - 1));
      return try_result::refused;
    }
    if (c.time <= p->time) {
      refuse(out, refusal::bad_time, "time not after prev");
      return try_result::refused;
    }
  }
  for (auto& d : c.deps) {
    auto ref = state_.find_change(d);
    if (ref == npos32) {
      missing = d;
      return try_result::waiting;
    }
    if (state_.changes[ref].time >= c.time) {
      refuse(out, refusal::bad_time, "time not after dep");
      return try_result::refused;
    }
  }
  auto ref = static_cast<std::uint32_t>(state_.changes.size());
  doc_state::change_applier v(state_, ref, c.time, nullptr);
  for (std::uint32_t i = 0; i < c.ops.size(); ++i) {
    auto chk = v.check(c.ops[i], i);
    if (chk.r == op_check::result::missing) {
      missing = chk.missing;
      return try_result::waiting;
    }
    if (chk.r == op_check::result::invalid) {
      refuse(out, refusal::invalid_op, "op " + std::to_string(i) + ": " + chk.message);
      return try_result::refused;
    }
  }
  return try_result::applied;
}

void document::commit_applied(change& c, apply_report* rep) {
  // Encoded before the ops give their values to the state.
  bytes encoded = rebuilding_ && !limits_.retain_log ? bytes() : c.encoded.empty() ? encode(c) : std::move(c.encoded);
  auto ref = static_cast<std::uint32_t>(state_.changes.size());
  auto author = state_.intern_author(c.author);
  if (chain_.size() <= author) chain_.resize(author + 1);
  state_.changes.push_back(change_meta{c.hash, c.seq, c.time, author, static_cast<std::uint32_t>(c.ops.size())});
  state_.index_change(ref);
  doc_state::change_applier a(state_, ref, c.time, nullptr);
  for (std::uint32_t i = 0; i < c.ops.size(); ++i) a.apply(std::move(c.ops[i]), i);
  record_applied(c, ref, author, rep, std::move(encoded));
}

void document::record_applied(const change& c, std::uint32_t ref, std::uint32_t author, apply_report* rep,
                              bytes encoded) {
  chain_[author].push_back(ref);
  frontier_[c.author] = chain_head{c.seq, c.hash};
  if (c.seq > 1) heads_.erase(c.prev);
  for (auto& d : c.deps) heads_.erase(d);
  heads_.insert(c.hash);
  clock_.observe(c.time);
  if (limits_.retain_log) {
    log_.push_back(rep ? encoded : std::move(encoded));
  } else if (!rebuilding_) {
    if (undurable_.empty()) undurable_first_ = applied_total_;
    undurable_.push_back({c.author, c.seq, rep ? encoded : std::move(encoded)});
  }
  if (!rebuilding_) ++applied_total_;
  if (rep) {
    rep->applied.push_back(c.hash);
    rep->applied_changes.push_back({c.author, c.seq, std::move(encoded)});
  }
}

void document::release_waiters(const hash256& first, apply_report& rep) {
  if (waiters_.empty()) return;
  std::deque<hash256> ready{first};
  while (!ready.empty()) {
    hash256 h = ready.front();
    ready.pop_front();
    auto w = waiters_.find(h);
    if (w == waiters_.end()) continue;
    auto list = std::move(w->second);
    waiters_.erase(w);
    for (auto& ph : list) {
      auto p = pending_.find(ph);
      if (p == pending_.end()) continue;
      change_outcome out;
      out.hash = ph;
      hash256 missing;
      switch (try_apply(p->second.c, out, missing)) {
        case try_result::waiting: waiters_[missing].push_back(ph); break;
        case try_result::refused:
          pending_by_seq_.erase({p->second.c.author, p->second.c.seq});
          pending_.erase(p);
          if (permanent(*out.reason)) exclude(ph, rep);
          rep.late_refusals.push_back(std::move(out));
          break;
        case try_result::applied: {
          change c = std::move(p->second.c);
          pending_by_seq_.erase({c.author, c.seq});
          pending_.erase(p);
          commit_applied(c, &rep);
          ready.push_back(c.hash);
          if (!waiters_.empty()) ready.push_back(chain_key(c.author, c.seq));
          break;
        }
      }
    }
  }
}

void document::record_fork(bytes existing, const change& incoming, apply_report& rep) {
  fork_proof p;
  p.author = incoming.author;
  p.seq = incoming.seq;
  bytes inc = encode(incoming);
  auto existing_hash = crypto::blake2b_256(byte_view(existing).substr(0, existing.size() - 64));
  if (existing_hash < incoming.hash) p.a = std::move(existing), p.b = std::move(inc);
  else p.a = std::move(inc), p.b = std::move(existing);
  for (auto& f : forks_)
    if (f.a == p.a && f.b == p.b) return;
  forks_.push_back(p);
  // Keep the list in one order everywhere: by (seq, a) per author.
  std::sort(forks_.begin(), forks_.end(), [](const fork_proof& x, const fork_proof& y) {
    if (x.author != y.author) return x.author < y.author;
    if (x.seq != y.seq) return x.seq < y.seq;
    return x.a < y.a;
  });
  rep.new_forks.push_back(std::move(p));
  quarantine_from(incoming.author, incoming.seq, rep);
}

void document::quarantine_from(const public_key& author, std::uint64_t seq, apply_report& rep) {
  auto [it, fresh] = quarantine_.emplace(author, seq);
  if (!fresh) {
    if (it->second <= seq) return;
    it->second = seq;
  }
  // Pending changes of the author at or past the fork point.
  std::vector<hash256> drop;
  for (auto p = pending_by_seq_.lower_bound({author, seq});
       p != pending_by_seq_.end() && p->first.first == author; ++p)
    drop.push_back(p->second);
  for (auto& h : drop) exclude(h, rep);
  if (chain_length(author) >= seq) {
    rebuild();
    rep.rebuilt = true;
  }
}

void document::exclude(const hash256& first, apply_report& rep) {
  std::deque<hash256> todo{first};
  while (!todo.empty()) {
    hash256 h = todo.front();
    todo.pop_front();
    if (!excluded_.insert(h).second) continue;
    auto p = pending_.find(h);
    if (p != pending_.end()) {
      change_outcome out;
      out.hash = h;
      refuse(out, refusal::quarantined, "quarantined while pending");
      rep.late_refusals.push_back(std::move(out));
      pending_by_seq_.erase({p->second.c.author, p->second.c.seq});
      pending_.erase(p);
    }
    auto w = waiters_.find(h);
    if (w != waiters_.end()) {
      for (auto& x : w->second) todo.push_back(x);
      waiters_.erase(w);
    }
  }
}

// Replays the retained log without the changes a quarantine excludes. The
// log is in causal order, so one pass finds every excluded dependent too.
void document::rebuild() {
  ++rebuilds_;
  auto old_log = std::move(log_);
  log_.clear();
  state_.clear();
  chain_.clear();
  frontier_.clear();
  heads_.clear();
  log_base_ = 0;
  if (base_snapshot_) {
    auto base = from_snapshot(name_, *base_snapshot_, limits_);
    if (base) {
      state_ = std::move(base->state_);
      chain_ = std::move(base->chain_);
      frontier_ = std::move(base->frontier_);
      heads_ = std::move(base->heads_);
      log_base_ = base->log_base_;
    }
  }
  rebuilding_ = true;
  if (limits_.retain_log) {
    for (auto& enc : old_log) replay_one(enc);
  } else {
    // The durable changes, then those still on their way to the log (a
    // change may be in both while its commit completes: applied once).
    if (change_log_) change_log_->replay([this](byte_view enc) { replay_one(enc); });
    for (auto& u : undurable_) replay_one(u.encoded);
  }
  rebuilding_ = false;
}

void document::replay_one(byte_view enc) {
  auto c = decode(enc, limits_.codec);
  if (!c || state_.knows(c->hash)) return;  // cannot fail: we encoded it
  change_outcome out;
  hash256 missing;
  auto q = quarantine_.find(c->author);
  if ((q != quarantine_.end() && c->seq >= q->second) || try_apply(*c, out, missing) != try_result::applied) {
    excluded_.insert(c->hash);
    return;
  }
  commit_applied(*c, nullptr);
}

apply_report document::apply_fork_proof(const fork_proof& proof) {
  apply_report rep;
  auto a = decode(proof.a, limits_.codec);
  auto b = decode(proof.b, limits_.codec);
  if (!a || !b || a->author != b->author || a->seq != b->seq || a->hash == b->hash ||
      a->doc != name_ || b->doc != name_) {
    change_outcome out;
    refuse(out, refusal::invalid_op, "not a fork proof");
    rep.outcomes.push_back(out);
    return rep;
  }
  rep.signatures_checked = 2;
  bool ok = signature_valid(*a) && signature_valid(*b);
  change_outcome out;
  if (!ok) {
    refuse(out, refusal::bad_signature, "fork proof signature invalid");
    rep.outcomes.push_back(out);
    return rep;
  }
  record_fork(bytes(proof.a), *b, rep);
  excluded_.insert(a->hash);
  excluded_.insert(b->hash);
  rep.outcomes.push_back(out);
  return rep;
}

std::vector<bytes> document::changes_since(const frontier& theirs) const {
  std::vector<bytes> out;
  for (std::size_t i = 0; i < log_.size(); ++i) {
    const auto& m = state_.changes[log_base_ + i];
    auto it = theirs.find(state_.authors[m.author]);
    if (it == theirs.end() || it->second.seq < m.seq) out.push_back(log_[i]);
  }
  return out;
}

nlohmann::json document::state() const { return state_.materialise(); }

hash256 document::digest() const {
  std::pair<std::uint64_t, std::size_t> at{rebuilds_, state_.changes.size()};
  if (!digest_cache_ || digest_cache_->first != at) digest_cache_.emplace(at, crypto::blake2b_256(state().dump()));
  return digest_cache_->second;
}

}  // namespace starling::crdt
