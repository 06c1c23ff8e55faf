// Helpers of the multi-node tests: node directories with keys made up
// front (so that peers can trust each other), URLs, digests.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "actors/embedded.hpp"
#include "auth/identity.hpp"
#include "support.hpp"

namespace starling::test {

struct member {
  temp_dir dir;
  auth::identity id = auth::identity::generate();
  member() { REQUIRE(id.save(dir.path + "/node.key")); }
  // Fast test settings: no fsync, reconnects within tens of milliseconds.
  actors::node_config config(const std::vector<const member*>& trusted, bool listen) const {
    actors::node_config cfg;
    cfg.data_dir = dir.path;
    cfg.store.durability = persistence::durability_mode::nosync;
    cfg.listen = listen;
    cfg.dialer.base_backoff = std::chrono::milliseconds(20);
    cfg.dialer.max_backoff = std::chrono::milliseconds(200);
    for (auto* m : trusted) cfg.trusted.push_back(entry_for(*m));
    return cfg;
  }
  static auth::trust_entry entry_for(const member& m,
                                     auth::permissions p = auth::permissions(auth::permission::read) |
                                                           auth::permission::write) {
    auth::trust_entry e;
    e.key = m.id.key();
    e.perm = p;
    return e;
  }
};

inline std::string url(std::uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/v1/sync"; }
inline std::string url(const node& n) { return url(n.port()); }

inline crdt::mutation set(std::string p, nlohmann::json v) {
  return {crdt::mutation::kind::set, std::move(p), std::move(v)};
}

inline std::string digest_of(node& n, const std::string& doc) {
  auto st = n.status();
  if (!st) return "?";
  for (auto& d : st->documents)
    if (d.name == doc) return d.digest;
  return "-";
}

}  // namespace starling::test
