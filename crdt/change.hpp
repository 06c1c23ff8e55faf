// The change: the signed unit of replication, and its canonical codec.
//
// Canonical binary encoding (all integers are minimal unsigned LEB128 varints
// unless marked; "bytes" is varint length + raw bytes):
//   change   := 0x01 doc:bytes author:32 seq:varint prev:32
//               ndeps:varint dep:32* time:varint nops:varint op*  [sig:64]
//   op       := kind:u8 obj:ref place body
//   ref      := 0x00 (root / list head / no target)
//             | 0x01 index:varint           (an earlier op of this change)
//             | 0x02 hash:32 index:varint   (an op of another change)
//   place    := 0x00 key:bytes(UTF-8)        (map key)
//             | 0x01 elem:ref                (existing list element)
//             | 0x02 after:ref               (insert after element; 0x00 = head)
//   body     := set: scalar | ins: scalar | inc: delta:zigzag-varint target:ref
//             | make_map, make_list, del, rm: nothing
//   scalar   := 0x00 null | 0x01 false | 0x02 true | 0x03 zigzag-varint
//             | 0x04 f64 little-endian (finite) | 0x05 bytes(UTF-8)
// Decoding rejects every input that is not exactly what encode() produces:
// non-minimal varints, unsorted or duplicate deps, prev non-zero at seq 1,
// self references to the op itself or later ops, invalid UTF-8, non-finite
// doubles, place kinds an op does not allow, trailing bytes.
//
// hash = BLAKE2b-256(unsigned encoding); sig = Ed25519(hash) by author.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <string>
#include <variant>
#include <vector>

#include "crdt/crypto.hpp"
#include "crdt/expected.hpp"
#include "crdt/types.hpp"

namespace starling::crdt {

enum class op_kind : std::uint8_t { make_map = 1, make_list = 2, set = 3, del = 4, ins = 5, rm = 6, inc = 7 };
const char* to_string(op_kind k);

struct op_ref {
  enum class tag : std::uint8_t { none = 0, self = 1, ext = 2 };
  tag t = tag::none;
  hash256 change;           // ext only
  std::uint32_t index = 0;  // self and ext
  static op_ref none() { return {}; }
  static op_ref self(std::uint32_t i) { return {tag::self, {}, i}; }
  static op_ref ext(const hash256& h, std::uint32_t i) { return {tag::ext, h, i}; }
  bool is_none() const { return t == tag::none; }
  friend bool operator==(const op_ref& a, const op_ref& b) {
    return a.t == b.t && a.index == b.index && (a.t != tag::ext || a.change == b.change);
  }
};

enum class place_kind : std::uint8_t { map_key = 0, list_elem = 1, list_after = 2 };

// JSON scalar: null, bool, int64, double, string.
using scalar = std::variant<std::monostate, bool, std::int64_t, double, std::string>;

struct op {
  op_kind kind = op_kind::set;
  op_ref obj;                // the container; none = the root map
  place_kind place = place_kind::map_key;
  std::string key;           // map_key
  op_ref elem;               // list_elem: the element; list_after: none = head
  scalar value;              // set, ins
  std::int64_t delta = 0;    // inc
  op_ref target;             // inc: the register write it increments (none: never written)
};

struct change {
  std::string doc;
  public_key author;
  std::uint64_t seq = 0;
  hash256 prev;                // zero iff seq == 1
  std::vector<hash256> deps;   // strictly ascending
  std::uint64_t time = 0;      // hybrid logical clock (ms << 16 | counter)
  std::vector<op> ops;
  signature sig;
  hash256 hash;                // computed by sign() and decode(), never encoded
  // The signed encoding, kept by sign() and decode() along with `hash` so
  // that storing or relaying the change needs no second encode. Like `hash`,
  // it is stale once a field changes: sign() again (a signature needs it).
  bytes encoded;
};

struct change_limits {
  std::size_t max_encoded_bytes = 1 << 20;  // one change, signed encoding
  std::size_t max_ops = 1 << 16;
  std::size_t max_deps = 1024;
  std::size_t max_key_bytes = 1 << 12;
};

enum class codec_errc {
  truncated = 1,      // input ended inside a field
  non_canonical,      // decodes, but is not the one canonical encoding
  bad_field,          // a field has a value the format does not allow
  too_large,          // over a change_limits bound
  trailing_bytes,     // bytes after the change
};
const char* to_string(codec_errc e);

struct codec_error {
  codec_errc code;
  std::string message;  // names the field
};

// Unsigned canonical encoding (what the hash covers).
bytes encode_unsigned(const change& c);
// Signed encoding: unsigned encoding followed by the 64-byte signature.
// Always encodes; `c.encoded` is the cached result of sign() and decode().
bytes encode(const change& c);
// Decodes a signed encoding; computes hash. Does not check the signature.
expected<change, codec_error> decode(byte_view in, const change_limits& lim = {});
// Decodes one change from the front of `in` and advances it (for streams).
expected<change, codec_error> decode_prefix(byte_view& in, const change_limits& lim = {});

// (author, seq) of a signed encoding, read from its header without decoding
// the rest; nullopt if the header is malformed.
std::optional<std::pair<public_key, std::uint64_t>> peek_author_seq(byte_view encoded);

hash256 compute_hash(const change& c);
// Sets c.hash and c.sig; c.author must be kp.pk.
void sign(change& c, const crypto::keypair& kp);
// True if c.sig is the author's signature over c.hash.
bool signature_valid(const change& c);

}  // namespace starling::crdt
