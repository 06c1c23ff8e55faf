// The byte layout of every key and value the store writes. Pure functions, no
// LMDB: this file is the on-disk format (format_version 1).
//
// Keys. A doc name is prefixed with its length (one byte; names are at most
// 128 bytes), so that the keys of doc "a" never share a prefix with those of
// doc "ab". Integers in keys are 8-byte big-endian so that LMDB's bytewise
// order is numeric order.
//   log       doc, log_index:u64be       -> hash:32 signed-encoded-change
//   chain     doc, author:32, seq:u64be  -> hash:32 log_index:u64be
//   docs      doc                        -> doc_record
//   frontier  doc                        -> frontier
//   horizon   doc                        -> frontier (what compaction dropped)
//   snapshot  doc                        -> bytes(frontier) state
//   peers     node id:32                 -> JSON text
//   trust     public key:32              -> JSON text
//   tokens    token hash:32              -> consumed:u8 JSON text
//   meta      UTF-8 name                 -> value ("format_version" -> "1")
// Values use the varints of crdt/varint.hpp; a frontier is
//   count:varint (author:32 seq:varint head:32)*   authors strictly ascending.
//
// Why nothing is keyed by hash: a node writes a doc's log and each author's
// chain at increasing keys, so those inserts land on the same few pages batch
// after batch, while hashes are random and every insert keyed by one dirties
// (copies and writes) a page of its own. A hash-keyed index was the largest
// single cost of a commit (4-8x the nosync commit throughput without it, see
// bench/bench_store.cpp). Changes are found by (doc, author, seq) through
// `chain`; the in-memory document answers questions by hash.
#pragma once

#include <array>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "crdt/types.hpp"

namespace starling::persistence::records {

constexpr std::uint64_t format_version = 1;
constexpr const char* format_version_key = "format_version";
constexpr const char* node_id_key = "node_id";

// A key built on the stack: the store builds several per change written.
class key {
 public:
  static constexpr std::size_t capacity = 1 + max_doc_name + 32 + 8;

  key() {}  // user-provided: key() must not zero the buffer (several per change)

  byte_view view() const { return {buf_.data(), n_}; }
  key& doc(std::string_view name) {  // the name must be valid_doc_name()
    assert(name.size() <= max_doc_name);
    buf_[n_++] = static_cast<char>(name.size());
    return raw(name);
  }
  key& raw(byte_view b) {
    assert(n_ + b.size() <= capacity);
    std::memcpy(buf_.data() + n_, b.data(), b.size());
    n_ += b.size();
    return *this;
  }
  key& u64be(std::uint64_t v) {
    assert(n_ + 8 <= capacity);
    char b[8];  // assembled in a register, stored at once: no byte-wise stores read back wide
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * (7 - i))) & 0xff);
    std::memcpy(buf_.data() + n_, b, 8);
    n_ += 8;
    return *this;
  }

 private:
  std::array<char, capacity> buf_;
  std::size_t n_ = 0;
};

// Built in the returned object (a named return value, not a copy of the whole
// buffer from the reference the builders return).
inline key doc_key(std::string_view doc) {
  key k;
  k.doc(doc);
  return k;
}
inline key chain_key(std::string_view doc, const public_key& author, std::uint64_t seq) {
  key k;
  k.doc(doc).raw(author.view()).u64be(seq);
  return k;
}
inline key log_key(std::string_view doc, std::uint64_t index) {
  key k;
  k.doc(doc).u64be(index);
  return k;
}

// The doc name in a docs/frontier/snapshot/horizon key; nullopt if malformed.
std::optional<std::string> parse_doc_key(byte_view k);

struct chain_entry {
  hash256 hash;
  std::uint64_t log_index = 0;
};
inline key encode_chain_entry(const chain_entry& e) {  // on the stack: one per change written
  key k;
  k.raw(e.hash.view()).u64be(e.log_index);
  return k;
}

// A log value: the change's hash, then its signed encoding.
constexpr std::size_t log_entry_header = 32;
struct log_entry {
  hash256 hash;
  byte_view encoded;  // points into the value it was decoded from
};
std::optional<log_entry> decode_log_entry(byte_view v);
std::optional<chain_entry> decode_chain_entry(byte_view v);

// Per-document bookkeeping that is not derivable cheaply from the other DBs.
struct doc_record {
  std::uint64_t next_log_index = 0;  // never reused, even after compaction
  std::uint64_t change_count = 0;    // changes currently stored (not compacted)
};
bytes encode_doc_record(const doc_record& r);
std::optional<doc_record> decode_doc_record(byte_view v);

void encode_frontier(bytes& out, const frontier& f);
bytes encode_frontier(const frontier& f);
// Decodes one frontier from the front of `in`, advancing it.
std::optional<frontier> decode_frontier_prefix(byte_view& in);
std::optional<frontier> decode_frontier(byte_view v);  // the whole of v

struct snapshot_record {
  frontier at;
  bytes state;
};
bytes encode_snapshot(const frontier& at, byte_view state);
std::optional<snapshot_record> decode_snapshot(byte_view v);

struct token_record {
  bool consumed = false;
  std::string json;
};
bytes encode_token(const token_record& t);
std::optional<token_record> decode_token(byte_view v);

bytes encode_format_version(std::uint64_t v);
std::optional<std::uint64_t> decode_format_version(byte_view v);

}  // namespace starling::persistence::records
