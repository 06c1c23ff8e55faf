// JSON control frames (WebSocket text frames) and protocol version choice.
//
// Every frame is a JSON object whose "type" selects the frame:
//
//   {"type":"hello","versions":[1],"node_id":HEX32,"nonce":HEX32,
//    "ephemeral_key":HEX32,"token":"..."}           token optional (absent or null)
//   {"type":"auth","signature":HEX64}
//   {"type":"frontier","doc":DOC,"frontier":FRONTIER}
//   {"type":"ready","doc":DOC}
//   {"type":"error","code":ERRC,"reason":"...","doc":DOC}  doc optional
//   {"type":"snapshot","doc":DOC,"frontier":FRONTIER,"size":N,"digest":HEX32}
//
//   FRONTIER := [{"author":HEX32,"seq":N,"head":HEX32}, ...]   one entry per author
//   HEXn     := n bytes as 2n lowercase hex characters
//   DOC      := a document name ([A-Za-z0-9._-]{1,128})
//   N        := a non-negative JSON integer (seq >= 1)
//   ERRC     := a wire name from errors.hpp
//
// Decoding rules:
// - Unknown extra fields are ignored, so a later version can add fields
//   without breaking this one (forward compatibility). Duplicate keys in one
//   object are refused (malformed): JSON parsers disagree on which one wins.
// - An unknown "type" is unknown_type; a missing or wrong-typed field, bad
//   hex, a wrong length or an invalid doc name is bad_field naming the field
//   (e.g. "frontier[2].head"); a frame, list or string over its
//   protocol_limits bound is too_large; anything that is not a JSON object
//   (or nests deeper than max_json_depth, or holds an integer outside
//   int64/uint64) is malformed. The text is read by crdt/json_parse.hpp,
//   the parser every JSON entry point of the project uses.
// - error frames are informative: an unrecognised code decodes as
//   errc::unrecognized with the sent name kept at the front of the reason,
//   and an over-long reason is truncated (at a UTF-8 boundary), not refused.
//
// Threading: pure functions; thread-safe. Decoders never throw (they catch
// everything the JSON library throws); encoders throw only std::bad_alloc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "crdt/expected.hpp"
#include "crdt/types.hpp"
#include "protocol/errors.hpp"
#include "protocol/limits.hpp"

namespace starling::protocol {

// The protocol versions this build speaks, and the WebSocket subprotocol.
inline constexpr std::uint32_t protocol_version = 1;
inline constexpr std::string_view subprotocol = "starling.1";
std::vector<std::uint32_t> supported_versions();

using nonce = fixed_bytes<32>;       // handshake challenge, random per connection
using x25519_key = fixed_bytes<32>;  // ephemeral key-exchange public key

struct hello_frame {
  std::vector<std::uint32_t> versions;
  public_key node_id;
  nonce challenge;
  x25519_key ephemeral_key;
  std::optional<std::string> token;  // join token, presented once by a new node
};

struct auth_frame {
  signature sig;  // over the handshake transcript
};

struct frontier_frame {
  std::string doc;
  starling::frontier heads;
};

struct ready_frame {
  std::string doc;
};

struct error_frame {
  errc code = errc::internal;
  std::string reason;
  std::optional<std::string> doc;  // set when the error concerns one document
};

struct snapshot_frame {
  std::string doc;
  starling::frontier at;  // the frontier the snapshot materialises
  std::uint64_t size = 0; // bytes of snapshot body that follow in snapshot chunks
  hash256 digest;         // BLAKE2b-256 of the whole body
};

using control_frame =
    std::variant<hello_frame, auth_frame, frontier_frame, ready_frame, error_frame, snapshot_frame>;

// The "type" value of a frame: "hello", "auth", ...
const char* type_name(const control_frame& f);

std::string encode(const hello_frame& f);
std::string encode(const auth_frame& f);
std::string encode(const frontier_frame& f);
std::string encode(const ready_frame& f);
// reason is truncated to default_max_reason_bytes; invalid UTF-8 is replaced.
std::string encode(const error_frame& f);
std::string encode(const snapshot_frame& f);
std::string encode(const control_frame& f);

expected<control_frame, protocol_error> decode_control(std::string_view text,
                                                       const protocol_limits& lim = {});

// The error frame that reports e to the peer.
error_frame to_error_frame(const protocol_error& e, std::optional<std::string> doc = std::nullopt);

// The highest version in both lists; unsupported_version if there is none.
expected<std::uint32_t, protocol_error> choose_version(const std::vector<std::uint32_t>& ours,
                                                       const std::vector<std::uint32_t>& theirs);

// Frame equality (tests, fuzzing).
bool operator==(const hello_frame& a, const hello_frame& b);
bool operator==(const auth_frame& a, const auth_frame& b);
bool operator==(const frontier_frame& a, const frontier_frame& b);
bool operator==(const ready_frame& a, const ready_frame& b);
bool operator==(const error_frame& a, const error_frame& b);
bool operator==(const snapshot_frame& a, const snapshot_frame& b);
inline bool operator!=(const hello_frame& a, const hello_frame& b) { return !(a == b); }
inline bool operator!=(const auth_frame& a, const auth_frame& b) { return !(a == b); }
inline bool operator!=(const frontier_frame& a, const frontier_frame& b) { return !(a == b); }
inline bool operator!=(const ready_frame& a, const ready_frame& b) { return !(a == b); }
inline bool operator!=(const error_frame& a, const error_frame& b) { return !(a == b); }
inline bool operator!=(const snapshot_frame& a, const snapshot_frame& b) { return !(a == b); }

}  // namespace starling::protocol
