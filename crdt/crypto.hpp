// The libsodium boundary: every libsodium call in starling is made here.
// All functions are thread-safe (libsodium is, after crypto_init()).
#pragma once

#include "crdt/types.hpp"

namespace starling::crypto {

// Idempotent; called by every function below, cheap after the first call.
void init();

hash256 blake2b_256(byte_view data);

struct secret_key {  // Ed25519 secret key (seed + public key, libsodium layout)
  std::array<std::uint8_t, 64> v{};
  ~secret_key();  // wipes the bytes
  secret_key() = default;
  secret_key(const secret_key&) = default;
  secret_key& operator=(const secret_key&) = default;
};

struct keypair {
  public_key pk;
  secret_key sk;
};

keypair generate_keypair();
// Deterministic key pair from a 32-byte seed (tests and benchmarks).
keypair keypair_from_seed(const std::array<std::uint8_t, 32>& seed);

signature sign(byte_view message, const secret_key& sk);
// False on a bad signature or a key that is not a valid curve point.
bool verify(byte_view message, const signature& sig, const public_key& pk);

void random_bytes(std::uint8_t* out, std::size_t n);
// Constant-time comparison.
bool equal(byte_view a, byte_view b);

}  // namespace starling::crypto
