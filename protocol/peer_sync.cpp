#include "protocol/peer_sync.hpp"

#include <variant>

#include "crdt/varint.hpp"
#include "protocol/binary.hpp"

namespace starling::protocol {

namespace {

void note_id(frontier& f, const public_key& author, std::uint64_t seq, const hash256& h) {
  auto& head = f[author];
  if (seq > head.seq) head = chain_head{seq, h};
}

}  // namespace

std::size_t sync_output::bytes_out() const {
  std::size_t n = 0;
  for (auto& f : frames) n += f.data.size();
  return n;
}

peer_sync::peer_sync(sync_source& src, peer_sync_config cfg) : src_(src), cfg_(std::move(cfg)) {}

void peer_sync::note(frontier& f, const crdt::change& c) { note_id(f, c.author, c.seq, c.hash); }

bool peer_sync::delta_pending() const {
  for (auto& [name, d] : docs_)
    if (d.serving) return true;
  return false;
}

std::vector<std::string> peer_sync::documents() const {
  std::vector<std::string> out;
  for (auto& [name, d] : docs_) out.push_back(name);
  return out;
}

std::size_t peer_sync::held_changes() const {
  std::size_t n = 0;
  for (auto& [name, d] : docs_) n += d.held.size();
  return n;
}

bool peer_sync::live(const std::string& name) const {
  auto it = docs_.find(name);
  return it != docs_.end() && it->second.served && (it->second.peer_ready || !it->second.announced);
}

const frontier* peer_sync::peer_known(const std::string& name) const {
  auto it = docs_.find(name);
  return it == docs_.end() ? nullptr : &it->second.peer_known;
}

void peer_sync::fail(protocol_error e, std::optional<std::string> doc, sync_output& out) {
  if (closed_) return;
  out.frames.push_back({false, encode(to_error_frame(e, std::move(doc)))});
  out.close = std::move(e);
  closed_ = true;
}

void peer_sync::announce(const std::string& name, sync_output& out) {
  auto& d = doc(name);
  d.announced = true;
  out.frames.push_back({false, encode(frontier_frame{name, src_.our_frontier(name)})});
  ++stats_.frames_sent;
}

void peer_sync::start(const std::vector<std::string>& our_docs, sync_output& out) {
  // A document may already be announced: the peer's frontier can arrive
  // before the caller has listed our documents. Announcing it twice would
  // make the peer send its delta twice.
  for (auto& name : our_docs)
    if (!closed_ && (src_.peer_may_read(name) || src_.peer_may_write(name)) && !doc(name).announced)
      announce(name, out);
}

void peer_sync::on_new_doc(const std::string& name, sync_output& out) {
  if (closed_) return;
  auto it = docs_.find(name);
  if (it != docs_.end() && it->second.announced) return;
  if (src_.peer_may_read(name) || src_.peer_may_write(name)) announce(name, out);
}

void peer_sync::serve(const std::string& name, sync_output& out) {
  auto& d = doc(name);
  d.serving = true;
  d.served = false;
  d.held.clear();  // the delta covers them
  d.cursor.reset();
  if (d.subscribed) {
    d.cursor = src_.open_delta(name, d.peer_known);
  } else if (!d.subscribing) {  // the delta is read once the subscription is in place
    out.subscribe.push_back(name);
    d.subscribing = true;
  }
}

void peer_sync::on_subscribed(const std::string& name, sync_output& out) {
  if (closed_) return;
  auto& d = doc(name);
  d.subscribed = true;
  d.subscribing = false;
  if (d.serving && !d.cursor) d.cursor = src_.open_delta(name, d.peer_known);
  (void)out;
}

void peer_sync::send_changes(const std::string& name, const std::vector<bytes>& changes, sync_output& out) {
  if (changes.empty()) return;
  auto& d = doc(name);
  protocol_limits lim = cfg_.limits;
  lim.max_batch_bytes = cfg_.max_batch_bytes;
  for (auto& frame : encode_batches(name, changes, lim)) {
    out.frames.push_back({true, std::move(frame)});
    ++stats_.frames_sent;
  }
  for (auto& enc : changes) {
    if (auto id = crdt::peek_author_seq(enc)) {
      // The hash only matters for equality of frontiers; the delta uses seqs.
      note_id(d.peer_known, id->first, id->second, hash256{});
    }
  }
  stats_.changes_sent += changes.size();
}

void peer_sync::maybe_go_live(const std::string& name, sync_output& out) {
  if (!live(name)) return;
  auto& d = doc(name);
  d.lagging = false;  // the episode is over: the peer has everything we sent live
  if (d.held.empty()) return;
  std::vector<bytes> held(std::make_move_iterator(d.held.begin()), std::make_move_iterator(d.held.end()));
  d.held.clear();
  send_changes(name, held, out);
}

void peer_sync::pump(std::size_t max_bytes, sync_output& out) {
  std::size_t budget = max_bytes;
  for (auto& [name, d] : docs_) {
    while (!closed_ && d.serving && d.cursor && budget > 0) {
      auto page = d.cursor->next(std::min(budget, cfg_.max_batch_bytes));
      if (page.behind_horizon) {
        // Snapshot transfer to a peer behind the compaction horizon is not
        // implemented yet: say so instead of sending an incomplete delta.
        fail({errc::internal, "peer is behind the compaction horizon of " + name +
                                  "; snapshot transfer is not supported by this node yet"},
             name, out);
        return;
      }
      std::size_t sent = 0;
      for (auto& c : page.changes) sent += c.size();
      send_changes(name, page.changes, out);
      budget -= std::min(budget, std::max<std::size_t>(sent, 1));
      if (!page.more) {
        d.serving = false;
        d.served = true;
        d.cursor.reset();
        out.frames.push_back({false, encode(ready_frame{name})});
        ++stats_.frames_sent;
        maybe_go_live(name, out);
      }
    }
  }
}

void peer_sync::on_text(std::string_view text, sync_output& out) {
  if (closed_) return;
  ++stats_.frames_received;
  auto f = decode_control(text, cfg_.limits);
  if (!f) return fail(f.error(), std::nullopt, out);
  if (std::holds_alternative<hello_frame>(*f) || std::holds_alternative<auth_frame>(*f))
    return fail({errc::malformed, "handshake frame after authentication"}, std::nullopt, out);
  if (auto* fr = std::get_if<frontier_frame>(&*f)) {
    if (!src_.peer_may_read(fr->doc)) {
      out.frames.push_back({false, encode(error_frame{errc::forbidden, "no read permission", fr->doc})});
      return;
    }
    auto& d = doc(fr->doc);
    d.peer_known = fr->heads;
    serve(fr->doc, out);
    if (!d.announced && src_.peer_may_write(fr->doc)) announce(fr->doc, out);
    return;
  }
  if (auto* r = std::get_if<ready_frame>(&*f)) {
    doc(r->doc).peer_ready = true;
    doc(r->doc).resyncing = false;
    maybe_go_live(r->doc, out);
    return;
  }
  if (std::holds_alternative<error_frame>(*f)) return;  // the peer closes if it must
  return fail({errc::unknown_type, "snapshot transfer is not supported by this node yet"}, std::nullopt, out);
}

void peer_sync::on_binary(std::string_view data, sync_output& out) {
  if (closed_) return;
  ++stats_.frames_received;
  auto kind = peek_binary_kind(data);
  if (!kind) return fail(kind.error(), std::nullopt, out);
  if (*kind != binary_kind::change_batch)
    return fail({errc::unknown_type, "snapshot transfer is not supported by this node yet"}, std::nullopt, out);
  auto batch = decode_batch(data, cfg_.limits);
  if (!batch) return fail(batch.error(), std::nullopt, out);
  if (!src_.peer_may_write(batch->doc)) {
    // An honest reader sends changes only for documents this session
    // knows (it answers our frontier, or relays live changes of a document
    // it asked for); anything else is a peer writing where it may not.
    auto known = docs_.find(batch->doc);
    if (known == docs_.end())
      return fail({errc::forbidden, "no write permission for " + batch->doc}, batch->doc, out);
    ++stats_.forbidden_batches;
    auto& d = known->second;
    if (!d.refused_forbidden) {  // once per document: an honest peer keeps relaying live changes
      d.refused_forbidden = true;
      out.frames.push_back({false, encode(error_frame{errc::forbidden, "no write permission", batch->doc})});
      ++stats_.frames_sent;
    }
    return;
  }
  auto& d = doc(batch->doc);
  for (auto& c : batch->changes) note(d.peer_known, c);
  stats_.changes_received += batch->changes.size();
  out.apply.emplace_back(batch->doc, std::move(batch->changes));
}

void peer_sync::on_refused(const std::string& name, const std::string& reason, sync_output& out) {
  fail({errc::bad_change, reason}, name, out);
}

void peer_sync::on_live(const std::string& name, const std::vector<bytes>& changes, sync_output& out) {
  if (closed_) return;
  auto it = docs_.find(name);
  if (it == docs_.end() || !it->second.subscribed) return;
  auto& d = it->second;
  if (live(name)) return send_changes(name, changes, out);
  if (d.held.size() + changes.size() > cfg_.max_held_changes) {
    on_lagged(name, clock::now(), out);
    return;
  }
  for (auto& c : changes) d.held.push_back(c);
}

bool peer_sync::on_lagged(const std::string& name, clock::time_point now, sync_output& out) {
  if (closed_) return false;
  auto& d = doc(name);
  const bool episode = !d.lagging;
  if (episode) {
    lags_.push_back(now);
    while (!lags_.empty() && now - lags_.front() > cfg_.lag_window) lags_.pop_front();
    ++stats_.lag_episodes;
    if (static_cast<int>(lags_.size()) > cfg_.max_lags) {
      fail({errc::lagged, "the peer keeps falling behind the live stream"}, name, out);
      return true;
    }
    d.lagging = true;
  }
  d.subscribed = false;  // the fan-out detached us (or will be asked to take us again)
  d.subscribing = false;
  serve(name, out);      // resume by delta from what the peer is known to have
  return episode;
}

void peer_sync::on_owner_restart(const std::string& name, clock::time_point now, sync_output& out) {
  if (closed_) return;
  auto it = docs_.find(name);
  if (it == docs_.end()) return;
  auto& d = it->second;
  const bool was_serving = d.subscribed || d.subscribing || d.serving || d.served;
  d.subscribed = false;
  d.subscribing = false;
  if (was_serving) serve(name, out);
  if (d.announced) resync(name, now, out);
}

bool peer_sync::resync(const std::string& name, clock::time_point now, sync_output& out) {
  if (closed_ || !src_.peer_may_write(name)) return false;
  auto& d = doc(name);
  if (d.resyncing) return false;
  while (!d.resyncs.empty() && now - d.resyncs.front() > cfg_.lag_window) d.resyncs.pop_front();
  if (static_cast<int>(d.resyncs.size()) >= cfg_.max_resyncs) return false;
  d.resyncs.push_back(now);
  d.resyncing = true;
  ++stats_.resyncs;
  announce(name, out);
  return true;
}

}  // namespace starling::protocol
