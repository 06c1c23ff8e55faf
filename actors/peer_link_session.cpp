// The sync session of a peer link: applying the peer's batches through the
// document owners (retried, never stalled), subscribing to fan-outs and
// subscribing again when an owner restarts, and handing frames to the
// connection without ever dropping one (see peer_link_state.hpp).

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <algorithm>

#include "actors/errors.hpp"
#include "actors/peer_link_state.hpp"
#include "net/connection.hpp"

namespace starling::actors::link_detail {

void say(self_ptr self, log::level l, const std::string& msg) {
  auto& s = self->state;
  std::string peer = s.sync ? short_id(s.peer) : std::string("-");
  std::string addr = s.conn ? s.conn->peer() : std::string("-");
  log::write(l, "peer_link", msg, {{"peer", peer}, {"addr", addr}});
}

// Who the peer is, for logs and the log limiter: its key once it proved it,
// else its address (without the port, which changes per connection).
std::string peer_label(self_ptr self) {
  auto& s = self->state;
  if (s.sync) return to_hex(s.peer);
  if (!s.conn) return "unconnected";
  const auto& addr = s.conn->peer();
  auto colon = addr.rfind(':');
  return colon == std::string::npos ? addr : addr.substr(0, colon);
}

// The session ends because of the peer's error: counted, and logged at most
// once per peer and code per interval (a peer that keeps reconnecting with
// the same fault must not flood the log).
void count_error(self_ptr self, protocol::errc code, const std::string& detail) {
  auto& s = self->state;
  if (s.counted) return;
  s.counted = true;
  s.ctx->metrics->count_closed_for(code);
  std::uint64_t suppressed = 0;
  auto who = peer_label(self);
  if (!s.ctx->log_limit->allow(who + "/" + protocol::to_string(code), log_limiter::clock::now(), &suppressed)) {
    s.ctx->metrics->log_lines_suppressed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  log::write(log::level::warn, "peer_link", "closing session: peer error",
             {{"code", protocol::to_string(code)}, {"peer", who}, {"detail", detail},
              {"suppressed", std::to_string(suppressed)}});
}

void close_with(self_ptr self, std::uint16_t code, const std::string& reason) {
  auto& s = self->state;
  if (s.closing) return;
  s.closing = true;
  if (s.conn) s.conn->close(code, reason);
}

// Whether the connection takes a frame of `size` plaintext bytes now: its
// queue bound applies between frames, so one larger than the whole queue
// goes alone once the queue is empty (net::ws_connection::send's rule).
// Only this actor sends on the connection, so the queue can only shrink
// between this check and the send.
bool hand_over(self_ptr self, bool binary, const std::string& data) {
  auto& s = self->state;
  const std::size_t wire = data.size() + (s.channel ? auth::sealed_channel::overhead : 0);
  const std::size_t queued = s.conn->queued_bytes();
  if (queued != 0 && queued + wire > s.ctx->send_queue_limit) return false;
  if (s.channel) s.conn->send(s.channel->seal(data, binary ? auth::frame_kind::binary : auth::frame_kind::text), true);
  else s.conn->send(data, binary);
  return true;  // refused only if the connection is closing: nothing more goes out anyway
}

void flush_outbox(self_ptr self) {
  auto& s = self->state;
  while (!s.outbox.empty() && hand_over(self, s.outbox.front().first, s.outbox.front().second)) {
    s.outbox_bytes -= s.outbox.front().second.size();
    s.outbox.pop_front();
  }
}

// What the outbox may hold: our own producers stop at a full queue (the pump
// runs only with room, a live batch that does not fit is a lag), so beyond
// the queue they leave at most one delta page and one change larger than a
// page. More than that is replies to a peer that sends without reading.
std::size_t outbox_limit(self_ptr self) {
  auto& c = *self->state.ctx;
  return c.send_queue_limit + 2 * c.cfg.sync.max_batch_bytes + c.cfg.document.codec.max_encoded_bytes;
}

void schedule_pump(self_ptr self);

// peer_sync counts a frame as sent once it is handed here, so a frame the
// connection cannot take yet waits in the outbox, in order, and goes out
// when the queue drains; the session never drops one.
void send_frame(self_ptr self, bool binary, const std::string& data) {
  auto& s = self->state;
  if (!s.conn || s.closing) return;
  flush_outbox(self);
  if (s.outbox.empty() && hand_over(self, binary, data)) return;
  if (s.outbox_bytes + data.size() > outbox_limit(self)) {
    count_error(self, protocol::errc::lagged, "send queue and outbox full");
    close_with(self, protocol::close_code(protocol::errc::lagged), "lagged");
    return;
  }
  s.outbox_bytes += data.size();
  s.outbox.emplace_back(binary, data);
  schedule_pump(self);
}

void apply_next(self_ptr self, const std::string& doc);
void process(self_ptr self, protocol::sync_output& out);

// A document's owner could not be reached (the lookup failed, or a request
// to it failed because it stopped). Retried after owner_retry_delay; past
// owner_retries consecutive failures the session ends with `internal`
// instead of leaving the document stalled.
void owner_trouble(self_ptr self, const std::string& doc, const caf::error& e, std::function<void()> retry) {
  auto& s = self->state;
  if (s.closing) return;
  const int failures = ++s.owner_failures[doc];
  if (failures > s.ctx->cfg.owner_retries) {
    s.ctx->metrics->owner_unreachable.fetch_add(1, std::memory_order_relaxed);
    say(self, log::level::error, "owner of " + doc + " unreachable after " + std::to_string(failures) +
                                     " attempts: " + render(e) + "; ending the session");
    send_frame(self, false,
               protocol::encode(protocol::error_frame{protocol::errc::internal, "document owner unavailable", doc}));
    count_error(self, protocol::errc::internal, "owner of " + doc + " unreachable: " + render(e));
    close_with(self, protocol::close_code(protocol::errc::internal), "internal");
    return;
  }
  say(self, log::level::warn, "owner of " + doc + " unreachable (attempt " + std::to_string(failures) + "): " +
                                  render(e) + "; retrying");
  auto& waiting = s.retries[doc];
  waiting.push_back(std::move(retry));
  if (waiting.size() == 1) self->delayed_send(self, s.ctx->cfg.owner_retry_delay, retry_atom::value, doc);
}

void with_owner(self_ptr self, const std::string& doc, std::function<void(const doc_owner_actor&)> f,
                std::function<void(const caf::error&)> failed) {
  self->state.owners.with(self, doc, std::move(f), std::move(failed));
}

// Whether a refusal shows the peer itself misbehaving. A change that is
// invalid in itself (signature, document, op, time) would have been refused
// by an honest relayer too. Refusals that depend on what this node knows
// (a fork proof, which branch of a fork it holds, a full pending set, a gap
// that a later batch fills) blame only the change's author: a peer that
// merely relays it is not at fault, unless it is the author.
bool sender_at_fault(self_ptr self, const apply_ack& ack) {
  if (!ack.first_reason) return false;
  switch (*ack.first_reason) {
    case crdt::refusal::bad_signature:
    case crdt::refusal::wrong_doc:
    case crdt::refusal::invalid_op:
    case crdt::refusal::bad_time:
      return true;
    case crdt::refusal::broken_chain:
    case crdt::refusal::quarantined:
    case crdt::refusal::refused_dependency:
      return ack.first_author == self->state.peer;
    case crdt::refusal::chain_gap:
    case crdt::refusal::pending_full:
      return false;
  }
  return true;
}

void apply_next(self_ptr self, const std::string& doc) {
  auto& s = self->state;
  auto& q = s.to_apply[doc];
  if (s.applying[doc] || q.empty()) return;
  s.applying[doc] = true;
  auto batch = std::move(q.front());
  q.pop_front();
  // Everything else already queued for the document goes along, in order:
  // one apply (and one commit) for many frames, so that a live stream of
  // one-change frames is not limited to one commit per change. Bounded
  // below the fan-out's per-subscriber backlog so that publishing the
  // result never detaches local subscribers.
  const std::size_t cap = std::max<std::size_t>(1, std::min<std::size_t>(s.ctx->cfg.timings.max_apply_changes, s.ctx->cfg.subscriber_max_changes / 2));
  while (!q.empty() && batch.size() + q.front().size() <= cap) {
    auto& more = q.front();
    batch.insert(batch.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    q.pop_front();
  }
  // Shared, not captured by value: the callback may be copied while the
  // owner is looked up, and a batch holds thousands of changes.
  auto shared = std::make_shared<std::vector<crdt::change>>(std::move(batch));
  auto again = [=] { apply_next(self, doc); };
  with_owner(
      self, doc,
      [=](const doc_owner_actor& owner) {
        self->request(owner, caf::infinite, apply_atom::value, remote_batch{std::move(*shared), self->state.id})
            .then(
                [=](const apply_ack& ack) {
                  auto& st = self->state;
                  st.applying[doc] = false;
                  st.owner_failures.erase(doc);
                  protocol::sync_output out;
                  if (ack.refused > 0 && sender_at_fault(self, ack)) {
                    st.sync->on_refused(doc, ack.first_refusal, out);
                    process(self, out);
                    return;
                  }
                  // Refused for a reason the peer can mend (a gap, a full
                  // pending set): ask for the delta again, do not wait for
                  // a reconnect.
                  if (ack.refused > 0 && ack.first_reason &&
                      (*ack.first_reason == crdt::refusal::chain_gap ||
                       *ack.first_reason == crdt::refusal::pending_full) &&
                      st.sync->resync(doc, protocol::peer_sync::clock::now(), out))
                    say(self, log::level::info, "changes to " + doc + " refused (" + ack.first_refusal +
                                                    "): asking the peer again");
                  process(self, out);
                  apply_next(self, doc);
                },
                [=](const caf::error& e) {
                  // The owner stopped (a failed commit): the batch is lost
                  // with it; the owner's down message asks the peer again.
                  self->state.applying[doc] = false;
                  owner_trouble(self, doc, e, again);
                });
      },
      [=](const caf::error& e) {
        // Not sent anywhere: back to the front, in order.
        self->state.applying[doc] = false;
        self->state.to_apply[doc].push_front(std::move(*shared));
        owner_trouble(self, doc, e, again);
      });
}

// Subscribes to doc's fan-out and tells peer_sync once it is in place.
void subscribe(self_ptr self, const std::string& doc) {
  auto again = [=] { subscribe(self, doc); };
  with_owner(
      self, doc,
      [=](const doc_owner_actor& owner) {
        self->request(owner, self->state.ctx->cfg.owner_lookup_timeout, subscribe_atom::value, self->state.id,
                      caf::actor_cast<subscriber_actor>(self))
            .then(
                [=](bool) {
                  if (!self->state.sync) return;
                  self->state.owner_failures.erase(doc);
                  protocol::sync_output more;
                  self->state.sync->on_subscribed(doc, more);
                  process(self, more);
                  pump(self);
                },
                [=](const caf::error& e) { owner_trouble(self, doc, e, again); });
      },
      [=](const caf::error& e) { owner_trouble(self, doc, e, again); });
}

// The owner of doc stopped (it restarts from the store on the next
// request): its fan-out went with it, and changes it acknowledged may not
// be committed. Subscribe to the new owner, resume by delta, and ask the
// peer again; not a lag.
void on_owner_down(self_ptr self, const std::string& doc) {
  auto& s = self->state;
  if (!s.sync || s.closing) return;
  s.ctx->metrics->owner_resubscribes.fetch_add(1, std::memory_order_relaxed);
  say(self, log::level::info, "owner of " + doc + " stopped: subscribing to its successor");
  protocol::sync_output out;
  s.sync->on_owner_restart(doc, protocol::peer_sync::clock::now(), out);
  process(self, out);
  pump(self);
}

void note_lag(self_ptr self) {
  auto& s = self->state;
  if (!s.sync) return;
  bool caught_up = !s.sync->delta_pending() && s.sync->held_changes() == 0;
  if (caught_up) s.behind_since.reset();
  else if (!s.behind_since) s.behind_since = std::chrono::steady_clock::now();
}

void schedule_pump(self_ptr self) {
  auto& s = self->state;
  if (s.pump_scheduled || !s.sync || (!s.sync->delta_pending() && s.outbox.empty())) return;
  s.pump_scheduled = true;
  self->delayed_send(self, s.ctx->cfg.timings.pump_interval, pump_atom::value);
}

void pump(self_ptr self) {
  auto& s = self->state;
  if (!s.sync || !s.conn) return;
  flush_outbox(self);
  std::size_t room = s.ctx->send_queue_limit / 2;
  std::size_t queued = s.conn->queued_bytes();
  if (s.outbox.empty() && queued < room) {
    protocol::sync_output out;
    s.sync->pump(room - queued, out);
    process(self, out);
  }
  note_lag(self);
  schedule_pump(self);
}

// The session's counters that the node's metrics add up.
void count_stats(self_ptr self) {
  auto& s = self->state;
  const auto& now = s.sync->counters();
  auto& was = s.counted_stats;
  auto& m = *s.ctx->metrics;
  m.lag_events.fetch_add(now.lag_episodes - was.lag_episodes, std::memory_order_relaxed);
  m.forbidden_batches.fetch_add(now.forbidden_batches - was.forbidden_batches, std::memory_order_relaxed);
  m.resyncs.fetch_add(now.resyncs - was.resyncs, std::memory_order_relaxed);
  was = now;
}

void process(self_ptr self, protocol::sync_output& out) {
  auto& s = self->state;
  for (auto& f : out.frames) send_frame(self, f.binary, f.data);
  for (auto& doc : out.subscribe) subscribe(self, doc);
  for (auto& doc : out.unsubscribe)
    if (auto* owner = s.owners.find(doc)) self->send(*owner, unsubscribe_atom::value, s.id);
  for (auto& [doc, changes] : out.apply) {
    s.to_apply[doc].push_back(std::move(changes));
    apply_next(self, doc);
  }
  if (out.close) {
    count_error(self, out.close->code, out.close->message);
    close_with(self, protocol::close_code(out.close->code), protocol::to_string(out.close->code));
  }
  if (s.sync) count_stats(self);
  out = {};
}

}  // namespace starling::actors::link_detail
