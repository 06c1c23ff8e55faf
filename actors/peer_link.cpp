#include "actors/peer_link.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <deque>
#include <iostream>
#include <map>

#include "actors/errors.hpp"
#include "actors/log.hpp"
#include "auth/channel.hpp"
#include "net/connection.hpp"
#include "protocol/handshake.hpp"
#include "protocol/peer_sync.hpp"

namespace starling::actors {

namespace {

class bridge final : public net::connection_handler {
 public:
  explicit bridge(link_actor target) : target_(std::move(target)) {}
  void on_open(const connection_ptr& c) override { caf::anon_send(target_, opened_atom::value, c); }
  void on_frame(const connection_ptr&, bool binary, std::string data) override {
    caf::anon_send(target_, frame_atom::value, binary, std::move(data));
  }
  void on_closed(const connection_ptr&, const net::close_info& info) override {
    caf::anon_send(target_, closed_atom::value, info.code, info.reason.empty() ? info.error : info.reason,
                   info.initiated_locally);
  }

 private:
  link_actor target_;
};

// A delta read page by page from the store (read transactions: any thread).
class store_cursor final : public protocol::delta_cursor {
 public:
  store_cursor(std::shared_ptr<persistence::store> st, std::string doc, frontier theirs)
      : st_(std::move(st)), doc_(std::move(doc)), theirs_(std::move(theirs)) {}
  page next(std::size_t max_bytes) override {
    auto p = next_ ? st_->changes_since(doc_, *next_, max_bytes) : st_->changes_since(doc_, theirs_, max_bytes);
    if (!p) return page{};  // a read failure ends the delta; the peer catches up on reconnect
    next_ = p->next;
    return page{std::move(p->changes), p->next.has_value(), p->behind_horizon};
  }

 private:
  std::shared_ptr<persistence::store> st_;
  std::string doc_;
  frontier theirs_;
  std::optional<persistence::continuation> next_;
};

// What the session may do for this peer, from the handshake's decision.
class session_source final : public protocol::sync_source {
 public:
  session_source(std::shared_ptr<persistence::store> st, auth::permissions perm, std::vector<std::string> patterns)
      : st_(std::move(st)), perm_(perm), patterns_(std::move(patterns)) {}
  bool peer_may_read(const std::string& doc) const override {
    return perm_.has(auth::permission::read) && auth::matches_any(patterns_, doc);
  }
  bool peer_may_write(const std::string& doc) const override {
    return perm_.has(auth::permission::write) && auth::matches_any(patterns_, doc);
  }
  frontier our_frontier(const std::string& doc) override {
    auto f = st_->load_frontier(doc);
    return f ? *f : frontier{};
  }
  std::unique_ptr<protocol::delta_cursor> open_delta(const std::string& doc, const frontier& theirs) override {
    return std::make_unique<store_cursor>(st_, doc, theirs);
  }

