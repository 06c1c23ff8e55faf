// A scriptable test peer: a raw client that speaks the real sync protocol to
// a real node over a real loopback WebSocket, so that tests can misbehave on
// purpose (bad signatures, replayed auth, garbage frames, forged changes).
//
// It runs its own net::runtime and dials with net::dial; every connection
// event (text frame, binary frame, close) goes into a mutex + condvar queue
// that the test thread drains with deadlines (never a fixed sleep).
//
// The honest parts reuse the pure protocol classes exactly as
// actors/peer_link.cpp does: protocol::handshake (with this peer's own
// identity, a trust policy that trusts the node, an optional join token and
// configurable versions), then auth::sealed_channel: our stream header goes
// out as the first binary frame after the handshake, the node's header is
// accepted from the first binary frame it sends, and every later frame is
// sealed / opened.
//
// The dishonest parts are raw: send any unsealed text or binary frame, send
// any plaintext sealed, rewrite or drop handshake frames through a filter,
// and read back every frame sent (e.g. the `auth` frame, to replay it).
//
// Threading: one test thread drives a test_peer; only the net handler runs
// on the runtime's io thread, and it only pushes into the queue.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "auth/channel.hpp"
#include "auth/identity.hpp"
#include "auth/trust.hpp"
#include "crdt/change.hpp"
#include "crdt/document.hpp"
#include "crdt/hlc.hpp"
#include "net/connection.hpp"
#include "net/dial.hpp"
#include "net/runtime.hpp"
#include "net/settings.hpp"
#include "protocol/binary.hpp"
#include "protocol/control.hpp"
#include "protocol/errors.hpp"
#include "protocol/handshake.hpp"

namespace starling::test {

// One thing that happened on the connection, as the net layer reported it.
struct net_event {
  enum class kind { text, binary, closed };
  kind k = kind::text;
  std::string data;
  net::close_info close;  // kind::closed
};

// A thread-safe queue of connection events, filled by the io thread.
class event_queue {
 public:
  void push(net_event e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push_back(std::move(e));
    }
    cv_.notify_all();
  }
  std::optional<net_event> pop(std::chrono::steady_clock::time_point until) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_until(lock, until, [&] { return !q_.empty(); })) return std::nullopt;
    auto e = std::move(q_.front());
    q_.pop_front();
    return e;
  }
  void set_open(std::shared_ptr<net::ws_connection> c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      conn_ = std::move(c);
      opened_ = true;
    }
    cv_.notify_all();
  }
  void set_dial_error(std::string e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      dial_error_ = std::move(e);
      dial_failed_ = true;
    }
    cv_.notify_all();
  }
  // Waits for the WebSocket to open (or the dial to fail).
  std::shared_ptr<net::ws_connection> wait_open(std::chrono::steady_clock::time_point until, std::string* error) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, until, [&] { return opened_ || dial_failed_; });
    if (error) *error = dial_failed_ ? dial_error_ : (opened_ ? "" : "timed out waiting for the WebSocket to open");
    return conn_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<net_event> q_;
  std::shared_ptr<net::ws_connection> conn_;
  bool opened_ = false;
  bool dial_failed_ = false;
  std::string dial_error_;
};

class queue_handler final : public net::connection_handler {
 public:
  explicit queue_handler(std::shared_ptr<event_queue> q) : q_(std::move(q)) {}
  void on_open(const std::shared_ptr<net::ws_connection>& c) override { q_->set_open(c); }
  void on_frame(const std::shared_ptr<net::ws_connection>&, bool binary, std::string data) override {
    q_->push(net_event{binary ? net_event::kind::binary : net_event::kind::text, std::move(data), {}});
  }
  void on_closed(const std::shared_ptr<net::ws_connection>&, const net::close_info& info) override {
    q_->push(net_event{net_event::kind::closed, {}, info});
  }

 private:
  std::shared_ptr<event_queue> q_;
};

// Trusts one key (the node) with read and write, or any key when none is set.
class trust_node_policy final : public auth::trust_policy {
 public:
  explicit trust_node_policy(std::optional<public_key> node) : node_(node) {}
  auth::decision check_peer(const public_key& peer, const std::optional<std::string>&) override {
    if (node_ && peer != *node_) return auth::decision::reject(auth::rejection::untrusted, "not the node under test");
    return auth::decision::accept(auth::permissions(auth::permission::read) | auth::permission::write, {});
  }

