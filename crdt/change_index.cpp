#include "crdt/change_index.hpp"

#include <sodium.h>

namespace starling::crdt {

std::uint64_t change_index::process_seed() {
  static const std::uint64_t seed = [] {
    std::uint64_t s = 0x5deece66dull;
    if (sodium_init() >= 0) randombytes_buf(&s, sizeof s);
    return s;
  }();
  return seed;
}

}  // namespace starling::crdt
