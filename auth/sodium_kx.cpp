#include "auth/sodium_kx.hpp"

#include <sodium.h>

#include "crdt/crypto.hpp"

namespace starling::auth::sodium {

static_assert(kx_public_bytes == crypto_kx_PUBLICKEYBYTES);
static_assert(kx_secret_bytes == crypto_kx_SECRETKEYBYTES);
static_assert(kx_seed_bytes == crypto_kx_SEEDBYTES);
static_assert(session_key_bytes == crypto_kx_SESSIONKEYBYTES);
static_assert(stream_key_bytes == crypto_secretstream_xchacha20poly1305_KEYBYTES);
static_assert(session_key_bytes == stream_key_bytes, "a kx session key keys one secret stream");
static_assert(stream_header_bytes == crypto_secretstream_xchacha20poly1305_HEADERBYTES);
static_assert(stream_abytes == crypto_secretstream_xchacha20poly1305_ABYTES);
static_assert(sizeof(crypto_secretstream_xchacha20poly1305_state) <= sizeof(stream_state::bytes));
static_assert(alignof(crypto_secretstream_xchacha20poly1305_state) <= alignof(stream_state));

namespace {

crypto_secretstream_xchacha20poly1305_state* raw(stream_state& st) {
  // The libsodium state is a plain struct of byte arrays; stream_state is
  // storage for exactly one of them and nothing else ever lives there.
  return reinterpret_cast<crypto_secretstream_xchacha20poly1305_state*>(st.bytes.data());
}

unsigned char to_sodium(stream_tag t) {
  switch (t) {
    case stream_tag::message: return crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    case stream_tag::final: return crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    case stream_tag::other: break;
  }
  return crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
}

stream_tag from_sodium(unsigned char t) {
  if (t == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) return stream_tag::message;
  if (t == crypto_secretstream_xchacha20poly1305_TAG_FINAL) return stream_tag::final;
  return stream_tag::other;
}

}  // namespace

void kx_keypair(kx_public& pk, kx_secret& sk) {
  crypto::init();
  crypto_kx_keypair(pk.data(), sk.data());
}

void kx_seed_keypair(kx_public& pk, kx_secret& sk, const std::array<std::uint8_t, kx_seed_bytes>& seed) {
  crypto::init();
  crypto_kx_seed_keypair(pk.data(), sk.data(), seed.data());
}

bool kx_client_session_keys(session_key& rx, session_key& tx, const kx_public& client_pk,
                            const kx_secret& client_sk, const kx_public& server_pk) {
  crypto::init();
  return crypto_kx_client_session_keys(rx.data(), tx.data(), client_pk.data(), client_sk.data(),
                                       server_pk.data()) == 0;
}

bool kx_server_session_keys(session_key& rx, session_key& tx, const kx_public& server_pk,
                            const kx_secret& server_sk, const kx_public& client_pk) {
  crypto::init();
  return crypto_kx_server_session_keys(rx.data(), tx.data(), server_pk.data(), server_sk.data(),
                                       client_pk.data()) == 0;
}

void stream_init_push(stream_state& st, stream_header& header, const session_key& key) {
  crypto::init();
  crypto_secretstream_xchacha20poly1305_init_push(raw(st), header.data(), key.data());
}

bool stream_init_pull(stream_state& st, const stream_header& header, const session_key& key) {
  crypto::init();
  return crypto_secretstream_xchacha20poly1305_init_pull(raw(st), header.data(), key.data()) == 0;
}

void stream_push(stream_state& st, unsigned char* out, const unsigned char* m, std::size_t mlen,
                 stream_tag tag) {
  crypto_secretstream_xchacha20poly1305_push(raw(st), out, nullptr, m, mlen, nullptr, 0, to_sodium(tag));
}

bool stream_pull(stream_state& st, unsigned char* out, stream_tag& tag, const unsigned char* c,
                 std::size_t clen) {
  if (clen < stream_abytes) return false;
  unsigned char t = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(raw(st), out, nullptr, &t, c, clen, nullptr, 0) != 0)
    return false;
  tag = from_sodium(t);
  return true;
}

}  // namespace starling::auth::sodium
