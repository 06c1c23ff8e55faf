#include "persistence/write_batch.hpp"

#include "persistence/records.hpp"

namespace starling::persistence {

void write_batch::add_change(std::string doc, const crdt::change& c) {
  if (c.doc != doc)
    errors_.push_back("change " + to_hex(c.hash) + " belongs to doc '" + c.doc +
                      "', added under '" + doc + "'");
  add_change(std::move(doc), c.hash, c.author, c.seq, crdt::encode(c));
}

void write_batch::add_change(std::string doc, const hash256& hash, const public_key& author,
                             std::uint64_t seq, bytes encoded) {
  items_.emplace_back(change_item{std::move(doc), hash, author, seq, std::move(encoded)});
  ++change_count_;
}

void write_batch::put_snapshot(std::string doc, frontier at, bytes state) {
  items_.emplace_back(snapshot_item{std::move(doc), std::move(at), std::move(state)});
}

void write_batch::compact(std::string doc, frontier horizon) {
  items_.emplace_back(compact_item{std::move(doc), std::move(horizon)});
}

void write_batch::put_peer(const public_key& id, std::string json) {
  items_.emplace_back(record_item{record_item::kind::put_peer, bytes(id.view()), std::move(json)});
}
void write_batch::remove_peer(const public_key& id) {
  items_.emplace_back(record_item{record_item::kind::remove_peer, bytes(id.view()), {}});
}
void write_batch::put_trust(const public_key& key, std::string json) {
  items_.emplace_back(record_item{record_item::kind::put_trust, bytes(key.view()), std::move(json)});
}
void write_batch::remove_trust(const public_key& key) {
  items_.emplace_back(record_item{record_item::kind::remove_trust, bytes(key.view()), {}});
}
void write_batch::put_token(const hash256& token_hash, std::string json) {
  items_.emplace_back(
      record_item{record_item::kind::put_token, bytes(token_hash.view()), std::move(json)});
}
void write_batch::consume_token(const hash256& token_hash) {
  items_.emplace_back(record_item{record_item::kind::consume_token, bytes(token_hash.view()), {}});
}
void write_batch::remove_token(const hash256& token_hash) {
  items_.emplace_back(record_item{record_item::kind::remove_token, bytes(token_hash.view()), {}});
}
void write_batch::put_meta(std::string key, bytes value) {
  if (key == records::format_version_key)
    errors_.push_back("meta key 'format_version' is written by the store only");
  if (key.empty()) errors_.push_back("empty meta key");
  items_.emplace_back(record_item{record_item::kind::put_meta, std::move(key), std::move(value)});
}

}  // namespace starling::persistence
