// `starling demo`: three real nodes in one process, each with its own data
// directory, sync listener and HTTP API on loopback. Node A issues a join
// token for each of B and C; they dial A with it (A trusts them from then
// on, B and C trust A by its id). All three write concurrently to one
// document in a seeded random order; the demo waits until every node holds
// the same state and digest, and shows them with the time it took.
#include "app/demo.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>

#include "actors/errors.hpp"
#include "actors/node_actor.hpp"
#include "actors/scheduler.hpp"
#include "app/service.hpp"
#include "auth/trust.hpp"

namespace starling::app {

namespace {

namespace fs = std::filesystem;
using namespace actors;
using nlohmann::json;
const char* const doc_name = "todos";
constexpr auto ask_timeout = std::chrono::seconds(30);

template <class T, class Handle, class... Ts>
T ask(caf::actor_system& sys, const Handle& h, Ts&&... xs) {
  caf::scoped_actor self{sys};
  std::optional<T> out;
  std::string err;
  self->request(h, ask_timeout, std::forward<Ts>(xs)...)
      .receive([&](const T& v) { out = v; }, [&](const caf::error& e) { err = render(e); });
  if (!out) throw std::runtime_error(err);
  return *out;
}

doc_owner_actor owner(caf::actor_system& sys, service& s) {
  return ask<doc_owner_actor>(sys, s.node().handle, doc_atom::value, std::string(doc_name));
}

doc_status status_of(caf::actor_system& sys, service& s) {
  return ask<doc_status>(sys, owner(sys, s), status_atom::value);
}

service_config node_config(const std::string& dir) {
  service_config cfg = default_service_config();
  cfg.node.data_dir = dir;
  cfg.node.net.listen_port = 0;  // ephemeral ports: demos never collide
  cfg.http.port = 0;
  cfg.node.dialer.base_backoff = std::chrono::milliseconds(100);
  cfg.node.dialer.max_backoff = std::chrono::milliseconds(2000);
  return cfg;
}

}  // namespace

int run_demo(const demo_options& opt) {
  std::uint64_t seed = opt.seed ? opt.seed : std::random_device{}();
  std::mt19937_64 rng(seed);
  std::string parent = opt.dir;
  bool temp = parent.empty();
  if (temp) {
    char tmpl[] = "/tmp/starling-demo-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    parent = tmpl;
  }
  std::cout << "starling demo: 3 nodes on loopback, seed " << seed << ", data in " << parent << "\n";
  log::configure(log::level::warn, log::format::text);
  auto started = std::chrono::steady_clock::now();
  int result = 1;
  {
    caf::actor_system_config sys_cfg;
    actors::apply_scheduler_settings(actors::scheduler_settings{}, sys_cfg);
    caf::actor_system sys{sys_cfg};
    const char* names[] = {"A", "B", "C"};
    std::vector<std::unique_ptr<service>> nodes;

    auto a = service::start(sys, node_config((fs::path(parent) / "A").string()));
    if (!a) throw std::runtime_error("node A: " + a.error());
    nodes.push_back(std::move(*a));
    auto& na = *nodes[0];
    std::cout << "  A " << na.node_id().substr(0, 16) << "  sync " << na.sync_url() << "  http " << na.http_url() << "\n";
    for (int i = 1; i < 3; ++i) {
      // A issues a single-use token; the new node presents it when it dials A.
      auth::token_record grant;
      grant.perm = auth::permissions(auth::permission::read) | auth::permission::write;
      grant.created_ms = auth::system_now_ms();
      grant.expires_ms = grant.created_ms + 10 * 60 * 1000;
      grant.note = std::string("demo node ") + names[i];
      auto token = ask<std::string>(sys, na.node().handle, token_atom::value, grant);
      auto cfg = node_config((fs::path(parent) / names[i]).string());
      cfg.node.peers.push_back(na.sync_url());
      cfg.node.join_token = token;
      auth::trust_entry trust_a;
      trust_a.key = *auth::parse_node_id(na.node_id());
      trust_a.perm = grant.perm;
      trust_a.note = "demo node A";
      cfg.node.trusted.push_back(trust_a);
      auto n = service::start(sys, cfg);
      if (!n) throw std::runtime_error(std::string("node ") + names[i] + ": " + n.error());
      std::cout << "  " << names[i] << " " << (*n)->node_id().substr(0, 16) << "  joins A with token "
                << token.substr(0, 9) << "…  http " << (*n)->http_url() << "\n";
      nodes.push_back(std::move(*n));
    }

    // Concurrent writes: each node adds its items and bumps a shared counter.
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> writers;
    std::vector<std::uint64_t> seeds;
    for (int i = 0; i < 3; ++i) seeds.push_back(rng());
    for (int i = 0; i < 3; ++i)
      writers.emplace_back([&, i] {
        std::mt19937_64 r(seeds[i]);
        auto own = owner(sys, *nodes[i]);
        for (int k = 0; k < opt.rounds; ++k) {
          write_request w;
          std::string key = std::string("/") + names[i] + std::to_string(r() % 5);
          w.mutations.push_back({crdt::mutation::kind::set, key, json{{"by", names[i]}, {"n", k}}});
          w.mutations.push_back({crdt::mutation::kind::inc, "/count", 1});
          ask<write_ack>(sys, own, write_atom::value, w);
          if (r() % 4 == 0) std::this_thread::yield();
        }
      });
    for (auto& t : writers) t.join();
    auto written = std::chrono::steady_clock::now();
    std::cout << "  wrote " << 3 * opt.rounds << " changes ("
              << std::chrono::duration_cast<std::chrono::milliseconds>(written - t0).count() << " ms)\n";

    // Wait (with a deadline) until every node has everything.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::vector<doc_status> st;
    bool converged = false;
    while (std::chrono::steady_clock::now() < deadline) {
      st.clear();
      for (auto& n : nodes) st.push_back(status_of(sys, *n));
      converged = st[0].changes == static_cast<std::size_t>(3 * opt.rounds) && st[1].digest == st[0].digest &&
                  st[2].digest == st[0].digest;
      if (converged) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto done = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < nodes.size(); ++i)
      std::cout << "  " << names[i] << " changes=" << st[i].changes << " digest=" << st[i].digest.substr(0, 32) << "\n";
    auto state = ask<read_reply>(sys, owner(sys, *nodes[0]), read_atom::value, std::string());
    std::cout << "  state: " << state.json << "\n";
    if (converged) {
      std::cout << "converged: 3 nodes, identical digests, "
                << std::chrono::duration_cast<std::chrono::milliseconds>(done - written).count()
                << " ms after the last write ("
                << std::chrono::duration_cast<std::chrono::milliseconds>(done - started).count() << " ms in all)\n";
      result = 0;
    } else {
      std::cout << "NOT converged within 60 s\n";
    }
    if (opt.keep && converged) {
      std::cout << "running until Ctrl-C; try:\n";
      for (std::size_t i = 0; i < nodes.size(); ++i)
        std::cout << "  " << names[i] << "  status page " << nodes[i]->http_url() << "/   sync "
                  << nodes[i]->sync_url() << "\n";
      std::cout << "  starling get --node " << nodes[0]->http_url() << " " << doc_name << std::endl;
      sigset_t sigs;
      sigemptyset(&sigs);
      sigaddset(&sigs, SIGINT);
      sigaddset(&sigs, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
      int sig = 0;
      sigwait(&sigs, &sig);
    }
    // The joiners first, so that none of them sees A go away and redials.
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) (*it)->stop();
    nodes.clear();
    sys.await_all_actors_done();
  }
  if (temp && !opt.keep) {
    std::error_code ec;
    fs::remove_all(parent, ec);
  }
  return result;
}

}  // namespace starling::app
