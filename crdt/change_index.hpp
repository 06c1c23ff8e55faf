// The index from change hash to a document's change table (doc_state::changes).
//
// Open addressing with linear probing over 8-byte slots (a 32-bit tag from
// the hash and the 32-bit table index). The full hash is not stored: a tag
// match is confirmed against the table, which holds every hash anyway. So
// the index costs 11-21 bytes per change instead of a heap node of ~70, and
// a lookup of an unknown hash (the common case for a new change) usually
// ends at an empty slot without touching the table.
//
// Probe positions are the hash's first 8 bytes mixed with a per-process
// random seed: a peer that grinds change hashes to share low bits cannot
// predict which of them collide here.
//
// Threading: not thread-safe; the document's owner calls it.
#pragma once

#include <cstdint>
#include <vector>

#include "crdt/types.hpp"

namespace starling::crdt {

class change_index {
 public:
  static constexpr std::uint32_t npos = ~0u;

  // `hash_at(ref)` must give the hash of table entry `ref` for every ref
  // inserted; the table may grow between calls, never change an entry.
  template <class HashAt>
  std::uint32_t find(const hash256& h, const HashAt& hash_at) const {
    if (slots_.empty()) return npos;
    const std::uint32_t t = tag(h);
    for (std::size_t i = home(h);; i = (i + 1) & mask_) {
      const slot& s = slots_[i];
      if (s.ref == npos) return npos;
      if (s.tag == t && hash_at(s.ref) == h) return s.ref;
    }
  }

  // False (and nothing changes) if `h` is already indexed.
  template <class HashAt>
  bool insert(const hash256& h, std::uint32_t ref, const HashAt& hash_at) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow(hash_at);
    const std::uint32_t t = tag(h);
    std::size_t i = home(h);
    for (;; i = (i + 1) & mask_) {
      slot& s = slots_[i];
      if (s.ref == npos) break;
      if (s.tag == t && hash_at(s.ref) == h) return false;
    }
    slots_[i] = slot{t, ref};
    ++size_;
    return true;
  }

  // Room for `n` entries without growing.
  template <class HashAt>
  void reserve(std::size_t n, const HashAt& hash_at) {
    if (n * 4 > slots_.size() * 3) rehash(capacity_for(n), hash_at);
  }

  std::size_t size() const { return size_; }
  std::size_t memory_bytes() const { return slots_.capacity() * sizeof(slot); }
  void clear() {
    slots_.clear();
    slots_.shrink_to_fit();
    size_ = 0;
    mask_ = 0;
  }

 private:
  struct slot {
    std::uint32_t tag = 0;
    std::uint32_t ref = npos;  // npos: empty
  };

  static std::uint64_t process_seed();
  static std::uint32_t tag(const hash256& h) { return static_cast<std::uint32_t>(h.word(8)); }
  std::size_t home(const hash256& h) const {
    return static_cast<std::size_t>(((h.word(0) ^ seed_) * 0x9e3779b97f4a7c15ull) >> 16) & mask_;
  }
  static std::size_t capacity_for(std::size_t n) {
    std::size_t c = 16;
    while (c * 3 < n * 4) c *= 2;
    return c;
  }
  template <class HashAt>
  void grow(const HashAt& hash_at) {
    rehash(slots_.empty() ? 16 : slots_.size() * 2, hash_at);
  }
  template <class HashAt>
  void rehash(std::size_t capacity, const HashAt& hash_at) {
    std::vector<slot> old(capacity);
    old.swap(slots_);
    mask_ = capacity - 1;
    for (const slot& s : old) {
      if (s.ref == npos) continue;
      std::size_t i = home(hash_at(s.ref));
      while (slots_[i].ref != npos) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<slot> slots_;
  std::uint64_t seed_ = process_seed();
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
};

}  // namespace starling::crdt
