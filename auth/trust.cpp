#include "auth/trust.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include "auth/record_json.hpp"

namespace starling::auth {

namespace {

constexpr std::size_t max_note_bytes = 4096;
constexpr std::size_t max_patterns = 256;

bool doc_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

// ---------------------------------------------------------------- patterns

bool valid_doc_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > max_doc_pattern) return false;
  for (char c : pattern)
    if (!doc_name_char(c) && c != '*' && c != '?') return false;
  return true;
}

bool glob_match(std::string_view pattern, std::string_view name) {
  std::size_t p = 0, n = 0;
  // Where to resume after the most recent '*': the pattern just past it and
  // the name position it is currently taken to absorb up to. Only the last
  // star needs remembering: any match an earlier star could still find, the
  // later one finds by absorbing more.
  std::size_t star_p = std::string_view::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || (pattern[p] != '*' && pattern[p] == name[n]))) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star_p = ++p;
      star_n = n;
    } else if (star_p != std::string_view::npos) {
      p = star_p;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool matches_any(const std::vector<std::string>& patterns, std::string_view doc) {
  if (patterns.empty()) return true;
  for (const auto& pat : patterns)
    if (glob_match(pat, doc)) return true;
  return false;
}

// ------------------------------------------------------------- trust entry

bool operator==(const trust_entry& a, const trust_entry& b) {
  return a.key == b.key && a.perm == b.perm && a.doc_patterns == b.doc_patterns && a.revoked == b.revoked &&
         a.note == b.note && a.added_ms == b.added_ms;
}

bool allows(const trust_entry& e, permission p, std::string_view doc) {
  return !e.revoked && e.perm.has(p) && matches_any(e.doc_patterns, doc);
}

nlohmann::json to_json(const trust_entry& e) {
  return nlohmann::json{{"key", to_hex(e.key)},   {"perm", e.perm.format()}, {"doc_patterns", e.doc_patterns},
                        {"revoked", e.revoked},   {"note", e.note},          {"added_ms", e.added_ms}};
}

expected<trust_entry, auth_error> trust_entry_from_json(const nlohmann::json& j) {
  trust_entry e;
  record_json::reader in(j, "trust entry");
  std::string key_hex;
  in.string("key", key_hex, 64);
  if (!in.error) {
    auto key = parse_node_id(key_hex);
    if (key) e.key = *key;
    else in.fail("key", "is not 64 hex characters");
  }
  in.perms("perm", e.perm);
  in.string_list("doc_patterns", e.doc_patterns, max_patterns, valid_doc_pattern);
  in.boolean("revoked", e.revoked);
  in.string("note", e.note, max_note_bytes);
  in.time_ms("added_ms", e.added_ms);
  if (in.error) return make_unexpected(std::move(*in.error));
  return e;
}

expected<trust_entry, auth_error> trust_entry_from_json_text(std::string_view text) {
  auto j = record_json::parse_text(text);
  if (!j) return make_unexpected(auth_error{auth_errc::malformed, "trust entry: " + j.error()});
  return trust_entry_from_json(*j);
}

// ------------------------------------------------------------------ policy

const char* to_string(rejection r) {
  switch (r) {
    case rejection::untrusted: return "untrusted";
    case rejection::token_invalid: return "token_invalid";
    case rejection::revoked: return "revoked";
  }
  return "unknown";
}

decision decision::accept(permissions perm, std::vector<std::string> doc_patterns,
                          std::optional<hash256> token_used) {
  decision d;
  d.accepted = true;
  d.perm = perm;
  d.doc_patterns = std::move(doc_patterns);
  d.token_used = token_used;
  return d;
}

decision decision::reject(rejection why, std::string reason) {
  decision d;
  d.why = why;
  d.reason = std::move(reason);
  return d;
}

std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

static_trust_policy::static_trust_policy(clock now) : now_(std::move(now)) {}

void static_trust_policy::trust(trust_entry e) {
  auto key = e.key;
  entries_[key] = std::move(e);
}

bool static_trust_policy::revoke(const public_key& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  it->second.revoked = true;
  return true;
}

const trust_entry* static_trust_policy::find(const public_key& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

void static_trust_policy::add_token(const hash256& token_hash, token_record r) {
  tokens_[token_hash] = std::move(r);
}

std::optional<trust_entry> static_trust_policy::token_grant(const hash256& token_hash, const public_key& key) const {
  auto it = tokens_.find(token_hash);
  if (it == tokens_.end()) return std::nullopt;
  auto now = now_();
  if (!token_valid_at(it->second, now)) return std::nullopt;
  if (auto* e = find(key); e && e->revoked) return std::nullopt;
  trust_entry e;
  e.key = key;
  e.perm = it->second.perm;
  e.doc_patterns = it->second.doc_patterns;
  e.note = it->second.note;
  e.added_ms = now;
  return e;
}

bool static_trust_policy::consume_token(const hash256& token_hash, const public_key& key) {
  auto e = token_grant(token_hash, key);
  if (!e) return false;
  entries_[key] = std::move(*e);
  tokens_.erase(token_hash);
  return true;
}

decision static_trust_policy::check_peer(const public_key& peer, const std::optional<std::string>& token) {
  if (const auto* e = find(peer)) {
    if (e->revoked) return decision::reject(rejection::revoked, "key " + short_id(peer) + " was revoked");
    return decision::accept(e->perm, e->doc_patterns);
  }
  if (!token)
    return decision::reject(rejection::untrusted,
                            "key " + short_id(peer) + " is not trusted; add it with 'starling trust' or "
                            "present a join token");
  if (!check_token_format(*token))
    return decision::reject(rejection::token_invalid, "join token is not in the stk1_ format");
  auto h = hash_token(*token);
  auto it = tokens_.find(h);
  // Unknown, used and expired tokens get the same answer: telling them apart
  // would only help someone guessing.
  if (it == tokens_.end() || !token_valid_at(it->second, now_()))
    return decision::reject(rejection::token_invalid, "join token is unknown, expired or already used");
  return decision::accept(it->second.perm, it->second.doc_patterns, h);
}

}  // namespace starling::auth
