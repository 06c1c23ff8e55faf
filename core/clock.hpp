// Time and randomness as a node reads them: injected through node_config so
// that tests (and the cluster simulator) run a node on a clock they step by
// hand and a seed they print, instead of sleeping and hoping.
//
// Two readings, because they answer different questions: `wall_ms` is what
// goes into change timestamps and token expiry (comparable between nodes),
// `steady` measures durations on this node (backoff, lag, good connections)
// and never jumps.
//
// Randomness that protects something (keys, nonces, join tokens) is never
// seeded: it always comes from the operating system. `seed` only drives
// choices whose outcome does not matter for security (backoff jitter).
//
// Threading: a time_source is a pair of functions; the system one and a
// manual_clock's may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>

namespace starling {

struct time_source {
  std::function<std::int64_t()> wall_ms;
  std::function<std::chrono::steady_clock::time_point()> steady;

  static time_source system() {
    return {[] {
              return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::system_clock::now().time_since_epoch())
                                                   .count());
            },
            [] { return std::chrono::steady_clock::now(); }};
  }
};

// A clock that moves only when told to. Both readings advance together.
class manual_clock {
 public:
  explicit manual_clock(std::int64_t start_wall_ms = 1'700'000'000'000)
      : s_(std::make_shared<shared>()) {
    s_->wall.store(start_wall_ms);
  }
  void advance(std::chrono::milliseconds d) {
    s_->wall.fetch_add(d.count());
    s_->offset.fetch_add(d.count());
  }
  std::int64_t wall_ms() const { return s_->wall.load(); }
  time_source source() const {
    auto s = s_;
    return {[s] { return s->wall.load(); },
            [s] { return std::chrono::steady_clock::time_point(std::chrono::milliseconds(s->offset.load())); }};
  }

 private:
  struct shared {
    std::atomic<std::int64_t> wall{0};
    std::atomic<std::int64_t> offset{0};
  };
  std::shared_ptr<shared> s_;
};

// The seed for a node's non-security randomness: the configured one, or a
// fresh one from the operating system when it is 0 (printed by whoever
// needs to replay it).
inline std::uint64_t resolve_seed(std::uint64_t configured) {
  if (configured != 0) return configured;
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace starling