 private:
  std::shared_ptr<persistence::store> st_;
  auth::permissions perm_;
  std::vector<std::string> patterns_;
};

struct link_state {
  static inline const char* name = "peer_link";
  std::shared_ptr<link_context> ctx;
  doc_resolver node;
  connection_ptr conn;
  std::optional<protocol::handshake> hs;
  // Session phase.
  std::optional<auth::sealed_channel> channel;
  std::unique_ptr<session_source> source;
  std::unique_ptr<protocol::peer_sync> sync;
  public_key peer;
  subscriber_id id = 0;
  std::map<std::string, doc_owner_actor> owners;
  // Per document: batches waiting for the owner (one apply in flight each,
  // so a peer's changes are applied in the order it sent them).
  std::map<std::string, std::deque<std::vector<crdt::change>>> to_apply;
  std::map<std::string, bool> applying;
  std::map<std::string, bool> resolving;
  bool pump_scheduled = false;
  bool closing = false;
  bool counted = false;  // the session's error is counted (closed_atom must not count it again)
  // Using a join token: the session starts once the node has committed it;
  // frames that arrive meanwhile wait here.
  bool joining = false;
  std::vector<std::pair<bool, std::string>> held_frames;
  // Lag: when the peer stopped being caught up (nothing to send, nothing
  // held back); unset while it is.
  std::optional<std::chrono::steady_clock::time_point> behind_since;
  // Documents the node opened before the session started: announced at start.
  std::vector<std::string> early_docs;
  // The handshake ended with a refusal that waiting cannot change ("code:
  // reason"): the link ends with errc::refused so that its dialer stops.
  std::optional<std::string> refusal;
};

// Refusals that only a change of configuration (ours or the peer's) can
// lift: redialing would get the same answer.
bool permanent_refusal_code(protocol::errc c) {
  switch (c) {
    case protocol::errc::token_invalid:
    case protocol::errc::untrusted:
    case protocol::errc::revoked:
    case protocol::errc::unsupported_version: return true;
    default: return false;
  }
}

using self_ptr = link_actor::stateful_pointer<link_state>;

std::atomic<subscriber_id> next_link_id{1};

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

// peer_sync counts a frame as sent once it is handed over, so a frame the
// connection refuses (its queue is full) cannot just be dropped: the peer
// would miss those changes, and the sealed stream would be out of step.
// The session ends instead; the peer reconnects and resumes by frontier.
void send_frame(self_ptr self, bool binary, const std::string& data) {
  auto& s = self->state;
  if (!s.conn || s.closing) return;
  bool queued = s.channel
                    ? s.conn->send(s.channel->seal(data, binary ? auth::frame_kind::binary : auth::frame_kind::text), true)
                    : s.conn->send(data, binary);
  if (!queued && s.conn->is_open()) {
    count_error(self, protocol::errc::lagged, "send queue full");
    close_with(self, protocol::close_code(protocol::errc::lagged), "lagged");
  }
}

void apply_next(self_ptr self, const std::string& doc);
void process(self_ptr self, protocol::sync_output& out);

void with_owner(self_ptr self, const std::string& doc, std::function<void(const doc_owner_actor&)> f) {
  auto& s = self->state;
  auto it = s.owners.find(doc);
  if (it != s.owners.end()) return f(it->second);
  self->request(s.node, caf::infinite, doc_atom::value, doc)
      .then([=](const doc_owner_actor& owner) {
              self->state.owners[doc] = owner;
              f(owner);
            },
            [=](const caf::error& e) { say(self, log::level::warn, "no owner for " + doc + ": " + render(e)); });
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
  const std::size_t cap = std::max<std::size_t>(1, std::min<std::size_t>(8192, s.ctx->cfg.subscriber_max_changes / 2));
  while (!q.empty() && batch.size() + q.front().size() <= cap) {
    auto& more = q.front();
    batch.insert(batch.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    q.pop_front();
  }
  // Shared, not captured by value: the callback may be copied while the
  // owner is looked up, and a batch holds thousands of changes.
  auto shared = std::make_shared<std::vector<crdt::change>>(std::move(batch));
  with_owner(self, doc, [=](const doc_owner_actor& owner) {
    self->request(owner, caf::infinite, apply_atom::value, remote_batch{std::move(*shared), self->state.id})
        .then(
            [=](const apply_ack& ack) {
              self->state.applying[doc] = false;
              if (ack.refused > 0 && sender_at_fault(self, ack)) {
                protocol::sync_output out;
                self->state.sync->on_refused(doc, ack.first_refusal, out);
                process(self, out);
                return;
              }
              apply_next(self, doc);
            },
            [=](const caf::error& e) {
              self->state.applying[doc] = false;
              say(self, log::level::warn, "apply to " + doc + " failed: " + render(e));
              close_with(self, 4500, "internal");
            });
  });
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
  if (s.pump_scheduled || !s.sync || !s.sync->delta_pending()) return;
  s.pump_scheduled = true;
  self->delayed_send(self, std::chrono::milliseconds(5), pump_atom::value);
}

void pump(self_ptr self) {
  auto& s = self->state;
  if (!s.sync || !s.conn) return;
  std::size_t room = s.ctx->send_queue_limit / 2;
  std::size_t queued = s.conn->queued_bytes();
  if (queued < room) {
    protocol::sync_output out;
    s.sync->pump(room - queued, out);
    process(self, out);
  }
  note_lag(self);
  schedule_pump(self);
}

void process(self_ptr self, protocol::sync_output& out) {
  auto& s = self->state;
  for (auto& f : out.frames) send_frame(self, f.binary, f.data);
  for (auto& doc : out.subscribe)
    with_owner(self, doc, [=](const doc_owner_actor& owner) {
      self->request(owner, caf::infinite, subscribe_atom::value, self->state.id,
                    caf::actor_cast<subscriber_actor>(self))
          .then([=](bool) {
            protocol::sync_output more;
            self->state.sync->on_subscribed(doc, more);
            process(self, more);
            pump(self);
          });
    });
  for (auto& doc : out.unsubscribe)
    with_owner(self, doc, [=](const doc_owner_actor& owner) { self->send(owner, unsubscribe_atom::value, self->state.id); });
  for (auto& [doc, changes] : out.apply) {
    s.to_apply[doc].push_back(std::move(changes));
    apply_next(self, doc);
  }
  if (out.close) {
    count_error(self, out.close->code, out.close->message);
    close_with(self, protocol::close_code(out.close->code), protocol::to_string(out.close->code));
  }
  out = {};
}

void on_session_frame(self_ptr self, bool binary, std::string& data);

// Authenticated (and any join token committed): seal the connection and
// start syncing.
void open_session(self_ptr self) {
  auto& s = self->state;
  const auto& r = s.hs->result();
  s.ctx->metrics->sessions_authenticated.fetch_add(1, std::memory_order_relaxed);
  auto [channel, header] = auth::sealed_channel::start(r.keys);
  s.channel.emplace(std::move(channel));
  s.conn->send(header, true);  // the first frame after auth, unsealed
  s.source = std::make_unique<session_source>(s.ctx->store, r.perm, r.doc_patterns);
  s.sync = std::make_unique<protocol::peer_sync>(*s.source, s.ctx->cfg.sync);
  say(self, log::level::info, "authenticated, protocol v" + std::to_string(r.version));
  // Every document the node has, stored or open (a document opened but not
  // yet committed is not in the store's list).
  self->request(s.node, caf::infinite, docs_atom::value)
      .then(
          [=](std::vector<std::string> docs) {
            auto& st = self->state;
            for (auto& d : st.early_docs)
              if (std::find(docs.begin(), docs.end(), d) == docs.end()) docs.push_back(d);
            st.early_docs.clear();
            protocol::sync_output out;
            st.sync->start(docs, out);
            process(self, out);
            pump(self);
          },
          [=](const caf::error& e) {
            say(self, log::level::warn, "cannot list documents: " + render(e));
            close_with(self, 4500, "internal");
          });
  auto held = std::move(s.held_frames);
  s.held_frames.clear();
  for (auto& [bin, data] : held)
    if (!s.closing) on_session_frame(self, bin, data);
}

void start_session(self_ptr self) {
  auto& s = self->state;
  const auto& r = s.hs->result();
  s.peer = r.peer_id;
  if (!r.token_used) return open_session(self);
  // A join token: the node commits its use (and the key's trust) before the
  // session starts; the store refuses a token used by another connection.
  s.joining = true;
  self->request(s.node, caf::infinite, join_atom::value, *r.token_used, r.peer_id)
      .then(
          [=](bool used) {
            self->state.joining = false;
            if (used) return open_session(self);
            self->state.conn->send(
                protocol::encode(protocol::error_frame{protocol::errc::token_invalid, "token already used", {}}),
                false);
            count_error(self, protocol::errc::token_invalid, "join token used by another connection");
            close_with(self, protocol::close_code(protocol::errc::token_invalid), "token_invalid");
          },
          [=](const caf::error& e) {
            // This node failed (a full disk, say), not the joiner: it is told
            // so, and the token stays unused for a later attempt.
            self->state.joining = false;
            say(self, log::level::error, "cannot record the join: " + render(e));
            self->state.conn->send(
                protocol::encode(protocol::error_frame{protocol::errc::internal, "the node could not record the join", {}}),
                false);
            close_with(self, protocol::close_code(protocol::errc::internal), "internal");
          });
}

void on_session_frame(self_ptr self, bool binary, std::string& data) {
  auto& s = self->state;
  if (!binary) {
    // After authentication only the peer's refusal of our auth may come
    // unsealed (it decided before it saw our header); anything else is a
    // protocol violation.
    auto f = protocol::decode_control(data);
    if (f && std::holds_alternative<protocol::error_frame>(*f)) {
      say(self, log::level::warn, "peer refused: " + std::get<protocol::error_frame>(*f).reason);
      s.counted = true;  // the peer's verdict; counted as closed_by_peer when its close arrives
      close_with(self, protocol::close_code(std::get<protocol::error_frame>(*f).code), "refused");
      return;
    }
    send_frame(self, false, protocol::encode(protocol::error_frame{protocol::errc::malformed, "unsealed frame after authentication", {}}));
    count_error(self, protocol::errc::malformed, "unsealed frame after authentication");
    close_with(self, protocol::close_code(protocol::errc::malformed), "malformed");
    return;
  }
  if (!s.channel->has_header()) {
    if (!s.channel->accept_header(data)) {
      count_error(self, protocol::errc::malformed, "bad secretstream header");
      close_with(self, protocol::close_code(protocol::errc::malformed), "malformed");
    }
    return;
  }
  auto opened = s.channel->open(data);
  if (!opened) {
    // Our direction of the channel has its own key and counter: the error
    // frame can still be sealed.
    send_frame(self, false, protocol::encode(protocol::error_frame{protocol::errc::malformed, "frame failed to open", {}}));
    count_error(self, protocol::errc::malformed, "frame failed to open (sealed channel)");
    close_with(self, protocol::close_code(protocol::errc::malformed), "malformed");
    return;
  }
  protocol::sync_output out;
  if (opened->kind == auth::frame_kind::text) s.sync->on_text(opened->plaintext, out);
  else s.sync->on_binary(opened->plaintext, out);
  process(self, out);
  pump(self);
}

link_actor::behavior_type link_behavior(self_ptr self, std::shared_ptr<link_context> ctx, doc_resolver node,
                                        std::optional<std::string> join_token) {
  auto& s = self->state;
  s.ctx = std::move(ctx);
  s.node = std::move(node);
  s.id = next_link_id++;
  protocol::handshake_config hc;
  hc.join_token = std::move(join_token);
  hc.timeout = s.ctx->cfg.auth_timeout;
  s.hs.emplace(*s.ctx->id, hc, *s.ctx->trust);
  return {
      [=](opened_atom, const connection_ptr& conn) {
        auto& s = self->state;
        s.conn = conn;
        s.ctx->metrics->sessions_opened.fetch_add(1, std::memory_order_relaxed);
        auto st = s.hs->start();
        for (auto& f : st.frames) conn->send(f, false);
        self->delayed_send(self, s.hs->config().timeout, timeout_atom::value);
      },
      [=](frame_atom, bool binary, std::string& data) {
        auto& s = self->state;
        if (s.joining) {
          s.held_frames.emplace_back(binary, std::move(data));
          return;
        }
        if (s.sync) return on_session_frame(self, binary, data);
        auto st = binary ? s.hs->on_binary() : s.hs->on_frame(data);
        for (auto& f : st.frames) s.conn->send(f, false);
        if (st.failure) {
          bool refused_by_peer = false;
          if (!binary) {
            auto decoded = protocol::decode_control(data);
            refused_by_peer = decoded && std::holds_alternative<protocol::error_frame>(*decoded);
          }
          if (refused_by_peer) {  // the peer's verdict on us: counted as such, not as its fault
            s.counted = true;
            s.ctx->metrics->count_closed_by_peer(st.failure->code);
            say(self, log::level::warn, std::string("refused by the peer: ") + protocol::to_string(st.failure->code) +
                                           ": " + st.failure->reason);
          } else {
            count_error(self, st.failure->code, st.failure->reason);
          }
          if (permanent_refusal_code(st.failure->code))
            s.refusal = std::string(protocol::to_string(st.failure->code)) + ": " + st.failure->reason;
          close_with(self, st.close_code ? *st.close_code : 4401, protocol::to_string(st.failure->code));
          return;
        }
        if (st.state == protocol::handshake_state::done) start_session(self);
      },
      [=](timeout_atom) {
        auto& s = self->state;
        if (s.sync || !s.hs) return;
        auto st = s.hs->on_timeout();
        if (!st.failure) return;
        for (auto& f : st.frames) s.conn->send(f, false);
        count_error(self, st.failure->code, st.failure->reason);
        close_with(self, st.close_code ? *st.close_code : 4408, "timeout");
      },
      [=](pump_atom) {
        self->state.pump_scheduled = false;
        pump(self);
      },
      [=](live_atom, const change_set_ptr& set) {
        auto& s = self->state;
        if (!s.sync) return;
        // Decide before peer_sync counts the changes as sent: if the
        // connection cannot take them, they are not sent at all and the
        // session resumes by delta from what the peer really has.
        // Batch framing and sealing: a header, a length per change, the seal.
        const std::size_t frame_overhead = 1024 + 16 * set->changes.size();
        if (s.conn->queued_bytes() + set->total_bytes + frame_overhead > s.ctx->send_queue_limit) {
          s.ctx->metrics->lag_events.fetch_add(1, std::memory_order_relaxed);
          protocol::sync_output again;
          s.sync->on_lagged(set->doc, protocol::peer_sync::clock::now(), again);
          process(self, again);
          pump(self);
          return;
        }
        protocol::sync_output out;
        s.sync->on_live(set->doc, set->changes, out);
        process(self, out);
        note_lag(self);
        with_owner(self, set->doc, [=](const doc_owner_actor& owner) {
          self->send(owner, ack_atom::value, self->state.id, static_cast<std::uint64_t>(set->changes.size()),
                     static_cast<std::uint64_t>(set->total_bytes));
        });
      },
      [=](lagged_atom, const std::string& doc) {
        auto& s = self->state;
        if (!s.sync) return;
        s.ctx->metrics->lag_events.fetch_add(1, std::memory_order_relaxed);
        say(self, log::level::warn, "lagged on " + doc + ": resuming by delta");
        protocol::sync_output out;
        s.sync->on_lagged(doc, protocol::peer_sync::clock::now(), out);
        process(self, out);
        pump(self);
      },
      [=](revoke_atom, const public_key& key) {
        auto& s = self->state;
        if (!s.sync || s.peer != key || s.closing) return;
        send_frame(self, false, protocol::encode(protocol::error_frame{protocol::errc::revoked, "key revoked", {}}));
        count_error(self, protocol::errc::revoked, "key revoked while connected");
        close_with(self, protocol::close_code(protocol::errc::revoked), "revoked");
      },
      [=](doc_atom, const std::string& doc) {
        auto& s = self->state;
        if (!s.sync) return s.early_docs.push_back(doc);
        protocol::sync_output out;
        s.sync->on_new_doc(doc, out);
        process(self, out);
      },
      [=](closed_atom, std::uint16_t code, const std::string& reason, bool by_us) {
        auto& s = self->state;
        s.ctx->metrics->sessions_closed.fetch_add(1, std::memory_order_relaxed);
        if (by_us && code == net::close_code::too_big) count_error(self, protocol::errc::too_large, reason);
        else if (by_us && reason.rfind("keepalive", 0) == 0) count_error(self, protocol::errc::timeout, reason);
        else if (!by_us && !s.counted && code >= 4000 && code < 5000)
          s.ctx->metrics->count_closed_by_peer(protocol::errc_from_close_code(code).value_or(protocol::errc::unrecognized));
        say(self, log::level::info, "closed " + std::to_string(code) + " " + reason);
        for (auto& [doc, owner] : self->state.owners) self->send(owner, unsubscribe_atom::value, self->state.id);
        // The dialer reports how a session that did not end cleanly ended.
        if (s.refusal) self->quit(make_error(errc::refused, *s.refusal));
        else if (code == net::close_code::normal || code == net::close_code::going_away) self->quit();
        else self->quit(make_error(errc::peer_closed, std::to_string(code) + " " + reason));
      },
      [=](status_atom) -> peer_info {
        auto& s = self->state;
        peer_info p;
        if (s.sync) {
          p.peer_id = to_hex(s.peer);
          p.state = s.closing ? "closing" : s.sync->delta_pending() ? "syncing" : "live";
          p.changes_sent = s.sync->counters().changes_sent;
          p.changes_received = s.sync->counters().changes_received;
          p.lag_changes = s.sync->held_changes();
          for (auto& doc : s.sync->documents()) {
            const frontier* theirs = s.sync->peer_known(doc);
            if (!theirs || !s.source->peer_may_write(doc)) continue;
            auto ours = s.source->our_frontier(doc);  // a read transaction
            for (auto& [author, head] : *theirs) {
              auto it = ours.find(author);
              std::uint64_t have = it == ours.end() ? 0 : it->second.seq;
              if (head.seq > have) p.behind_changes += head.seq - have;
            }
          }
          if (s.behind_since)
            p.lag_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - *s.behind_since).count();
        } else {
          p.state = s.closing ? "closing" : "handshake";
        }
        if (s.conn) {
          p.bytes_in = s.conn->bytes_in();
          p.bytes_out = s.conn->bytes_out();
          p.address = s.conn->peer();
          p.dialed = !s.conn->accepted();
          p.queued_bytes = s.conn->queued_bytes();
        }
        return p;
      },
      [=](stop_atom) {
        if (!self->state.conn) return self->quit();  // still dialing: nothing to close
        close_with(self, 1001, "node stopping");
        // If the close handshake never completes, do not hold up shutdown.
        self->delayed_send(self, std::chrono::seconds(2), closed_atom::value, std::uint16_t{1006},
                           std::string("close timed out"), true);
      },
  };
}

}  // namespace

std::shared_ptr<net::connection_handler> make_bridge(const link_actor& target) {
  return std::make_shared<bridge>(target);
}

link_actor spawn_link(caf::actor_system& sys, std::shared_ptr<link_context> ctx, doc_resolver node,
                      std::optional<std::string> join_token) {
  return sys.spawn(link_behavior, std::move(ctx), std::move(node), std::move(join_token));
}

}  // namespace starling::actors
