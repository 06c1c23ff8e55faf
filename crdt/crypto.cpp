#include "crdt/crypto.hpp"

#include <sodium.h>

#include <cstdlib>
#include <cstdio>

namespace starling::crypto {

void init() {
  static const bool ok = [] { return sodium_init() >= 0; }();
  if (!ok) {  // only when the OS has no entropy source: nothing can run safely
    std::fputs("starling: libsodium failed to initialise\n", stderr);
    std::abort();
  }
}

hash256 blake2b_256(byte_view data) {
  init();
  hash256 h;
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size(), nullptr, 0);
  return h;
}

secret_key::~secret_key() { sodium_memzero(v.data(), v.size()); }

keypair generate_keypair() {
  init();
  keypair kp;
  crypto_sign_keypair(kp.pk.data(), kp.sk.v.data());
  return kp;
}

keypair keypair_from_seed(const std::array<std::uint8_t, 32>& seed) {
  init();
  keypair kp;
  crypto_sign_seed_keypair(kp.pk.data(), kp.sk.v.data(), seed.data());
  return kp;
}

signature sign(byte_view message, const secret_key& sk) {
  init();
  signature s;
  crypto_sign_detached(s.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), sk.v.data());
  return s;
}

bool verify(byte_view message, const signature& sig, const public_key& pk) {
  init();
  return crypto_sign_verify_detached(sig.data(),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), pk.data()) == 0;
}

void random_bytes(std::uint8_t* out, std::size_t n) {
  init();
  randombytes_buf(out, n);
}

bool equal(byte_view a, byte_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace starling::crypto
