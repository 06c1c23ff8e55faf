// Binary frames (WebSocket binary frames): change batches and snapshot chunks.
//
//   frame          := 0xF5 kind:u8 version:u8 body
//   change batch   (kind 0x01, version 1):
//                     doc:bytes count:varint (length:varint change)*count
//   snapshot chunk (kind 0x02, version 1):
//                     doc:bytes offset:varint data:bytes
//
// Integers are minimal unsigned LEB128 varints, "bytes" is a varint length
// then the raw bytes, and `change` is the signed canonical encoding of
// crdt/change.hpp. 0xF5 can never start UTF-8 text, so a binary frame cannot
// be mistaken for a control frame. Like the change codec, the format has one
// encoding per value: decode then encode gives back the same bytes.
//
// A change batch is all or nothing: any error in any change refuses the
// whole frame. Decoding checks each change's canonical encoding, computes
// its hash and checks it belongs to the batch's document; it does not check
// signatures, hash chains or dependencies (the document owner does).
//
// Threading: pure functions; thread-safe. Decoders never throw; encoders
// throw only std::bad_alloc and trust their input (valid doc names).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crdt/change.hpp"
#include "crdt/expected.hpp"
#include "crdt/types.hpp"
#include "protocol/errors.hpp"
#include "protocol/limits.hpp"

namespace starling::protocol {

inline constexpr std::uint8_t binary_magic = 0xF5;
inline constexpr std::uint8_t binary_format_version = 1;

enum class binary_kind : std::uint8_t { change_batch = 1, snapshot_chunk = 2 };

// Checks the 3-byte header and says what the frame is, so a session can
// dispatch to decode_batch or decode_snapshot_chunk.
expected<binary_kind, protocol_error> peek_binary_kind(byte_view frame);

// ------------------------------------------------------------ change batch

struct change_batch {
  std::string doc;
  std::vector<crdt::change> changes;  // in frame order, each with its hash
};

bytes encode_batch(std::string_view doc, const std::vector<bytes>& encoded_changes);
bytes encode_batch(std::string_view doc, const std::vector<crdt::change>& changes);

expected<change_batch, protocol_error> decode_batch(byte_view frame, const protocol_limits& lim = {});

// Encoded changes [begin, end) of a list, forming one batch.
struct batch_range {
  std::size_t begin = 0;
  std::size_t end = 0;
  friend bool operator==(const batch_range& a, const batch_range& b) { return a.begin == b.begin && a.end == b.end; }
};

// Splits a list of encoded changes, in order, into consecutive batches whose
// whole frame is at most max_bytes and that hold at most max_changes each. A
// change too large to share a frame goes alone (the change limit keeps such a
// frame under the frame limit). No empty batches; none at all for no changes.
std::vector<batch_range> plan_batches(std::string_view doc, const std::vector<bytes>& encoded_changes,
                                      std::size_t max_bytes, std::size_t max_changes);
bytes encode_batch(std::string_view doc, const std::vector<bytes>& encoded_changes, batch_range r);
// plan_batches with lim.max_batch_bytes and lim.max_batch_changes, then encode each.
std::vector<bytes> encode_batches(std::string_view doc, const std::vector<bytes>& encoded_changes,
                                  const protocol_limits& lim = {});

// ---------------------------------------------------------- snapshot chunk

// A piece of a snapshot body announced by a `snapshot` control frame. The
// receiver reassembles by offset and checks size and digest against it.
struct snapshot_chunk {
  std::string doc;
  std::uint64_t offset = 0;
  bytes data;
  friend bool operator==(const snapshot_chunk& a, const snapshot_chunk& b) {
    return a.doc == b.doc && a.offset == b.offset && a.data == b.data;
  }
};

bytes encode_snapshot_chunk(const snapshot_chunk& c);
// offset + data size must be within lim.max_snapshot_bytes.
expected<snapshot_chunk, protocol_error> decode_snapshot_chunk(byte_view frame, const protocol_limits& lim = {});
// Cuts a snapshot body into chunk frames of at most max_data_bytes of data each.
std::vector<bytes> encode_snapshot_chunks(std::string_view doc, byte_view body,
                                          std::size_t max_data_bytes = 1u << 20);

}  // namespace starling::protocol
