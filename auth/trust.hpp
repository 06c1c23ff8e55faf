// Trust: which peer keys a node accepts and what each may do, and the
// policy the handshake asks about a peer.
//
// A trust_entry grants a key a permission set, optionally only on documents
// whose names match one of its glob patterns. Revoked entries stay in the
// store (so the key cannot come back through a join token) and allow nothing.
//
// trust_policy is what the handshake (protocol/handshake.hpp) consults once
// per connection, after the peer's hello. static_trust_policy is an
// in-memory implementation for tests and for a node until the persistent
// store backs it.
//
// Threading: trust_entry and the free functions are values / pure and
// thread-safe. trust_policy implementations document their own contract;
// static_trust_policy has one owner and is not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "auth/identity.hpp"
#include "auth/permissions.hpp"
#include "auth/token.hpp"
#include "crdt/expected.hpp"
#include "crdt/types.hpp"

namespace starling::auth {

// ---------------------------------------------------------------- patterns

// Document patterns: 1 to max_doc_pattern characters from the document name
// alphabet ([A-Za-z0-9._-]) plus the wildcards '*' (any run, possibly empty)
// and '?' (exactly one character). There is no escape: '*' and '?' cannot
// occur in document names.
inline constexpr std::size_t max_doc_pattern = 2 * max_doc_name;
bool valid_doc_pattern(std::string_view pattern);

// Whole-name glob match with '*' and '?'. Iterative with one backtrack
// point (the last '*'), so it takes O(|pattern| * |name|) time at worst and
// constant stack on any input, valid or not.
bool glob_match(std::string_view pattern, std::string_view name);

// True when patterns is empty (every document) or one of them matches doc.
bool matches_any(const std::vector<std::string>& patterns, std::string_view doc);

// ------------------------------------------------------------- trust entry

struct trust_entry {
  public_key key;
  permissions perm;
  std::vector<std::string> doc_patterns;  // empty = all documents
  bool revoked = false;
  std::string note;          // free text for operators
  std::int64_t added_ms = 0; // milliseconds since the Unix epoch
};

bool operator==(const trust_entry& a, const trust_entry& b);
inline bool operator!=(const trust_entry& a, const trust_entry& b) { return !(a == b); }

// Not revoked, has p, and doc matches the entry's patterns.
bool allows(const trust_entry& e, permission p, std::string_view doc);

// JSON form, as stored:
//   {"key":HEX64,"perm":"read,write","doc_patterns":[],"revoked":false,"note":"","added_ms":N}
// Decoding refuses (malformed, naming the field) missing or wrong-typed
// fields, a key that is not 64 hex characters, unknown permission names,
// invalid patterns and a negative time. Extra fields are ignored. Never
// throws (except std::bad_alloc).
nlohmann::json to_json(const trust_entry& e);
expected<trust_entry, auth_error> trust_entry_from_json(const nlohmann::json& j);
expected<trust_entry, auth_error> trust_entry_from_json_text(std::string_view text);

// ------------------------------------------------------------------ policy

// Why a peer is turned away. The handshake maps these to protocol error
// codes (untrusted 4404, token_invalid 4402, revoked 4410).
enum class rejection : std::uint8_t {
  untrusted = 1,  // unknown key and no token
  token_invalid,  // unknown key and a token that is malformed, unknown, expired or used
  revoked,        // the key was revoked (a token cannot bring it back)
};
const char* to_string(rejection r);

struct decision {
  bool accepted = false;
  // When accepted: what the peer may do.
  permissions perm;
  std::vector<std::string> doc_patterns;  // empty = all documents
  // When accepted through a join token: its hash. The caller must consume
  // the token and trust the key in one atomic step once the handshake
  // succeeds; if consuming fails (another connection used it first) the
  // connection must be dropped.
  std::optional<hash256> token_used;
  // When rejected: why, and a reason for the error frame and logs.
  rejection why = rejection::untrusted;
  std::string reason;

  static decision accept(permissions perm, std::vector<std::string> doc_patterns,
                         std::optional<hash256> token_used = std::nullopt);
  static decision reject(rejection why, std::string reason);
};

class trust_policy {
 public:
  virtual ~trust_policy() = default;
  // Called once per connection with the peer's claimed key and the join
  // token from its hello (if any), before the peer has proved the key: the
  // answer must not change any state (no token is consumed here).
  virtual decision check_peer(const public_key& peer, const std::optional<std::string>& token) = 0;
};

// Milliseconds since the Unix epoch, from the system clock.
std::int64_t system_now_ms();

// An in-memory trust store. Rules, in order:
//   1. a trusted, revoked key           -> reject revoked (even with a token)
//   2. a trusted key                    -> accept with its permissions and patterns
//   3. an unknown key and no token      -> reject untrusted
//   4. an unknown key and a token that is well formed, known and valid at
//      now()                           -> accept with the token's grant, token_used set
//   5. otherwise                        -> reject token_invalid
// A used token is one consume_token() has removed; it is then unknown.
class static_trust_policy final : public trust_policy {
 public:
  using clock = std::function<std::int64_t()>;
  explicit static_trust_policy(clock now = system_now_ms);

  // Adds or replaces the entry for e.key.
  void trust(trust_entry e);
  // Marks the key revoked; false if it is not trusted at all.
  bool revoke(const public_key& key);
  const trust_entry* find(const public_key& key) const;

  void add_token(const hash256& token_hash, token_record r);
  // Uses a token up: removes it and trusts key with its grant. False (and no
  // change) if the token is unknown or no longer valid, or key is revoked.
  bool consume_token(const hash256& token_hash, const public_key& key);
  bool has_token(const hash256& token_hash) const { return tokens_.count(token_hash) != 0; }
  // The entry consume_token() would add for key, without changing anything;
  // nullopt when it would refuse.
  std::optional<trust_entry> token_grant(const hash256& token_hash, const public_key& key) const;
  void remove_token(const hash256& token_hash) { tokens_.erase(token_hash); }

  const std::map<public_key, trust_entry>& entries() const { return entries_; }
  const std::map<hash256, token_record>& tokens() const { return tokens_; }

  decision check_peer(const public_key& peer, const std::optional<std::string>& token) override;

 private:
  clock now_;
  std::map<public_key, trust_entry> entries_;
  std::map<hash256, token_record> tokens_;
};

}  // namespace starling::auth
