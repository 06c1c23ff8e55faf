// Hybrid logical clock: 48-bit wall milliseconds << 16 | 16-bit counter.
// Used only to order concurrent writes (LWW), never to decide validity.
// Not thread-safe: one clock per writer, owned by its document.
#pragma once

#include <cstdint>

namespace starling::crdt {

class hlc {
 public:
  static constexpr std::uint64_t pack(std::uint64_t ms, std::uint16_t counter) {
    return (ms << 16) | counter;
  }
  static constexpr std::uint64_t millis(std::uint64_t t) { return t >> 16; }

  // A timestamp for a new local event, strictly greater than every
  // timestamp issued or observed so far. When the counter is exhausted it
  // carries into the millisecond field, so the result stays monotonic.
  std::uint64_t tick(std::uint64_t wall_ms) {
    std::uint64_t wall = pack(wall_ms & 0xffffffffffffull, 0);
    last_ = wall > last_ ? wall : last_ + 1;
    return last_;
  }
  // Merge a timestamp received from another node.
  void observe(std::uint64_t t) {
    if (t > last_) last_ = t;
  }
  std::uint64_t last() const { return last_; }

 private:
  std::uint64_t last_ = 0;
};

// Wall clock in milliseconds since the epoch (system_clock).
std::uint64_t wall_clock_ms();

}  // namespace starling::crdt
