#include "actors/node_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <map>

#include "actors/errors.hpp"
#include "actors/log.hpp"
#include "auth/identity.hpp"
#include "net/listener.hpp"
#include "net/runtime.hpp"

#include <caf/send.hpp>
#include <set>

namespace starling::actors {

namespace {

struct node_state {
  static inline const char* name = "node";
  std::shared_ptr<net::runtime> rt;
  listener_ptr listener;  // handed over by spawn_node in a message
  std::shared_ptr<link_context> links_ctx;
  std::set<link_actor> links;
  std::map<std::string, dialer_actor> dialers;  // by peer URL
  node_config cfg;
  std::shared_ptr<persistence::store> store;
  std::shared_ptr<auth::identity> id;
  store_actor writer;
  doc_loader_actor loader;
  std::map<std::string, doc_owner_actor> owners;
  // Documents being loaded, and who waits for their owner.
  std::map<std::string, std::vector<caf::typed_response_promise<doc_owner_actor>>> loading;
  std::map<caf::actor_addr, std::string> owner_names;
  std::deque<std::chrono::steady_clock::time_point> restarts;
};

using self_ptr = node_actor::stateful_pointer<node_state>;

void shutdown(self_ptr self, const caf::error& reason) {
  auto& s = self->state;
  for (auto& [url, d] : s.dialers) self->send(d, stop_atom::value);
  for (auto& l : s.links) caf::anon_send(l, stop_atom::value);
  if (s.listener) s.listener->stop();
  for (auto& [name, owner] : s.owners) self->send_exit(owner, reason);
  self->send_exit(s.loader, reason);
  self->send_exit(s.writer, reason);
}

// Trust and token changes: commit `b`, then update the in-memory trust book
// (`applied` returns the reply), so that the cache never holds what a crash
// would lose. A failed commit answers with the store's error.
template <class T, class Applied>
caf::result<T> commit_trust(self_ptr self, persistence::write_batch b, Applied applied) {
  auto rp = self->make_response_promise<T>();
  self->request(self->state.writer, caf::infinite, commit_atom::value, std::move(b))
      .then([=](const persistence::commit_result&) mutable { rp.deliver(applied()); },
            [=](const caf::error& err) mutable { rp.deliver(err); });
  return rp;
}

// Every document: stored, or open but not committed yet; sorted.
expected<std::vector<std::string>, caf::error> all_docs(self_ptr self) {
  auto stored = self->state.store->list_docs();
  if (!stored) return make_unexpected(from_store(stored.error()));
  std::set<std::string> names(stored->begin(), stored->end());
  for (auto& [name, owner] : self->state.owners) names.insert(name);
  return std::vector<std::string>(names.begin(), names.end());
}

// One status for every caller: each document's owner (loaded through the
// node's own doc request if it is not), each link and each dialer is asked
// once, in parallel; one that does not answer within the status timeout (a
// link that just ended) is left out rather than failing the report.
caf::result<node_status> gather_status(self_ptr self, bool with_docs) {
  auto& s = self->state;
  struct pending {
    node_status out;
    std::size_t left = 1;
    caf::typed_response_promise<node_status> rp;
    void done() {
      if (--left > 0) return;
      std::sort(out.documents.begin(), out.documents.end(), [](auto& a, auto& b) { return a.name < b.name; });
      rp.deliver(std::move(out));
    }
  };
  auto p = std::make_shared<pending>();
  p->rp = self->make_response_promise<node_status>();
  auto& out = p->out;
  out.node_id = s.id->node_id();
  const auto& m = *s.links_ctx->metrics;
  out.peer_errors = m.closed_for_by_name();
  out.errors_from_peers = m.closed_by_peer_by_name();
  out.sessions_opened = m.sessions_opened.load(std::memory_order_relaxed);
  out.sessions_authenticated = m.sessions_authenticated.load(std::memory_order_relaxed);
  out.lag_events = m.lag_events.load(std::memory_order_relaxed);
  out.owner_failures = m.owner_failures.load(std::memory_order_relaxed);
  out.owner_resubscribes = m.owner_resubscribes.load(std::memory_order_relaxed);
  auto timeout = s.cfg.timings.status_timeout;
  std::vector<std::string> names;
  if (with_docs) {
    auto docs = all_docs(self);
    if (!docs) return docs.error();
    names = std::move(*docs);
  }
  auto me = caf::actor_cast<node_actor>(self);
  for (auto& name : names) {
    ++p->left;
    self->request(me, timeout, doc_atom::value, name)
        .then(
            [=](const doc_owner_actor& owner) {
              self->request(owner, timeout, status_atom::value)
                  .then(
                      [=](const doc_status& d) {
                        p->out.documents.push_back(d);
                        p->done();
                      },
                      [=](const caf::error&) { p->done(); });
            },
            [=](const caf::error&) { p->done(); });
  }
  for (auto& l : s.links) {
    ++p->left;
    self->request(l, timeout, status_atom::value)
        .then(
            [=](const peer_status& st) {
              p->out.peers.push_back(st);
              p->done();
            },
            [=](const caf::error&) { p->done(); });  // a link that just ended
  }
  for (auto& [url, d] : s.dialers) {
    ++p->left;
    self->request(d, timeout, status_atom::value)
        .then(
            [=](const dialer_status& st) {
              p->out.dialers.push_back(st);
              p->done();
            },
            [=](const caf::error&) { p->done(); });  // a dialer that stopped
  }
  p->done();
  return p->rp;
}

node_actor::behavior_type node_behavior(self_ptr self, node_config cfg, std::shared_ptr<persistence::store> store,
                                        std::shared_ptr<auth::identity> id, std::shared_ptr<net::runtime> rt,
                                        std::shared_ptr<link_context> links_ctx) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.store = std::move(store);
  st.id = std::move(id);
  st.rt = std::move(rt);
  st.links_ctx = std::move(links_ctx);
  for (auto& url : st.cfg.peers)
    if (!st.dialers.count(url))
      st.dialers.emplace(url, spawn_dialer(self->system(), url, st.links_ctx, caf::actor_cast<doc_resolver>(self),
                                           caf::actor_cast<link_registry>(self), st.rt, st.cfg.dialer));
  st.writer = spawn_store_actor(self->system(), st.store, store_limits{st.cfg.max_commit_changes},
                                st.links_ctx->metrics);
  self->monitor(st.writer);
  st.loader = spawn_doc_loader(self->system(), st.store, st.cfg.document);
  self->monitor(st.loader);
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& s = self->state;
    if (dm.source == s.writer.address() || dm.source == s.loader.address()) {  // the node cannot work without them
      self->quit(dm.reason ? dm.reason : make_error(errc::storage, "store writer or loader stopped"));
      return;
    }
    for (auto l = s.links.begin(); l != s.links.end(); ++l)
      if (l->address() == dm.source) {
        s.links.erase(l);
        return;
      }
    auto it = s.owner_names.find(dm.source);
    if (it == s.owner_names.end()) return;
    s.owners.erase(it->second);
    s.owner_names.erase(it);
    if (!dm.reason) return;
    // Restarted lazily on the next request; too many failures stop the node.
    auto now = s.cfg.clock.steady();
    s.restarts.push_back(now);
    while (!s.restarts.empty() && now - s.restarts.front() > s.cfg.restart_window) s.restarts.pop_front();
    if (static_cast<int>(s.restarts.size()) > s.cfg.max_restarts)
      self->quit(make_error(errc::storage, "document owners keep failing: " + render(dm.reason)));
  });
  self->set_exit_handler([=](const caf::exit_msg& em) {
    shutdown(self, em.reason);
    self->quit(em.reason);
  });
  return {
      [=](doc_atom, const std::string& name) -> caf::result<doc_owner_actor> {
        auto& s = self->state;
        if (!valid_doc_name(name)) return make_error(errc::bad_request, "invalid document name '" + name + "'");
        auto it = s.owners.find(name);
        if (it != s.owners.end()) return it->second;
        // Loading replays the document's log: the loader does it on its own
        // thread, and everyone asking meanwhile waits for the one owner.
        auto rp = self->make_response_promise<doc_owner_actor>();
        auto& waiting = s.loading[name];
        waiting.push_back(rp);
        if (waiting.size() > 1) return rp;
        self->request(s.loader, caf::infinite, load_atom::value, name)
            .then(
                [=](const loaded_document& state) {
                  auto& s = self->state;
                  auto owner = spawn_doc_owner(self->system(), name, state,
                                               doc_owner_deps{s.store, s.writer, &s.id->keys(), s.links_ctx->metrics},
                                               s.cfg);
                  self->monitor(owner);
                  s.owners.emplace(name, owner);
                  s.owner_names.emplace(owner.address(), name);
                  for (auto& l : s.links) caf::anon_send(l, doc_atom::value, name);  // sessions announce it
                  for (auto& p : s.loading[name]) p.deliver(owner);
                  s.loading.erase(name);
                },
                [=](const caf::error& e) {
                  auto& s = self->state;
                  log::write(log::level::error, "node", "cannot load a document",
                             {{"doc", name}, {"error", render(e)}});
                  for (auto& p : s.loading[name]) p.deliver(e);
                  s.loading.erase(name);
                });
        return rp;
      },
      [=](docs_atom) -> caf::result<std::vector<std::string>> {
        auto docs = all_docs(self);
        if (!docs) return docs.error();
        return std::move(*docs);
      },
      [=](register_atom, const link_actor& link) {
        self->monitor(link);
        self->state.links.insert(link);
      },
      [=](dial_atom, const std::string& url) {
        auto& s = self->state;
        auto it = s.dialers.find(url);
        if (it != s.dialers.end()) return self->send(it->second, retry_atom::value);  // one dialer a URL
        s.dialers.emplace(url, spawn_dialer(self->system(), url, s.links_ctx, caf::actor_cast<doc_resolver>(self),
                                            caf::actor_cast<link_registry>(self), s.rt, s.cfg.dialer));
      },
      [=](listening_atom, listener_ptr& l) { self->state.listener = std::move(l); },
      [=](peers_atom) -> std::vector<link_actor> {
        return {self->state.links.begin(), self->state.links.end()};
      },
      [=](join_atom, const hash256& token_hash, const public_key& key) -> caf::result<bool> {
        auto grant = self->state.links_ctx->trust->token_grant(token_hash, key);
        if (!grant) return false;
        persistence::write_batch b;
        b.consume_token(token_hash);  // refused by the store if another connection used it first
        b.put_trust(key, auth::to_json(*grant).dump());
        auto rp = self->make_response_promise<bool>();
        self->request(self->state.writer, caf::infinite, commit_atom::value, std::move(b))
            .then(
                [=](const persistence::commit_result&) mutable {
                  auto& trust = *self->state.links_ctx->trust;
                  trust.token_removed(token_hash);
                  trust.trusted(*grant);
                  rp.deliver(true);
                },
                [=](const caf::error& e) mutable {
                  // Only the store's refusal means another connection used
                  // the token; any other failure is the node's, not the
                  // joiner's (a full disk must not burn or blame the token).
                  if (e.category() == error_category && static_cast<errc>(e.code()) == errc::conflict)
                    rp.deliver(false);
                  else
                    rp.deliver(e);
                });
        return rp;
      },
      [=](trust_atom, auth::trust_entry e) -> caf::result<bool> {
        if (e.added_ms == 0) e.added_ms = self->state.cfg.clock.wall_ms();
        bool added = !self->state.links_ctx->trust->find(e.key);
        persistence::write_batch b;
        b.put_trust(e.key, auth::to_json(e).dump());
        return commit_trust<bool>(self, std::move(b), [=] {
          self->state.links_ctx->trust->trusted(e);
          // A key re-trusted as revoked (or with less) affects new sessions;
          // a revocation also ends the live ones.
          if (e.revoked)
            for (auto& l : self->state.links) caf::anon_send(l, revoke_atom::value, e.key);
          // A dialer stopped because we did not trust its peer may succeed now.
          else
            for (auto& [url, d] : self->state.dialers) self->send(d, retry_atom::value);
          return added;
        });
      },
      [=](revoke_atom, const public_key& key) -> caf::result<bool> {
        auto e = self->state.links_ctx->trust->find(key);
        if (!e) return false;
        e->revoked = true;
        persistence::write_batch b;
        b.put_trust(key, auth::to_json(*e).dump());
        auto entry = *e;
        return commit_trust<bool>(self, std::move(b), [=] {
          self->state.links_ctx->trust->trusted(entry);
          for (auto& l : self->state.links) caf::anon_send(l, revoke_atom::value, key);
          return true;
        });
      },
      [=](token_atom, auth::token_record r) -> caf::result<std::string> {
        if (r.created_ms == 0) r.created_ms = self->state.cfg.clock.wall_ms();
        auto token = auth::generate_token();
        auto h = auth::hash_token(token);
        persistence::write_batch b;
        b.put_token(h, auth::to_json(r).dump());  // only the hash is stored
        return commit_trust<std::string>(self, std::move(b), [=] {
          self->state.links_ctx->trust->token_added(h, r);
          return token;
        });
      },
      [=](untoken_atom, const hash256& h) -> caf::result<bool> {
        auto tokens = self->state.links_ctx->trust->tokens();
        if (std::none_of(tokens.begin(), tokens.end(), [&](auto& t) { return t.first == h; })) return false;
        persistence::write_batch b;
        b.remove_token(h);
        return commit_trust<bool>(self, std::move(b), [=] {
          self->state.links_ctx->trust->token_removed(h);
          return true;
        });
      },
      [=](status_atom, bool with_docs) -> caf::result<node_status> { return gather_status(self, with_docs); },
      [=](trusted_atom) -> std::vector<auth::trust_entry> { return self->state.links_ctx->trust->entries(); },
      [=](tokens_atom) -> token_list {
        return self->state.links_ctx->trust->tokens();
      },
      [=](stop_atom) {
        shutdown(self, caf::exit_reason::user_shutdown);
        self->quit();
      },
  };
}

}  // namespace

