// Size limits applied by every decoder in protocol/. Decoders take untrusted
// bytes; each bound here caps the memory and time one frame can cost.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crdt/change.hpp"

namespace starling::protocol {

struct protocol_limits {
  // Any frame, text or binary. A larger frame is refused before parsing.
  std::size_t max_frame_bytes = 4u << 20;
  // What we produce per change batch (encode_batches). Decoders accept
  // batches up to max_frame_bytes, so a peer with a larger setting still
  // gets through.
  std::size_t max_batch_bytes = 1u << 20;
  std::size_t max_batch_changes = 65536;
  std::size_t max_frontier_entries = 65536;
  // hello.versions: a peer offers at most this many protocol versions.
  std::size_t max_versions = 16;
  // hello.token: join tokens are short; this only bounds a hostile one.
  std::size_t max_token_bytes = 1024;
  // error.reason, in bytes (UTF-8). Encoders truncate to default_max_reason_bytes.
  std::size_t max_reason_bytes = 1024;
  // snapshot.size: the announced snapshot body, sent in chunks.
  std::uint64_t max_snapshot_bytes = std::uint64_t(1) << 32;
  // JSON nesting depth of a control frame, counting the outer object.
  // Frames need 3; the slack is for fields of later versions.
  std::size_t max_json_depth = 16;
  // Each change inside a batch.
  crdt::change_limits change{};
};

inline constexpr std::size_t default_max_reason_bytes = protocol_limits{}.max_reason_bytes;

}  // namespace starling::protocol
