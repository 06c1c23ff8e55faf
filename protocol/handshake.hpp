// The mutual challenge-response handshake that opens every peer connection.
//
// Both sides run the same machine and act at once; neither waits for the
// other to speak first:
//
//   start()            -> send our hello {versions, node id, fresh 32-byte
//                         nonce, fresh ephemeral X25519 key, optional token}
//   peer's hello       -> pick the highest common version, refuse our own node
//                         id, ask the trust_policy; on accept send our auth
//                         (Ed25519 signature over the transcript below)
//   peer's auth        -> verify it with the peer as signer; done
//
// Before the handshake is done only the peer's hello and then its auth are
// accepted, each exactly once; anything else (a second hello, auth first, a
// sync frame, any binary frame) fails with auth_failed, and a frame that
// does not decode fails with the decoder's code (malformed, bad_field, ...).
// A failure yields the error frame to send and the close code; a peer's
// error frame fails us with its code and nothing is sent back. After done or
// failed, every input is ignored and returns an empty step.
//
// `done` means the peer has proved its identity to us and we have sent our
// auth; the peer may still refuse ours. Its error frame then arrives as the
// first frame after done: a text frame where the session expects the peer's
// sealed-stream header (binary). The caller decodes it for the log and
// closes; the handshake does not see it.
//
// Transcript (what each side signs; 212 bytes, then hashed):
//
//   offset size  field
//        0   16  "starling.auth.v1" (ASCII, no terminator): domain separation
//       16    4  chosen protocol version, u32 big-endian
//       20   32  signer node id (Ed25519 public key)
//       52   32  signer nonce
//       84   32  signer ephemeral X25519 key
//      116   32  other side's node id
//      148   32  other side's nonce
//      180   32  other side's ephemeral X25519 key
//
//   signed message = BLAKE2b-256(those 212 bytes) (32 bytes)
//
// Each side signs with itself as signer and verifies the peer's auth with
// the peer as signer, so an auth reflected back to its sender does not
// verify; nonces and ephemeral keys are fresh per connection, so an auth
// replayed from an earlier session does not verify either. Signing the
// ephemeral keys binds the session keys to both identities: an attacker in
// the middle cannot swap in its own. Both sides compute the chosen version
// independently, so a version list altered in one direction makes the
// transcripts differ and the handshake fail; the lists themselves are not
// signed, so altering both in step (a downgrade) would go unnoticed. With
// one version today there is nothing to downgrade to; a second version
// should add both lists to the transcript (a new domain string).
//
// Deadline: the caller starts a timer of config().timeout when it calls
// start() and calls on_timeout() when it fires before done; the machine
// itself never reads a clock.
//
// Threading: one owner; not thread-safe. The identity and the policy must
// outlive the handshake; the policy is called from the owner's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/channel.hpp"
#include "auth/identity.hpp"
#include "auth/permissions.hpp"
#include "auth/trust.hpp"
#include "protocol/control.hpp"
#include "protocol/errors.hpp"
#include "protocol/limits.hpp"

namespace starling::protocol {

struct handshake_config {
  // The versions we speak, offered in our hello.
  std::vector<std::uint32_t> versions = supported_versions();
  // A join token to present (a new node's first connection), sent in hello.
  // hello precedes sealing, so the token travels in the clear: whoever can
  // read the link can race the new node to use it. Single use and a short
  // TTL bound the damage; join over a link you trust.
  std::optional<std::string> join_token;
  // Time from start() to done. 10 s is long enough for a slow link and two
  // signature checks, short enough that half-open connections do not pile
  // up. Enforced by the caller (see on_timeout).
  std::chrono::milliseconds timeout{10'000};
  // Bounds for decoding the peer's frames.
  protocol_limits limits{};
};

enum class handshake_state : std::uint8_t {
  awaiting_hello = 1,  // our hello is out (or about to be); the peer's has not come
  awaiting_auth,       // peer's hello accepted, our auth sent; waiting for the peer's auth
  done,                // both authenticated; result() is available
  failed,              // failure() says why; nothing more happens
};
const char* to_string(handshake_state s);

struct handshake_failure {
  errc code = errc::auth_failed;
  std::string reason;
  bool from_peer = false;  // the peer's error frame ended it; we sent nothing back
};

// What one call produced.
struct step {
  std::vector<std::string> frames;  // text frames to send, in order
  handshake_state state = handshake_state::awaiting_hello;
  std::optional<handshake_failure> failure;  // set when this call failed the handshake
  // Set with failure: close the WebSocket with this code (after sending frames).
  std::optional<std::uint16_t> close_code;
};

struct handshake_result {
  public_key peer_id;
  auth::permissions perm;
  std::vector<std::string> doc_patterns;  // empty = all documents
  std::uint32_t version = 0;
  auth::session_keys keys;  // start an auth::sealed_channel with these
  // Set when the peer was admitted through a join token: its hash. Consume it
  // and trust the peer's key in one atomic store operation before using the
  // connection; if that fails, close with token_invalid.
  std::optional<hash256> token_used;
};

class handshake {
 public:
  handshake(const auth::identity& me, handshake_config cfg, auth::trust_policy& policy);

  // Our hello, the first frame to send. Later calls return an empty step.
  step start();
  // A text frame from the peer. Starts us first if start() was not called.
  step on_frame(std::string_view text);
  // A binary frame from the peer: never allowed before done.
  step on_binary();
  // The caller's deadline passed: fails with timeout unless done or failed.
  step on_timeout();

  handshake_state state() const { return state_; }
  const std::optional<handshake_failure>& failure() const { return failure_; }
  // Precondition: state() == done.
  const handshake_result& result() const;
  const handshake_config& config() const { return cfg_; }

  // The 32-byte message the signer signs (see the transcript above); exposed
  // for tests and fuzzing.
  static hash256 transcript_hash(std::uint32_t version, const public_key& signer_id, const nonce& signer_nonce,
                                 const x25519_key& signer_ephemeral, const public_key& other_id,
                                 const nonce& other_nonce, const x25519_key& other_ephemeral);

 private:
  step on_hello(const hello_frame& h);
  step on_auth(const auth_frame& a);
  step fail(errc code, std::string reason);
  step current(std::vector<std::string> frames = {}) const;

  const auth::identity& me_;
  handshake_config cfg_;
  auth::trust_policy& policy_;
  handshake_state state_ = handshake_state::awaiting_hello;
  bool started_ = false;
  std::optional<handshake_failure> failure_;

  nonce our_nonce_;
  auth::kx_keypair our_kx_;
  // Set from the peer's accepted hello.
  public_key peer_id_;
  nonce peer_nonce_;
  x25519_key peer_ephemeral_;
  std::uint32_t version_ = 0;
  std::optional<handshake_result> result_;
};

}  // namespace starling::protocol
