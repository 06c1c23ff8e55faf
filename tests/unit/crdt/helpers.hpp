// Test helpers for crdt tests: deterministic keys and terse mutations.
#pragma once

#include <nlohmann/json.hpp>

#include "crdt/document.hpp"

namespace starling::test {

inline crypto::keypair key(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = n;
  seed[31] = 0x5a;
  return crypto::keypair_from_seed(seed);
}

using crdt::mutation;
inline mutation set(std::string p, nlohmann::json v) { return {mutation::kind::set, std::move(p), std::move(v)}; }
inline mutation ins(std::string p, nlohmann::json v) { return {mutation::kind::ins, std::move(p), std::move(v)}; }
inline mutation inc(std::string p, std::int64_t n) { return {mutation::kind::inc, std::move(p), n}; }
inline mutation del(std::string p) { return {mutation::kind::del, std::move(p), {}}; }
inline mutation rm(std::string p) { return {mutation::kind::rm, std::move(p), {}}; }

// Writes and returns the change, failing the test on a refusal.
inline crdt::change write(crdt::document& d, const crypto::keypair& k, std::vector<mutation> m,
                          std::uint64_t wall = 1000) {
  auto c = d.make_change(m, k, wall);
  if (!c) throw std::runtime_error("write refused at " + c.error().path + ": " + c.error().message);
  return *c;
}

inline nlohmann::json J(const char* s) { return nlohmann::json::parse(s); }

}  // namespace starling::test
