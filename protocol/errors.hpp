// Protocol error codes: what a decoder reports, what an `error` frame carries
// and which WebSocket close code follows it.
//
// Wire names and close codes are stable: peers of different versions rely on
// them. Add new codes at the end; never renumber or rename.
//
//   errc                 wire name             close   meaning
//   malformed            "malformed"           4000    not parseable (bad JSON, bad binary framing)
//   bad_field            "bad_field"           4001    a field is missing, of the wrong type or out of range
//   unknown_type         "unknown_type"        4002    a control frame type or binary frame kind we do not know
//   too_large            "too_large"           4009    over a protocol_limits bound (mirrors 1009)
//   unsupported_version  "unsupported_version" 4010    no protocol version in common
//   bad_change           "bad_change"          4201    a change failed to decode or validate
//   lagged               "lagged"              4202    the peer fell too far behind the live stream
//   auth_failed          "auth_failed"         4401    bad handshake signature or transcript
//   token_invalid        "token_invalid"       4402    join token unknown, expired or already used
//   forbidden            "forbidden"           4403    authenticated, but lacks the permission
//   untrusted            "untrusted"           4404    key not in the trust store and no token
//   timeout              "timeout"             4408    handshake or keepalive deadline passed
//   revoked              "revoked"             4410    the key was revoked
//   internal             "internal"            4500    the sender failed; not the receiver's fault
//   unrecognized         "unrecognized"        4999    a code this build does not know (sent by a
//                                                      newer peer); never originated locally
//
// 40xx: frame and codec errors, 42xx: sync, 44xx: authentication and
// authorisation (echoing HTTP 401/403/408/410), 45xx: the sender's fault.
//
// Threading: pure functions over constants; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace starling::protocol {

enum class errc : std::uint8_t {
  malformed = 1,
  too_large,
  unsupported_version,
  unknown_type,
  bad_field,
  auth_failed,
  untrusted,
  token_invalid,
  revoked,
  timeout,
  forbidden,
  bad_change,
  lagged,
  internal,
  unrecognized,
};

// Every code, in declaration order (for tables and tests).
inline constexpr errc all_errcs[] = {
    errc::malformed, errc::too_large,  errc::unsupported_version, errc::unknown_type, errc::bad_field,
    errc::auth_failed, errc::untrusted, errc::token_invalid,      errc::revoked,      errc::timeout,
    errc::forbidden, errc::bad_change, errc::lagged,              errc::internal,     errc::unrecognized,
};

const char* to_string(errc c);
std::optional<errc> errc_from_string(std::string_view name);
// The WebSocket close code sent after an error frame with this code.
std::uint16_t close_code(errc c);
std::optional<errc> errc_from_close_code(std::uint16_t code);

struct protocol_error {
  errc code;
  std::string message;  // for logs and the `reason` of an error frame; names the field
};

}  // namespace starling::protocol
