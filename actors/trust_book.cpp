#include "actors/trust_book.hpp"

#include <nlohmann/json.hpp>

namespace starling::actors {

expected<std::shared_ptr<trust_book>, std::string> trust_book::load(const persistence::store& st,
                                                                    const std::vector<auth::trust_entry>& seed,
                                                                    persistence::write_batch& seed_batch,
                                                                    auth::static_trust_policy::clock now) {
  auto book = std::make_shared<trust_book>(now);
  auto entries = st.list_trust();
  if (!entries) return make_unexpected("cannot read the trust table: " + entries.error().message);
  for (auto& [key, text] : *entries) {
    auto e = auth::trust_entry_from_json_text(text);
    if (!e) return make_unexpected("trust record of key " + short_id(key) + ": " + e.error().message);
    book->policy_.trust(std::move(*e));
  }
  auto tokens = st.list_tokens();
  if (!tokens) return make_unexpected("cannot read the token table: " + tokens.error().message);
  for (auto& [hash, rec] : *tokens) {
    if (rec.consumed) continue;
    auto r = auth::token_record_from_json_text(rec.json);
    if (!r) return make_unexpected("token record " + to_hex(hash).substr(0, 12) + ": " + r.error().message);
    book->policy_.add_token(hash, std::move(*r));
  }
  for (const auto& e : seed) {
    if (book->policy_.find(e.key)) continue;
    auto entry = e;
    if (entry.added_ms == 0) entry.added_ms = now();
    seed_batch.put_trust(entry.key, auth::to_json(entry).dump());
    book->policy_.trust(std::move(entry));
  }
  return book;
}

auth::decision trust_book::check_peer(const public_key& peer, const std::optional<std::string>& token) {
  std::lock_guard<std::mutex> lock(mu_);
  return policy_.check_peer(peer, token);
}

std::optional<auth::trust_entry> trust_book::token_grant(const hash256& token_hash, const public_key& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  return policy_.token_grant(token_hash, key);
}

void trust_book::trusted(const auth::trust_entry& e) {
  std::lock_guard<std::mutex> lock(mu_);
  policy_.trust(e);
}

void trust_book::token_added(const hash256& token_hash, const auth::token_record& r) {
  std::lock_guard<std::mutex> lock(mu_);
  policy_.add_token(token_hash, r);
}

void trust_book::token_removed(const hash256& token_hash) {
  std::lock_guard<std::mutex> lock(mu_);
  policy_.remove_token(token_hash);
}

std::optional<auth::trust_entry> trust_book::find(const public_key& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto* e = policy_.find(key);
  if (!e) return std::nullopt;
  return *e;
}

std::vector<auth::trust_entry> trust_book::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<auth::trust_entry> out;
  for (auto& [k, e] : policy_.entries()) out.push_back(e);
  return out;
}

std::vector<std::pair<hash256, auth::token_record>> trust_book::tokens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {policy_.tokens().begin(), policy_.tokens().end()};
}

}  // namespace starling::actors