 private:
  std::optional<public_key> node_;
};

// A frame as it went out on the wire (sealed frames: also the plaintext).
struct sent_frame {
  bool binary = false;
  std::string wire;
  bool sealed = false;
  std::string plaintext;  // for sealed frames
};

// A frame received after the handshake, already unsealed when it was sealed.
struct message {
  enum class kind {
    text,             // sealed text (a control frame)
    binary,           // sealed binary (a batch or snapshot chunk)
    unsealed_text,    // a text frame in the clear (e.g. an error frame before sealing)
    unsealed_binary,  // a binary frame in the clear that was not the stream header
    bad_seal,         // a binary frame that did not open
    closed,
  };
  kind k = kind::text;
  std::string data;
  net::close_info close;
};

// What the handshake ended with, seen from the test peer.
struct handshake_outcome {
  protocol::handshake_state state = protocol::handshake_state::awaiting_hello;  // ours
  std::optional<protocol::handshake_failure> local_failure;  // our machine failed (not sent)
  bool sealed = false;                         // both stream headers exchanged: the session is up
  std::optional<protocol::error_frame> error;  // an error frame the node sent
  std::optional<net::close_info> closed;       // the connection ended
  bool ok() const { return sealed && !error && !closed; }
};

// What the node did with us at the end: its last error frame and the close.
struct ending {
  std::optional<protocol::error_frame> error;
  std::optional<net::close_info> close;
  std::vector<message> seen;  // everything received before the close
  std::uint16_t close_code() const { return close ? close->code : 0; }
  protocol::errc code() const { return error ? error->code : protocol::errc::unrecognized; }
};

// The decoded changes of batch frames of one document, up to its `ready`.
struct sync_result {
  bool ready = false;
  std::vector<crdt::change> changes;
  std::vector<protocol::frontier_frame> frontiers;  // frontier frames seen meanwhile
  std::optional<protocol::error_frame> error;
  std::optional<net::close_info> close;
};

