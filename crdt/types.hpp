// Basic value types shared by every layer: hashes, keys, ids, frontiers.
// Plain data; no threads. Safe to use from any thread as values.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starling {

using bytes = std::string;  // owned byte string (binary-safe)
using byte_view = std::string_view;

template <std::size_t N>
struct fixed_bytes {
  std::array<std::uint8_t, N> v{};

  static constexpr std::size_t size() { return N; }
  const std::uint8_t* data() const { return v.data(); }
  std::uint8_t* data() { return v.data(); }
  bool is_zero() const {
    for (auto b : v)
      if (b != 0) return false;
    return true;
  }
  byte_view view() const { return {reinterpret_cast<const char*>(v.data()), N}; }
  static fixed_bytes from(byte_view s) {  // caller guarantees s.size() == N
    fixed_bytes r;
    std::memcpy(r.v.data(), s.data(), N);
    return r;
  }
  // Word-wise comparisons: these keys are compared on every hash-table and
  // ordered-map lookup of the apply path, where a library memcmp call costs
  // more than the comparison itself.
  friend bool operator==(const fixed_bytes& a, const fixed_bytes& b) {
    static_assert(N % 8 == 0);
    for (std::size_t i = 0; i < N; i += 8)
      if (a.word(i) != b.word(i)) return false;
    return true;
  }
  friend bool operator!=(const fixed_bytes& a, const fixed_bytes& b) { return !(a == b); }
  friend bool operator<(const fixed_bytes& a, const fixed_bytes& b) {  // lexicographic by byte
    for (std::size_t i = 0; i < N; i += 8) {
      auto x = __builtin_bswap64(a.word(i)), y = __builtin_bswap64(b.word(i));
      if (x != y) return x < y;
    }
    return false;
  }

  // The 8 bytes at offset i, in host order (for hashing and comparisons).
  std::uint64_t word(std::size_t i) const {
    std::uint64_t w;
    std::memcpy(&w, v.data() + i, 8);
    return w;
  }
};

using hash256 = fixed_bytes<32>;     // BLAKE2b-256: change ids, digests
using public_key = fixed_bytes<32>;  // Ed25519 public key: node and author ids
using signature = fixed_bytes<64>;   // Ed25519 detached signature

struct fixed_bytes_hasher {
  template <std::size_t N>
  std::size_t operator()(const fixed_bytes<N>& b) const {
    std::size_t h;  // the bytes are already uniformly distributed
    std::memcpy(&h, b.data(), sizeof h);
    return h;
  }
};

std::string to_hex(byte_view b);
template <std::size_t N>
std::string to_hex(const fixed_bytes<N>& b) {
  return to_hex(b.view());
}
// Lowercase or uppercase hex; nullopt on odd length or a non-hex character.
std::optional<bytes> from_hex(std::string_view hex);
template <std::size_t N>
std::optional<fixed_bytes<N>> fixed_from_hex(std::string_view hex) {
  if (hex.size() != 2 * N) return std::nullopt;
  auto b = from_hex(hex);
  if (!b) return std::nullopt;
  return fixed_bytes<N>::from(*b);
}
// First 8 hex characters: how logs show a node or author.
std::string short_id(const public_key& k);

// Frontier entry: how far one author's chain is known, and its head.
struct chain_head {
  std::uint64_t seq = 0;
  hash256 hash;
  friend bool operator==(const chain_head& a, const chain_head& b) {
    return a.seq == b.seq && a.hash == b.hash;
  }
  friend bool operator!=(const chain_head& a, const chain_head& b) { return !(a == b); }
};

// The vector clock of one document: author -> (seq, head hash). Ordered by
// author so that its encoding and iteration are the same on every replica.
using frontier = std::map<public_key, chain_head>;

// Document names: [A-Za-z0-9._-]{1,128}.
constexpr std::size_t max_doc_name = 128;
bool valid_doc_name(std::string_view name);

}  // namespace starling
