// The libsodium calls behind auth/channel.hpp: X25519 key exchange
// (crypto_kx) and the XChaCha20-Poly1305 secret stream. This is the only
// place they are made; each libsodium return code is translated here into a
// bool, so callers never see libsodium's int conventions or its headers.
//
// Internal to auth/: use auth/channel.hpp instead.
//
// Threading: free functions over caller-owned buffers; thread-safe as long as
// no two threads touch the same buffer or stream state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace starling::auth::sodium {

inline constexpr std::size_t kx_public_bytes = 32;
inline constexpr std::size_t kx_secret_bytes = 32;
inline constexpr std::size_t kx_seed_bytes = 32;
inline constexpr std::size_t session_key_bytes = 32;
inline constexpr std::size_t stream_key_bytes = 32;
inline constexpr std::size_t stream_header_bytes = 24;
// Per-message overhead of the secret stream: a one-byte encrypted tag plus a
// 16-byte Poly1305 MAC.
inline constexpr std::size_t stream_abytes = 17;

using kx_public = std::array<std::uint8_t, kx_public_bytes>;
using kx_secret = std::array<std::uint8_t, kx_secret_bytes>;
using session_key = std::array<std::uint8_t, session_key_bytes>;
using stream_header = std::array<std::uint8_t, stream_header_bytes>;

void kx_keypair(kx_public& pk, kx_secret& sk);
void kx_seed_keypair(kx_public& pk, kx_secret& sk, const std::array<std::uint8_t, kx_seed_bytes>& seed);

// crypto_kx with us as "client" or "server". False when the peer's key is
// not acceptable (a low-order point, which would give a predictable secret).
bool kx_client_session_keys(session_key& rx, session_key& tx, const kx_public& client_pk,
                            const kx_secret& client_sk, const kx_public& server_pk);
bool kx_server_session_keys(session_key& rx, session_key& tx, const kx_public& server_pk,
                            const kx_secret& server_sk, const kx_public& client_pk);

// Opaque storage for crypto_secretstream_xchacha20poly1305_state (52 bytes
// in libsodium 1.0.18; sodium_kx.cpp checks that it fits). Plain bytes, so
// the owner decides how it moves and when it is wiped.
struct stream_state {
  alignas(16) std::array<unsigned char, 64> bytes{};
};

void stream_init_push(stream_state& st, stream_header& header, const session_key& key);
// Never fails in libsodium 1.0.18 (a wrong header shows as a forged first
// message); the bool keeps the contract if a later version checks more.
bool stream_init_pull(stream_state& st, const stream_header& header, const session_key& key);

enum class stream_tag : std::uint8_t { message, final, other };

// Seals mlen bytes at m into out, which must hold mlen + stream_abytes bytes.
void stream_push(stream_state& st, unsigned char* out, const unsigned char* m, std::size_t mlen,
                 stream_tag tag);
// Opens clen >= stream_abytes bytes at c into out (clen - stream_abytes
// bytes). False on a forged, reordered, replayed or truncated message; then
// out holds no plaintext (the MAC is checked before anything is decrypted)
// and st is unchanged.
bool stream_pull(stream_state& st, unsigned char* out, stream_tag& tag, const unsigned char* c,
                 std::size_t clen);

}  // namespace starling::auth::sodium
