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
#include "actors/owner_cache.hpp"
#include "actors/scheduler.hpp"

namespace starling {

using namespace actors;

namespace {

// Forwards writes to their document owners without a caller waiting: owner
// handles are cached (owner_cache: a restarted owner is looked up again),
// and writes for a document whose owner is being looked up wait there, in
// order.
using write_gate_actor = caf::typed_actor<caf::reacts_to<async_write>>;

struct write_gate_state {
  static inline const char* name = "write_gate";
  owner_cache owners;
};

void fail_write(const async_write& w, const std::string& why) { w.done(nullptr, &why); }

void forward_write(write_gate_actor::stateful_pointer<write_gate_state> self, const doc_owner_actor& owner,
                   async_write w) {
  auto done = std::move(w.done);
  self->request(owner, w.timeout, write_atom::value, std::move(w.req))
      .then([done](const write_ack& a) { done(&a, nullptr); },
            [done](const caf::error& e) {
              auto why = render(e);
              done(nullptr, &why);
            });
}

write_gate_actor::behavior_type write_gate(write_gate_actor::stateful_pointer<write_gate_state> self,
                                           node_actor node, caf::timespan lookup_timeout) {
  self->state.owners = owner_cache(node, lookup_timeout);
  self->set_down_handler([=](const caf::down_msg& dm) { self->state.owners.on_down(dm); });
  return {
      [=](async_write& w) {
        auto shared = std::make_shared<async_write>(std::move(w));
        self->state.owners.with(
            self, shared->doc, [=](const doc_owner_actor& owner) { forward_write(self, owner, std::move(*shared)); },
            [=](const caf::error& e) { fail_write(*shared, render(e)); });
      },
  };
}

// A local subscription: calls the callback with each committed change set
// and acknowledges it. When the document's owner restarts, it subscribes to
// the next one and replays the stored log from the first change it has not
// delivered (changes committed meanwhile would otherwise be missed), then
// skips live changes the replay covered, by log index.
using local_sub_actor = subscriber_actor;

struct local_sub_state {
  static inline const char* name = "local_subscription";
  std::string doc;
  subscriber_id id = 0;
  node::change_callback cb;
  std::shared_ptr<persistence::store> store;
  owner_cache owners;
  // The first log index not yet delivered: known from the first change
  // delivered, else the log's end when the subscription was made.
  std::shared_ptr<std::atomic<std::uint64_t>> start;
  std::optional<std::uint64_t> next_index;
};

using local_sub_ptr = local_sub_actor::stateful_pointer<local_sub_state>;

void deliver_live(local_sub_ptr self, const change_set& set) {
  auto& s = self->state;
  if (set.fork_evidence) return;
  std::vector<bytes> fresh;
  for (std::size_t i = 0; i < set.changes.size(); ++i) {
    std::uint64_t index = i < set.log_index.size() ? set.log_index[i] : 0;
    if (s.next_index && index < *s.next_index) continue;  // the replay delivered it
    fresh.push_back(set.changes[i]);
    s.next_index = index + 1;
  }
  if (!fresh.empty()) s.cb(s.doc, fresh);
}

void resubscribe(local_sub_ptr self) {
  auto& s = self->state;
  s.owners.with(
      self, s.doc,
      [=](const doc_owner_actor& owner) {
        self->request(owner, caf::infinite, subscribe_atom::value, self->state.id,
                      caf::actor_cast<subscriber_actor>(self))
            .then(
                [=](bool) {
                  auto& st = self->state;
                  std::uint64_t from = st.next_index.value_or(st.start->load());
                  std::vector<std::pair<std::uint64_t, bytes>> missed;
                  st.store->load_log(st.doc, from, [&](std::uint64_t index, const hash256&, byte_view enc) {
                    missed.emplace_back(index, bytes(enc.begin(), enc.end()));
                    return true;
                  });
                  if (missed.empty()) return;
                  std::vector<bytes> changes;
                  for (auto& m : missed) changes.push_back(std::move(m.second));
                  st.next_index = missed.back().first + 1;
                  st.cb(st.doc, changes);
                },
                [=](const caf::error&) { self->quit(); });
      },
      [=](const caf::error&) { self->quit(); });
}

local_sub_actor::behavior_type local_subscription(local_sub_ptr self, std::string doc, subscriber_id id,
                                                  node::change_callback cb, std::shared_ptr<persistence::store> store,
                                                  node_actor node, caf::timespan lookup_timeout,
                                                  std::shared_ptr<std::atomic<std::uint64_t>> start,
                                                  doc_owner_actor owner) {
  auto& s = self->state;
  s.doc = std::move(doc);
  s.id = id;
  s.cb = std::move(cb);
  s.store = std::move(store);
  s.owners = owner_cache(node, lookup_timeout);
  s.start = std::move(start);
  s.owners.adopt(self, s.doc, owner);  // the one subscribe() subscribes it to
  self->set_down_handler([=](const caf::down_msg& dm) {
    if (self->state.owners.on_down(dm)) resubscribe(self);
  });
  return {
      [=](live_atom, const change_set_ptr& set) {
        if (auto* o = self->state.owners.find(set->doc))
          self->send(*o, ack_atom::value, self->state.id, static_cast<std::uint64_t>(set->changes.size()),
                     static_cast<std::uint64_t>(set->total_bytes));
        deliver_live(self, *set);
      },
      [=](lagged_atom, const std::string&) { self->quit(); },
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
  caf::timespan lookup_timeout;  // node_config::owner_lookup_timeout
  std::chrono::milliseconds reply_grace;  // node_config::timings.reply_grace

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
  i->lookup_timeout = cfg.owner_lookup_timeout;
  i->reply_grace = cfg.timings.reply_grace;
  i->gate = i->sys->spawn(write_gate, i->info.handle, i->lookup_timeout);
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
  if (result.wait_for(request_timeout + impl_->reply_grace) != std::future_status::ready)
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
  subscription id = impl_->info.ids->next();
  auto o = *owner;
  // A local subscriber consumes at once and acknowledges, so it only lags
  // if its callback is slower than the writers.
  auto start = std::make_shared<std::atomic<std::uint64_t>>(0);
  auto local = impl_->sys->spawn(local_subscription, doc, id, std::move(cb), impl_->info.store, impl_->info.handle,
                                 impl_->lookup_timeout, start, o);
  auto sub = local;
  // Once this returns, every change committed afterwards reaches cb.
  std::string err;
  self->request(o, request_timeout, subscribe_atom::value, id, sub)
      .receive([](bool) {}, [&](const caf::error& e) { err = render(e); });
  if (!err.empty()) {
    self->send_exit(sub, caf::exit_reason::user_shutdown);
    return make_unexpected(err);
  }
  // Where a replay after an owner restart starts if nothing was delivered
  // before it: changes committed from here on reach cb live.
  if (auto end = impl_->info.store->log_end(doc)) start->store(*end);
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
  return impl_->ask<node_status>(request_timeout, status_atom::value, true);
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