inline std::string ws_url(std::uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/v1/sync"; }

// Decodes an error control frame; nullopt for anything else.
inline std::optional<protocol::error_frame> decode_error_frame(std::string_view text) {
  auto f = protocol::decode_control(text);
  if (!f) return std::nullopt;
  if (auto* e = std::get_if<protocol::error_frame>(&*f)) return *e;
  return std::nullopt;
}

inline net::settings test_peer_net() {
  net::settings s;
  s.handshake_timeout = std::chrono::seconds(5);
  s.connect_timeout = std::chrono::seconds(5);
  s.shutdown_timeout = std::chrono::seconds(2);
  return s;
}

struct test_peer_options {
  std::optional<public_key> trust;  // the node's key; nullopt: trust whoever answers
  std::vector<std::uint32_t> versions = protocol::supported_versions();
  std::optional<std::string> join_token;
  net::settings net = test_peer_net();
  std::chrono::milliseconds wait{10'000};  // default deadline of the blocking calls
};

class test_peer {
 public:
  using ms = std::chrono::milliseconds;
  // Rewrites (or drops, with nullopt) each handshake frame before it is sent.
  using frame_filter = std::function<std::optional<std::string>(const std::string& frame)>;

  using options = test_peer_options;

  explicit test_peer(auth::identity id, options o = options())
      : id_(std::make_shared<auth::identity>(std::move(id))),
        opt_(std::move(o)),
        policy_(opt_.trust),
        rt_(std::make_unique<net::runtime>(opt_.net)),
        q_(std::make_shared<event_queue>()) {
    rt_->start();
  }
  ~test_peer() {
    if (conn_) conn_->close(net::close_code::normal, "test peer done");
    rt_->stop();
  }
  test_peer(const test_peer&) = delete;
  test_peer& operator=(const test_peer&) = delete;

  const auth::identity& id() const { return *id_; }
  const crypto::keypair& keys() const { return id_->keys(); }
  options& opts() { return opt_; }

  // ---------------------------------------------------------------- connection

  // Dials the node and waits for the WebSocket to open.
  bool connect(const std::string& url, std::string* error = nullptr) {
    auto q = q_;
    net::dial(*rt_, url, std::make_shared<queue_handler>(q),
              [q](const std::shared_ptr<net::ws_connection>& c, const std::string& err) {
                if (!c) q->set_dial_error(err);
              },
              opt_.net);
    std::string err;
    conn_ = q_->wait_open(deadline(opt_.wait), &err);
    if (error) *error = err;
    return conn_ != nullptr;
  }
  bool connected() const { return conn_ && conn_->is_open(); }
  void close(std::uint16_t code = net::close_code::normal) {
    if (conn_) conn_->close(code, "test peer closes");
  }

  // Next raw event from the net layer, or nullopt after `wait`.
  std::optional<net_event> next(ms wait) { return q_->pop(deadline(wait)); }

  // -------------------------------------------------------------- raw sending

  bool send_text(std::string text) { return send_raw(false, std::move(text)); }
  bool send_binary(bytes data) { return send_raw(true, std::move(data)); }
  // Seals plaintext on our stream (the session must be up) and sends it.
  bool send_sealed(byte_view plaintext, auth::frame_kind kind) {
    if (!channel_) return false;
    auto wire = channel_->seal(plaintext, kind);
    sent_.push_back(sent_frame{true, wire, true, std::string(plaintext)});
    return conn_ && conn_->send(std::move(wire), true);
  }
  bool send_sealed_text(const std::string& text) { return send_sealed(text, auth::frame_kind::text); }
  bool send_sealed_binary(const bytes& data) { return send_sealed(data, auth::frame_kind::binary); }

  const std::vector<sent_frame>& sent() const { return sent_; }
  // The first sent text frame of a type ("hello", "auth"), as it went out.
  std::optional<std::string> sent_control(const char* type) const {
    for (auto& f : sent_) {
      if (f.binary || f.sealed) continue;
      auto d = protocol::decode_control(f.wire);
      if (d && std::string(protocol::type_name(*d)) == type) return f.wire;
    }
    return std::nullopt;
  }

  // ---------------------------------------------------------------- handshake

  // Runs the client side of the hello/auth handshake, then starts the sealed
  // channel (our header out, the node's header in). Every frame the
  // handshake produces passes through `filter` first. Our own machine's
  // error frames are never sent (we watch what the node does), and our
  // stream header is sent only if our auth actually went out unchanged.
  handshake_outcome handshake(frame_filter filter = {}, std::optional<ms> wait = std::nullopt) {
    handshake_outcome out;
    protocol::handshake_config hc;
    hc.versions = opt_.versions;
    hc.join_token = opt_.join_token;
    hs_.emplace(*id_, hc, policy_);
    bool auth_sent_honestly = false;
    auto emit = [&](const std::vector<std::string>& frames) {
      for (auto& f : frames) {
        auto d = protocol::decode_control(f);
        bool is_auth = d && std::holds_alternative<protocol::auth_frame>(*d);
        std::optional<std::string> g = filter ? filter(f) : std::optional<std::string>(f);
        if (!g) continue;
        if (is_auth && *g == f) auth_sent_honestly = true;
        send_text(*g);
      }
    };
    emit(hs_->start().frames);
    auto until = deadline(wait.value_or(opt_.wait));
    while (true) {
      auto e = q_->pop(until);
      if (!e) break;  // timed out: out says how far we got
      if (e->k == net_event::kind::closed) {
        out.closed = e->close;
        break;
      }
      if (e->k == net_event::kind::text) {
        if (hs_->state() == protocol::handshake_state::done || hs_->state() == protocol::handshake_state::failed) {
          // The node refused our auth (or timed us out) after we finished.
          if (auto ef = decode_error_frame(e->data)) out.error = ef;
          continue;
        }
        auto st = hs_->on_frame(e->data);
        if (st.failure) {
          if (st.failure->from_peer) {
            out.error = decode_error_frame(e->data);
          } else {
            out.local_failure = st.failure;  // kept to ourselves
          }
          continue;
        }
        emit(st.frames);
        if (st.state == protocol::handshake_state::done && auth_sent_honestly && !channel_) {
          auto [ch, header] = auth::sealed_channel::start(hs_->result().keys);
          channel_.emplace(std::move(ch));
          send_binary(header);
        }
        continue;
      }
      // Binary: the node's stream header, once we are done.
      if (hs_->state() != protocol::handshake_state::done || !channel_) {
        hs_->on_binary();
        continue;
      }
      if (!channel_->has_header()) {
        if (channel_->accept_header(e->data)) {
          out.sealed = true;
          break;
        }
      }
    }
    out.state = hs_->state();
    if (hs_->failure() && !out.local_failure && !hs_->failure()->from_peer) out.local_failure = hs_->failure();
    return out;
  }

  bool session_up() const { return channel_ && channel_->has_header(); }
  const protocol::handshake_result* handshake_result() const {
    return hs_ && hs_->state() == protocol::handshake_state::done ? &hs_->result() : nullptr;
  }

  // Filters for handshake(): rewrite the auth frame.
  static frame_filter corrupt_auth() {
    return [](const std::string& f) -> std::optional<std::string> {
      auto d = protocol::decode_control(f);
      if (!d || !std::holds_alternative<protocol::auth_frame>(*d)) return f;
      auto a = std::get<protocol::auth_frame>(*d);
      a.sig.v[7] ^= 0x01;
      return protocol::encode(a);
    };
  }
  static frame_filter replace_auth(std::string replacement) {
    return [replacement](const std::string& f) -> std::optional<std::string> {
      auto d = protocol::decode_control(f);
      if (d && std::holds_alternative<protocol::auth_frame>(*d)) return replacement;
      return f;
    };
  }
  static frame_filter drop_auth() {
    return [](const std::string& f) -> std::optional<std::string> {
      auto d = protocol::decode_control(f);
      if (d && std::holds_alternative<protocol::auth_frame>(*d)) return std::nullopt;
      return f;
    };
  }

  // ------------------------------------------------------------------ receive

  // The next frame after the handshake (opened when sealed), or the close.
  std::optional<message> recv(std::optional<ms> wait = std::nullopt) {
    auto until = deadline(wait.value_or(opt_.wait));
    while (true) {
      auto e = q_->pop(until);
      if (!e) return std::nullopt;
      message m;
      switch (e->k) {
        case net_event::kind::closed:
          m.k = message::kind::closed;
          m.close = e->close;
          return m;
        case net_event::kind::text:
          m.k = message::kind::unsealed_text;
          m.data = std::move(e->data);
          return m;
        case net_event::kind::binary:
          if (!channel_) {
            m.k = message::kind::unsealed_binary;
            m.data = std::move(e->data);
            return m;
          }
          if (!channel_->has_header()) {
            if (channel_->accept_header(e->data)) continue;
            m.k = message::kind::bad_seal;
            return m;
          }
          auto o = channel_->open(e->data);
          if (!o) {
            m.k = message::kind::bad_seal;
            m.data = std::move(e->data);
            return m;
          }
          m.k = o->kind == auth::frame_kind::text ? message::kind::text : message::kind::binary;
          m.data = std::move(o->plaintext);
          return m;
      }
    }
  }

  // Reads everything until the connection closes (or `wait` passes) and
  // keeps the last error frame seen, sealed or not.
  ending until_closed(std::optional<ms> wait = std::nullopt) {
    ending out;
    auto until = std::chrono::steady_clock::now() + wait.value_or(opt_.wait);
    while (true) {
      auto left = std::chrono::duration_cast<ms>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto m = recv(left);
      if (!m) break;
      if (m->k == message::kind::closed) {
        out.close = m->close;
        break;
      }
      if (m->k == message::kind::text || m->k == message::kind::unsealed_text)
        if (auto e = decode_error_frame(m->data)) out.error = e;
      out.seen.push_back(std::move(*m));
    }
    return out;
  }

  // ---------------------------------------------------------------------- sync

  bool send_frontier(const std::string& doc, const frontier& f = {}) {
    return send_sealed_text(protocol::encode(protocol::frontier_frame{doc, f}));
  }
  bool send_ready(const std::string& doc) { return send_sealed_text(protocol::encode(protocol::ready_frame{doc})); }
  bool send_batch(const std::string& doc, const std::vector<crdt::change>& changes) {
    return send_sealed_binary(protocol::encode_batch(doc, changes));
  }

  // Reads until `ready{doc}`, decoding the changes of doc's batches. Other
  // frames are kept (frontiers) or skipped; an error frame or the close ends it.
  sync_result read_until_ready(const std::string& doc, std::optional<ms> wait = std::nullopt) {
    sync_result out;
    auto until = std::chrono::steady_clock::now() + wait.value_or(opt_.wait);
    while (true) {
      auto left = std::chrono::duration_cast<ms>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto m = recv(left);
      if (!m) break;
      if (m->k == message::kind::closed) {
        out.close = m->close;
        break;
      }
      if (m->k == message::kind::binary) {
        auto b = protocol::decode_batch(m->data);
        if (b && b->doc == doc)
          for (auto& c : b->changes) out.changes.push_back(std::move(c));
        continue;
      }
      if (m->k != message::kind::text && m->k != message::kind::unsealed_text) continue;
      auto f = protocol::decode_control(m->data);
      if (!f) continue;
      if (auto* e = std::get_if<protocol::error_frame>(&*f)) {
        out.error = *e;
        continue;  // the close follows
      }
      if (auto* fr = std::get_if<protocol::frontier_frame>(&*f)) {
        out.frontiers.push_back(*fr);
        continue;
      }
      if (auto* r = std::get_if<protocol::ready_frame>(&*f))
        if (r->doc == doc) {
          out.ready = true;
          break;
        }
    }
    return out;
  }

  // Asks for the whole document (an empty frontier) and reads the delta.
  sync_result fetch(const std::string& doc, std::optional<ms> wait = std::nullopt) {
    if (!send_frontier(doc, {})) return {};
    return read_until_ready(doc, wait);
  }

  // Reads batches of doc until `pred(changes so far)` holds, or the wait ends.
  template <class Pred>
  std::vector<crdt::change> read_changes_until(const std::string& doc, Pred pred, std::optional<ms> wait = std::nullopt) {
    std::vector<crdt::change> got;
    auto until = std::chrono::steady_clock::now() + wait.value_or(opt_.wait);
    while (!pred(got)) {
      auto left = std::chrono::duration_cast<ms>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto m = recv(left);
      if (!m || m->k == message::kind::closed) break;
      if (m->k != message::kind::binary) continue;
      auto b = protocol::decode_batch(m->data);
      if (b && b->doc == doc)
        for (auto& c : b->changes) got.push_back(std::move(c));
    }
    return got;
  }

  // ---------------------------------------------------------- building changes

  // This peer's own replica of a document, to build signed changes against.
  crdt::document& replica(const std::string& doc) {
    auto it = replicas_.find(doc);
    if (it == replicas_.end()) it = replicas_.emplace(doc, crdt::document(doc)).first;
    return it->second;
  }
  // One signed change by this peer, built and applied on its replica.
  crdt::change make_change(const std::string& doc, const std::vector<crdt::mutation>& m) {
    auto c = replica(doc).make_change(m, id_->keys(), crdt::wall_clock_ms());
    if (!c) throw std::runtime_error("test peer: mutation refused: " + c.error().message);
    return *c;
  }

 private:
  static std::chrono::steady_clock::time_point deadline(ms wait) { return std::chrono::steady_clock::now() + wait; }

  bool send_raw(bool binary, std::string data) {
    sent_.push_back(sent_frame{binary, data, false, {}});
    return conn_ && conn_->send(std::move(data), binary);
  }

  std::shared_ptr<auth::identity> id_;
  options opt_;
  trust_node_policy policy_;
  std::unique_ptr<net::runtime> rt_;
  std::shared_ptr<event_queue> q_;
  std::shared_ptr<net::ws_connection> conn_;
  std::optional<protocol::handshake> hs_;
  std::optional<auth::sealed_channel> channel_;
  std::vector<sent_frame> sent_;
  std::map<std::string, crdt::document> replicas_;
};

// Builds a change by `author` with explicit fields, for forged inputs: the
// caller edits it, then re-signs (crdt::sign) or not.
inline crdt::change resign(crdt::change c, const crypto::keypair& k) {
  crdt::sign(c, k);
  return c;
}

}  // namespace starling::test
