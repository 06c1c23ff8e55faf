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
#include "actors/peer_link_state.hpp"
#include "net/connection.hpp"

namespace starling::actors {

namespace {

using namespace link_detail;

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
void on_session_frame(self_ptr self, bool binary, std::string& data);

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
            close_with(self, protocol::close_code(protocol::errc::internal), "internal");
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
  s.owners = owner_cache(s.node, s.ctx->cfg.owner_lookup_timeout);
  s.id = s.ctx->ids->next();
  self->set_down_handler([=](const caf::down_msg& dm) {
    if (auto doc = self->state.owners.on_down(dm)) on_owner_down(self, *doc);
  });
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
          close_with(self, st.close_code ? *st.close_code : protocol::close_code(protocol::errc::auth_failed),
                     protocol::to_string(st.failure->code));
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
        close_with(self, st.close_code ? *st.close_code : protocol::close_code(protocol::errc::timeout), "timeout");
      },
      [=](pump_atom) {
        self->state.pump_scheduled = false;
        pump(self);
      },
      [=](retry_atom, const std::string& doc) {
        auto it = self->state.retries.find(doc);
        if (it == self->state.retries.end()) return;
        auto todo = std::move(it->second);
        self->state.retries.erase(it);
        for (auto& f : todo) f();
      },
      [=](live_atom, const change_set_ptr& set) {
        auto& s = self->state;
        if (!s.sync) return;
        // Consumed, whether sent, held or left to a delta: the fan-out's
        // backlog is what this actor has not looked at yet.
        if (auto* owner = s.owners.find(set->doc))
          self->send(*owner, ack_atom::value, s.id, static_cast<std::uint64_t>(set->changes.size()),
                     static_cast<std::uint64_t>(set->total_bytes));
        // Sent at once only when the document is live. Decide before
        // peer_sync counts the changes as sent: if the connection cannot
        // take them, they are not sent at all and the session resumes by
        // delta from what the peer really has, on this connection, once it
        // reads again (one lag episode, however many batches it skips). A
        // single change larger than the whole queue goes alone.
        // Batch framing and sealing: a header, a length per change, the seal.
        if (s.sync->live(set->doc)) {
          const std::size_t frame_overhead = 1024 + 16 * set->changes.size();
          const std::size_t queued = s.conn->queued_bytes() + s.outbox_bytes;
          const bool fits = queued + set->total_bytes + frame_overhead <= s.ctx->send_queue_limit ||
                            (queued == 0 && set->changes.size() == 1);
          if (!fits) {
            protocol::sync_output again;
            if (s.sync->on_lagged(set->doc, protocol::peer_sync::clock::now(), again))
              say(self, log::level::info, "send queue full on " + set->doc + ": resuming by delta when it drains");
            process(self, again);
            pump(self);
            return;
          }
        }
        protocol::sync_output out;
        s.sync->on_live(set->doc, set->changes, out);
        process(self, out);
        note_lag(self);
      },
      [=](lagged_atom, const std::string& doc) {
        auto& s = self->state;
        if (!s.sync) return;
        protocol::sync_output out;
        if (s.sync->on_lagged(doc, protocol::peer_sync::clock::now(), out))
          say(self, log::level::warn, "lagged on " + doc + ": resuming by delta");
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
        self->state.owners.for_each([&](const std::string&, const doc_owner_actor& owner) {
          self->send(owner, unsubscribe_atom::value, self->state.id);
        });
        // The dialer reports how a session that did not end cleanly ended.
        if (s.refusal) self->quit(make_error(errc::refused, *s.refusal));
        else if (code == net::close_code::normal || code == net::close_code::going_away) self->quit();
        else self->quit(make_error(errc::peer_closed, std::to_string(code) + " " + reason));
      },
      [=](status_atom) -> peer_status {
        auto& s = self->state;
        peer_status p;
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
        close_with(self, net::close_code::going_away, "node stopping");
        // If the close handshake never completes, do not hold up shutdown.
        self->delayed_send(self, self->state.ctx->cfg.timings.close_timeout, closed_atom::value, net::close_code::abnormal,
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