expected<node_info, std::string> spawn_node(caf::actor_system& sys, const node_config& cfg) {
  namespace fs = std::filesystem;
  if (cfg.data_dir.empty()) return make_unexpected(std::string("node_config.data_dir is empty"));
  std::error_code ec;
  fs::create_directories(cfg.data_dir, ec);
  if (ec) return make_unexpected("cannot create " + cfg.data_dir + ": " + ec.message());
  auto key_path = (fs::path(cfg.data_dir) / "node.key").string();
  std::shared_ptr<auth::identity> id;
  if (fs::exists(key_path)) {
    auto loaded = auth::identity::load(key_path);
    if (!loaded) return make_unexpected(loaded.error().message);
    id = std::make_shared<auth::identity>(std::move(*loaded));
  } else {
    auto fresh = auth::identity::generate();
    auto saved = fresh.save(key_path);
    if (!saved) return make_unexpected(saved.error().message);
    id = std::make_shared<auth::identity>(std::move(fresh));
  }
  auto st = persistence::store::open(cfg.data_dir, cfg.store);
  if (!st) return make_unexpected(st.error().message);
  std::shared_ptr<persistence::store> store(std::move(*st));

  // The trust store; keys named in the configuration seed it once.
  persistence::write_batch seed;
  auto trust = trust_book::load(*store, cfg.trusted, seed, cfg.clock.wall_ms);
  if (!trust) return make_unexpected(trust.error());
  if (!seed.empty()) {
    auto done = store->commit(std::move(seed));  // no writer actor yet: this thread is the only writer
    if (!done) return make_unexpected("cannot store the configured trusted keys: " + done.error().message);
  }
  auto ctx = std::make_shared<link_context>();
  ctx->store = store;
  ctx->id = id;
  ctx->trust = std::move(*trust);
  ctx->cfg = cfg;
  ctx->cfg.seed = resolve_seed(cfg.seed);
  log::write(log::level::info, "node", "starting", {{"node", short_id(id->key())},
                                                    {"seed", std::to_string(ctx->cfg.seed)}});
  ctx->send_queue_limit = cfg.net.send_queue_limit;
  auto rt = std::make_shared<net::runtime>(cfg.net);
  rt->start();
  // The listener's connection factory needs the node's handle: spawn the
  // node first, then hand it the listener in a message (its state is only
  // ever touched by itself). Nobody else has the handle yet, so the
  // listener is the first thing the node hears from this thread.
  std::uint16_t port = 0;
  auto handle = sys.spawn(node_behavior, ctx->cfg, store, id, rt, ctx);
  if (cfg.listen) {
    std::string error;
    caf::actor_system* sysp = &sys;
    node_actor node = handle;
    listener_ptr listener = net::listen(
        *rt, cfg.net,
        [sysp, ctx, node](const std::shared_ptr<net::ws_connection>&) -> std::shared_ptr<net::connection_handler> {
          auto link = spawn_link(*sysp, ctx, caf::actor_cast<doc_resolver>(node), std::nullopt);
          caf::anon_send(node, register_atom::value, link);
          return make_bridge(link);
        },
        nullptr, &error);
    if (!listener) {
      caf::anon_send(handle, stop_atom::value);
      return make_unexpected("cannot listen on " + cfg.net.listen_address + ":" +
                             std::to_string(cfg.net.listen_port) + ": " + error);
    }
    port = listener->local_port();
    caf::anon_send(handle, listening_atom::value, std::move(listener));
  }
  return node_info{handle, id->node_id(), port, ctx->metrics, store, ctx->ids};
}

}  // namespace starling::actors
