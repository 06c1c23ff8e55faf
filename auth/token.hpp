// Join tokens: a one-time secret that lets a new node's key become trusted.
//
// `starling token create --perm write --ttl 24h` prints a token; the new node
// presents it once in its `hello`. Only hash_token() of a token is ever
// stored, next to a token_record saying what the token grants and until
// when; consuming a token (deleting its record and trusting the key in one
// store transaction) is the caller's job, which is what makes tokens
// single-use across crashes.
//
// Token text: "stk1_" followed by 64 lowercase hex characters (32 random
// bytes). The prefix names the format and makes tokens easy to spot in a
// leaked log or config so they can be revoked.
//
// Threading: pure functions and plain values; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "auth/identity.hpp"
#include "auth/permissions.hpp"
#include "crdt/expected.hpp"
#include "crdt/types.hpp"

namespace starling::auth {

inline constexpr std::string_view token_prefix = "stk1_";
inline constexpr std::size_t token_random_bytes = 32;
inline constexpr std::size_t token_length = token_prefix.size() + 2 * token_random_bytes;

// A fresh token from 32 bytes of crypto::random_bytes.
std::string generate_token();

// Checks the token text format above. The error (malformed) says what is
// wrong without echoing the token: it may be a real secret with a typo.
expected<done, auth_error> check_token_format(std::string_view token);

// BLAKE2b-256 of the whole token text: the only form that is stored.
hash256 hash_token(std::string_view token);

// What a token grants, and when. Times are milliseconds since the Unix epoch.
struct token_record {
  permissions perm;
  std::vector<std::string> doc_patterns;  // as trust_entry: empty = every document
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;  // the first instant at which the token no longer works
  std::string note;             // free text for operators ("laptop of the build team")
};

bool operator==(const token_record& a, const token_record& b);
inline bool operator!=(const token_record& a, const token_record& b) { return !(a == b); }

// Valid until expires_ms (exclusive). created_ms is not checked: it is for
// operators, and a clock stepped back a little must not void a fresh token.
bool token_valid_at(const token_record& r, std::int64_t now_ms);

// JSON form, as stored:
//   {"perm":"read,write","doc_patterns":["team-*"],"created_ms":N,"expires_ms":N,"note":"..."}
// Decoding refuses (auth_errc::malformed, naming the field) a missing or
// wrong-typed field, unknown permission names, an invalid doc pattern,
// negative times and expires_ms < created_ms. Extra fields are ignored.
// It never throws (except std::bad_alloc).
nlohmann::json to_json(const token_record& r);
expected<token_record, auth_error> token_record_from_json(const nlohmann::json& j);
expected<token_record, auth_error> token_record_from_json_text(std::string_view text);

// Token lifetimes: a positive integer and a unit, s, m, h or d ("90s",
// "30m", "24h", "7d"), in milliseconds. Nothing else (no spaces, signs,
// fractions or combined units); zero and anything over max_duration_ms are
// refused. Errors are auth_errc::malformed.
inline constexpr std::int64_t max_duration_ms = std::int64_t(100) * 365 * 24 * 3600 * 1000;  // ~100 years
expected<std::int64_t, auth_error> parse_duration(std::string_view text);

}  // namespace starling::auth
