// Session keys and sealed frames: what protects a peer connection once the
// handshake has authenticated both sides.
//
// 1. Each side makes a fresh ephemeral X25519 key pair per connection
//    (kx_keypair) and sends the public half in its `hello`.
// 2. derive_session_keys() turns our pair and the peer's public key into two
//    32-byte keys: tx seals what we send, rx opens what the peer sends. Our
//    tx is the peer's rx and vice versa.
// 3. sealed_channel runs one XChaCha20-Poly1305 secret stream per direction.
//    The first frame each side sends after the handshake is its 24-byte
//    stream header (in the clear: it is a random nonce, not a secret); every
//    later WebSocket frame is seal()ed and always sent as a binary frame.
//
// Because the secret stream chains its nonces, each sealed frame opens only
// once, only in order and only on the stream it was sealed for: tampering,
// reordering, replay, truncation and frames sealed with another key all fail
// to open. The first failure breaks the channel for good (every later open()
// fails too): after one bad frame the stream is out of step or under attack,
// nothing later can be trusted, and the caller must close the connection.
//
// Threading: kx_keypair and session_keys are values (safe to share const);
// a sealed_channel has one owner and is not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "auth/identity.hpp"
#include "auth/sodium_kx.hpp"
#include "crdt/expected.hpp"
#include "crdt/types.hpp"

namespace starling::auth {

using x25519_key = fixed_bytes<32>;  // ephemeral key-exchange public key (same type as protocol::x25519_key)

// The two directional keys of one connection. Wiped on destruction.
struct session_keys {
  sodium::session_key rx{};  // opens what the peer seals
  sodium::session_key tx{};  // seals what we send
  session_keys() = default;
  session_keys(const session_keys&) = default;
  session_keys& operator=(const session_keys&) = default;
  ~session_keys();
};

enum class kx_error : std::uint8_t {
  same_key = 1,  // the peer's ephemeral key equals ours: a reflected hello
  weak_key,      // the peer's key is a low-order point (it would fix the shared secret)
};
const char* to_string(kx_error e);

// An ephemeral X25519 key pair for one connection. The secret half is wiped
// on destruction and never leaves this object except into derive_session_keys.
class kx_keypair {
 public:
  static kx_keypair generate();
  // Deterministic pair from a 32-byte seed (tests only: a real connection
  // must use generate(), or replayed handshakes would derive old keys).
  static kx_keypair from_seed(const std::array<std::uint8_t, 32>& seed);

  kx_keypair(kx_keypair&& other) noexcept;
  kx_keypair& operator=(kx_keypair&& other) noexcept;
  kx_keypair(const kx_keypair&) = delete;  // one copy of a secret is enough
  kx_keypair& operator=(const kx_keypair&) = delete;
  ~kx_keypair();

  const x25519_key& key() const { return pk_; }

 private:
  kx_keypair() = default;
  friend expected<session_keys, kx_error> derive_session_keys(const kx_keypair& mine,
                                                             const x25519_key& theirs);
  x25519_key pk_;
  sodium::kx_secret sk_{};
};

// crypto_kx is asymmetric: it needs one "client" and one "server" so that
// the client's tx equals the server's rx. Our handshake is symmetric (both
// sides send hello at once, and with simultaneous dials neither the dialer
// nor the listener is unique), so the roles come from data both sides
// already share: the side whose ephemeral public key is lexicographically
// smaller (as bytes) is the client, the other the server. Both compute the
// same answer without another message. Equal keys cannot be ordered; they
// only happen when our own hello is reflected back, so they are an error.
//
// Separate keys per direction mean a frame reflected back to its sender
// does not open. The ephemeral keys are bound into the signed handshake
// transcript, so an attacker in the middle cannot substitute them.
expected<session_keys, kx_error> derive_session_keys(const kx_keypair& mine, const x25519_key& theirs);

// What a sealed frame carried: the WebSocket frame type the sender meant.
enum class frame_kind : std::uint8_t { text = 1, binary = 2 };

enum class seal_error : std::uint8_t {
  no_header = 1,   // a frame arrived before the peer's stream header
  header_twice,    // accept_header() after the header was already accepted
  bad_header,      // the header is not 24 bytes
  truncated,       // shorter than the smallest sealed frame (overhead bytes)
  forged,          // does not open: tampered, reordered, replayed, or another key/header
  unexpected_tag,  // opened, but not tagged as an ordinary message
  bad_kind,        // opened, but the kind byte is neither text nor binary
  broken,          // an earlier frame failed; the channel opens nothing more
};
const char* to_string(seal_error e);

struct opened {
  frame_kind kind = frame_kind::binary;
  bytes plaintext;
};

class sealed_channel {
 public:
  // Bytes a sealed frame adds to its plaintext: the secret stream's ABYTES
  // (17: encrypted tag + 16-byte MAC) plus our one-byte frame kind. The
  // transport's frame limit must allow this much over the protocol's.
  static constexpr std::size_t overhead = sodium::stream_abytes + 1;
  static constexpr std::size_t header_size = sodium::stream_header_bytes;

  // A channel whose send stream is ready, and the header to send as the
  // first frame after the handshake. The receive stream starts when the
  // peer's header arrives (accept_header).
  static std::pair<sealed_channel, bytes> start(const session_keys& keys);

  // Moving transfers the streams; the moved-from channel is broken. Copies
  // are refused: two copies of a send stream would reuse nonces.
  sealed_channel(sealed_channel&& other) noexcept;
  sealed_channel& operator=(sealed_channel&& other) noexcept;
  sealed_channel(const sealed_channel&) = delete;
  sealed_channel& operator=(const sealed_channel&) = delete;
  ~sealed_channel();

  // The peer's 24-byte header: the first frame the peer sends after auth.
  expected<done, seal_error> accept_header(byte_view header);
  bool has_header() const { return pull_ready_; }

  // plaintext sealed into plaintext.size() + overhead bytes; send it as a
  // binary WebSocket frame whatever the kind. Precondition: not moved-from.
  bytes seal(byte_view plaintext, frame_kind kind);

  // The kind and plaintext of the next frame, or an error; on error no
  // plaintext is returned and the channel is broken.
  expected<opened, seal_error> open(byte_view ciphertext);

  bool broken() const { return broken_; }

 private:
  sealed_channel() = default;
  void wipe_all();
  expected<opened, seal_error> fail(seal_error e);

  sodium::stream_state push_;
  sodium::stream_state pull_;
  sodium::session_key rx_{};  // kept only until the peer's header arrives
  bool push_ready_ = false;
  bool pull_ready_ = false;
  bool broken_ = false;
};

}  // namespace starling::auth
