#include "actors/embedded.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>

#include "actors/errors.hpp"
#include "actors/node_actor.hpp"
#include "actors/scheduler.hpp"

namespace starling {

using namespace actors;

namespace {

// Forwards writes to their document owners without a caller waiting: owner
// handles are cached, and writes for a document whose owner is being looked
// up wait here, in order.
using write_gate_actor = caf::typed_actor<caf::reacts_to<async_write>>;

struct write_gate_state {
  static inline const char* name = "write_gate";
  node_actor node;
  std::map<std::string, doc_owner_actor> owners;
  std::map<std::string, std::vector<async_write>> waiting;  // for the owner
};

void fail_write(const async_write& w, const std::string& why) { w.done(nullptr, &why); }

void forward_write(write_gate_actor::stateful_pointer<write_gate_state> self, const doc_owner_actor& owner,
                   async_write w) {
  auto done = std::move(w.done);
  auto doc = w.doc;
  self->request(owner, w.timeout, write_atom::value, std::move(w.req))
      .then([done](const write_ack& a) { done(&a, nullptr); },
            [self, done, doc, owner](const caf::error& e) {
              // A restarted owner has a new handle: look it up again next time.
              auto it = self->state.owners.find(doc);
              if (it != self->state.owners.end() && it->second == owner) self->state.owners.erase(it);
              auto why = render(e);
              done(nullptr, &why);
            });
}

write_gate_actor::behavior_type write_gate(write_gate_actor::stateful_pointer<write_gate_state> self,
                                           node_actor node) {
  self->state.node = std::move(node);
  return {
      [=](async_write& w) {
        auto& s = self->state;
        auto it = s.owners.find(w.doc);
        if (it != s.owners.end()) return forward_write(self, it->second, std::move(w));
        auto& queue = s.waiting[w.doc];
        queue.push_back(std::move(w));
        if (queue.size() > 1) return;  // the lookup is under way
        auto doc = queue.front().doc;
        self->request(s.node, queue.front().timeout, doc_atom::value, doc)
            .then(
                [self, doc](const doc_owner_actor& owner) {
                  auto ws = std::move(self->state.waiting[doc]);
                  self->state.waiting.erase(doc);
                  self->state.owners[doc] = owner;
                  for (auto& x : ws) forward_write(self, owner, std::move(x));
                },
                [self, doc](const caf::error& e) {
                  auto ws = std::move(self->state.waiting[doc]);
                  self->state.waiting.erase(doc);
                  for (auto& x : ws) fail_write(x, render(e));
                });
      },
  };
}

}  // namespace

struct node::impl {
  caf::actor_system_config sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  node_info info;
  write_gate_actor gate;
  std::mutex mu;
  std::map<subscription, std::pair<std::string, subscriber_actor>> subs;
  std::atomic<subscription> next_sub{1'000'000'000};  // below: peer sessions

  // A request to the node actor, waited for.
  template <class T, class... Ts>
  expected<T, std::string> ask(std::chrono::milliseconds timeout, Ts&&... xs) {
    caf::scoped_actor self{*sys};
    expected<T, std::string> out = make_unexpected(std::string("no reply"));
    self->request(info.handle, timeout, std::forward<Ts>(xs)...)
        .receive([&](const T& v) { out = v; }, [&](const caf::error& e) { out = make_unexpected(render(e)); });
    return out;
  }
};

node::node(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

expected<std::unique_ptr<node>, std::string> node::open(node_config cfg) {
  auto i = std::make_unique<impl>();
  apply_scheduler_settings(cfg.scheduler, i->sys_cfg);
  i->sys = std::make_unique<caf::actor_system>(i->sys_cfg);
  auto info = spawn_node(*i->sys, cfg);
  if (!info) return make_unexpected(info.error());
  i->info = *info;
  i->gate = i->sys->spawn(write_gate, i->info.handle);
  return std::unique_ptr<node>(new node(std::move(i)));
}

node::~node() {
  {
    caf::scoped_actor self{*impl_->sys};
    for (auto& [id, sub] : impl_->subs) self->send_exit(sub.second, caf::exit_reason::user_shutdown);
    self->send_exit(impl_->gate, caf::exit_reason::user_shutdown);
    self->send(impl_->info.handle, stop_atom::value);
  }
  impl_->sys->await_all_actors_done();
}

const std::string& node::id() const { return impl_->info.node_id; }

std::uint16_t node::port() const { return impl_->info.port; }

void node::add_peer(const std::string& url) { caf::anon_send(impl_->info.handle, dial_atom::value, url); }

namespace {

template <class Handle>
expected<doc_owner_actor, std::string> owner_of(caf::scoped_actor& self, const node_actor& n, const std::string& doc,
                                                std::chrono::milliseconds timeout) {
  expected<doc_owner_actor, std::string> out = make_unexpected(std::string("no reply"));
  self->request(n, timeout, doc_atom::value, doc)
      .receive([&](const doc_owner_actor& h) { out = h; },
               [&](const caf::error& e) { out = make_unexpected(render(e)); });
  return out;
}

}  // namespace

void node::write_async(const std::string& doc, std::vector<crdt::mutation> m, write_callback done) {
  auto cb = [done = std::move(done)](const write_ack* a, const std::string* error) {
    if (a) done(write_result{a->hash, a->at});
    else done(make_unexpected(*error));
  };
  caf::anon_send(impl_->gate, async_write{doc, write_request{std::move(m)}, caf::timespan{request_timeout}, std::move(cb)});
}

expected<write_result, std::string> node::write(const std::string& doc, const std::vector<crdt::mutation>& m) {
  // Through the gate too: it knows the owner, so a write is one round trip.
  auto reply = std::make_shared<std::promise<expected<write_result, std::string>>>();
  auto result = reply->get_future();
  write_async(doc, m, [reply](expected<write_result, std::string> r) { reply->set_value(std::move(r)); });
  // The gate's request times out by itself; the margin covers its mailbox.
  if (result.wait_for(request_timeout + std::chrono::seconds(5)) != std::future_status::ready)
    return make_unexpected(std::string("no reply"));
  return result.get();
}

expected<std::optional<nlohmann::json>, std::string> node::read(const std::string& doc, const std::string& pointer) {
  caf::scoped_actor self{*impl_->sys};
  auto owner = owner_of<void>(self, impl_->info.handle, doc, request_timeout);
  if (!owner) return make_unexpected(owner.error());
  expected<std::optional<nlohmann::json>, std::string> out = make_unexpected(std::string("no reply"));
  self->request(*owner, request_timeout, read_atom::value, pointer)
      .receive(
          [&](const read_reply& r) {
            out = r.found ? std::optional<nlohmann::json>(nlohmann::json::parse(r.json)) : std::nullopt;
          },
          [&](const caf::error& e) { out = make_unexpected(render(e)); });
  return out;
}

expected<node::subscription, std::string> node::subscribe(const std::string& doc, change_callback cb) {
  caf::scoped_actor self{*impl_->sys};
  auto owner = owner_of<void>(self, impl_->info.handle, doc, request_timeout);
  if (!owner) return make_unexpected(owner.error());
  subscription id = impl_->next_sub++;
  auto o = *owner;
  // A local subscriber consumes at once and acknowledges, so it only lags
  // if its callback is slower than the writers.
  auto sub = impl_->sys->spawn([cb, o, id](subscriber_actor::pointer me) -> subscriber_actor::behavior_type {
    return {
        [=](live_atom, const change_set_ptr& set) {
          if (!set->fork_evidence) cb(set->doc, set->changes);
          me->send(o, ack_atom::value, id, static_cast<std::uint64_t>(set->changes.size()),
                   static_cast<std::uint64_t>(set->total_bytes));
        },
        [=](lagged_atom, const std::string&) { me->quit(); },
    };
  });
  // Once this returns, every change committed afterwards reaches cb.
  std::string err;
  self->request(o, request_timeout, subscribe_atom::value, id, sub)
      .receive([](bool) {}, [&](const caf::error& e) { err = render(e); });
  if (!err.empty()) {
    self->send_exit(sub, caf::exit_reason::user_shutdown);
    return make_unexpected(err);
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->subs[id] = {doc, sub};
  return id;
}

void node::unsubscribe(subscription s) {
  std::pair<std::string, subscriber_actor> sub;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->subs.find(s);
    if (it == impl_->subs.end()) return;
    sub = it->second;
    impl_->subs.erase(it);
  }
  caf::scoped_actor self{*impl_->sys};
  auto owner = owner_of<void>(self, impl_->info.handle, sub.first, request_timeout);
  if (owner) self->send(*owner, unsubscribe_atom::value, s);
  self->send_exit(sub.second, caf::exit_reason::user_shutdown);
}

expected<node_status, std::string> node::status() {
  caf::scoped_actor self{*impl_->sys};
  node_status out;
  out.node_id = impl_->info.node_id;
  std::vector<std::string> docs;
  std::string err;
  self->request(impl_->info.handle, request_timeout, docs_atom::value)
      .receive([&](const std::vector<std::string>& d) { docs = d; }, [&](const caf::error& e) { err = render(e); });
  if (!err.empty()) return make_unexpected(err);
  for (auto& d : docs) {
    auto owner = owner_of<void>(self, impl_->info.handle, d, request_timeout);
    if (!owner) return make_unexpected(owner.error());
    self->request(*owner, request_timeout, status_atom::value)
        .receive(
            [&](const doc_status& s) {
              out.documents.push_back(document_info{s.doc, s.at, s.changes, s.pending, s.forks, s.digest});
            },
            [&](const caf::error& e) { err = render(e); });
    if (!err.empty()) return make_unexpected(err);
  }
  std::vector<link_actor> links;
  self->request(impl_->info.handle, request_timeout, peers_atom::value)
      .receive([&](const std::vector<link_actor>& l) { links = l; }, [&](const caf::error& e) { err = render(e); });
  if (!err.empty()) return make_unexpected(err);
  for (auto& l : links)
    self->request(l, request_timeout, status_atom::value)
        .receive(
            [&](const peer_info& p) {
              out.peers.push_back(peer_status{p.peer_id, p.state, p.changes_sent, p.changes_received, p.bytes_in,
                                              p.bytes_out, p.address, p.dialed, p.lag_changes, p.lag_seconds,
                                              p.behind_changes});
            },
            [&](const caf::error&) {});  // a link that just ended
  self->request(impl_->info.handle, request_timeout, dialers_atom::value)
      .receive(
          [&](const std::vector<dialer_status>& ds) {
            for (auto& d : ds)
              out.dialers.push_back(
                  dialer_info{d.url, d.state, d.attempts, d.consecutive_failures, d.last_error, d.next_retry_in});
          },
          [&](const caf::error&) {});
  auto& m = *impl_->info.metrics;
  out.peer_errors = m.closed_for_by_name();
  out.errors_from_peers = m.closed_by_peer_by_name();
  out.sessions_opened = m.sessions_opened.load(std::memory_order_relaxed);
  out.sessions_authenticated = m.sessions_authenticated.load(std::memory_order_relaxed);
  out.lag_events = m.lag_events.load(std::memory_order_relaxed);
  return out;
}

expected<bool, std::string> node::trust(const auth::trust_entry& e) {
  return impl_->ask<bool>(request_timeout, trust_atom::value, e);
}

expected<bool, std::string> node::revoke(const public_key& key) {
  return impl_->ask<bool>(request_timeout, revoke_atom::value, key);
}

expected<std::string, std::string> node::create_token(const auth::token_record& grant) {
  return impl_->ask<std::string>(request_timeout, token_atom::value, grant);
}

expected<bool, std::string> node::remove_token(const hash256& token_hash) {
  return impl_->ask<bool>(request_timeout, untoken_atom::value, token_hash);
}

expected<std::vector<auth::trust_entry>, std::string> node::trusted() {
  return impl_->ask<std::vector<auth::trust_entry>>(request_timeout, trusted_atom::value);
}

expected<std::vector<std::pair<hash256, auth::token_record>>, std::string> node::tokens() {
  return impl_->ask<token_list>(request_timeout, tokens_atom::value);
}

}  // namespace starling
