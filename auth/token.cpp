#include "auth/token.hpp"

#include <nlohmann/json.hpp>

#include "auth/record_json.hpp"
#include "auth/secret_memory.hpp"
#include "auth/trust.hpp"
#include "crdt/crypto.hpp"

namespace starling::auth {

namespace {

// Bounds that keep a damaged or hostile record cheap to read.
constexpr std::size_t max_note_bytes = 4096;
constexpr std::size_t max_patterns = 256;

auth_error malformed(std::string msg) { return {auth_errc::malformed, std::move(msg)}; }

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

std::string generate_token() {
  std::array<std::uint8_t, token_random_bytes> raw{};
  crypto::random_bytes(raw.data(), raw.size());
  std::string out(token_prefix);
  out += to_hex(byte_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  wipe(raw.data(), raw.size());
  return out;
}

expected<done, auth_error> check_token_format(std::string_view token) {
  if (token.substr(0, token_prefix.size()) != token_prefix)
    return make_unexpected(malformed("join token must start with '" + std::string(token_prefix) + "'"));
  if (token.size() != token_length)
    return make_unexpected(malformed("join token must be " + std::to_string(token_length) +
                                     " characters, got " + std::to_string(token.size())));
  for (std::size_t i = token_prefix.size(); i < token.size(); ++i)
    if (!is_lower_hex(token[i]))
      return make_unexpected(malformed("join token has a character that is not lowercase hex at position " +
                                       std::to_string(i)));
  return done{};
}

hash256 hash_token(std::string_view token) { return crypto::blake2b_256(token); }

bool operator==(const token_record& a, const token_record& b) {
  return a.perm == b.perm && a.doc_patterns == b.doc_patterns && a.created_ms == b.created_ms &&
         a.expires_ms == b.expires_ms && a.note == b.note;
}

bool token_valid_at(const token_record& r, std::int64_t now_ms) {
  return now_ms < r.expires_ms;
}

nlohmann::json to_json(const token_record& r) {
  return nlohmann::json{{"perm", r.perm.format()},
                        {"doc_patterns", r.doc_patterns},
                        {"created_ms", r.created_ms},
                        {"expires_ms", r.expires_ms},
                        {"note", r.note}};
}

expected<token_record, auth_error> token_record_from_json(const nlohmann::json& j) {
  token_record r;
  record_json::reader in(j, "token record");
  in.perms("perm", r.perm);
  in.string_list("doc_patterns", r.doc_patterns, max_patterns, valid_doc_pattern);
  in.time_ms("created_ms", r.created_ms);
  in.time_ms("expires_ms", r.expires_ms);
  in.string("note", r.note, max_note_bytes);
  if (!in.error && r.expires_ms < r.created_ms) in.fail("expires_ms", "is before created_ms");
  if (in.error) return make_unexpected(std::move(*in.error));
  return r;
}

expected<token_record, auth_error> token_record_from_json_text(std::string_view text) {
  auto j = record_json::parse_text(text);
  if (!j) return make_unexpected(malformed("token record: " + j.error()));
  return token_record_from_json(*j);
}

expected<std::int64_t, auth_error> parse_duration(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return make_unexpected(malformed("duration: " + why + " (expected e.g. 90s, 30m, 24h, 7d)"));
  };
  if (text.size() < 2) return bad("too short");
  std::int64_t unit_ms = 0;
  switch (text.back()) {
    case 's': unit_ms = 1000; break;
    case 'm': unit_ms = 60 * 1000; break;
    case 'h': unit_ms = 3600 * 1000; break;
    case 'd': unit_ms = 24 * 3600 * 1000; break;
    default: return bad("unknown unit");
  }
  auto digits = text.substr(0, text.size() - 1);
  std::int64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return bad("not a whole number");
    // Checked before multiplying so that n * 10 + 9 cannot overflow.
    if (n > max_duration_ms / 10) return bad("too long");
    n = n * 10 + (c - '0');
  }
  if (n == 0) return bad("must be positive");
  if (n > max_duration_ms / unit_ms) return bad("too long");
  return n * unit_ms;
}

}  // namespace starling::auth
