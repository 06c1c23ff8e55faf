#include "persistence/document_loader.hpp"

namespace starling::persistence {

expected<crdt::document, std::string> load_document(const store& st, const std::string& doc,
                                                    const crdt::document_limits& limits, load_stats* stats) {
  crdt::document d(doc, limits);
  auto snap = st.load_snapshot(doc);
  if (!snap) return make_unexpected(snap.error().message);
  if (*snap) {
    auto restored = crdt::document::from_snapshot(doc, (*snap)->state, limits);
    if (!restored) return make_unexpected("snapshot of " + doc + ": " + restored.error());
    d = std::move(*restored);
    if (stats) stats->from_snapshot = true;
  }
  // Replay in pages so that a large log never sits decoded in memory twice.
  constexpr std::size_t page = 65536;
  std::vector<crdt::change> batch;
  std::string failure;
  std::size_t replayed = 0;
  auto flush = [&] {
    replayed += batch.size();
    d.apply_batch(std::move(batch));
    batch.clear();
  };
  auto r = st.load_log(doc, 0, [&](std::uint64_t index, const hash256&, byte_view enc) {
    auto c = crdt::decode(enc, limits.codec);
    if (!c) {
      failure = "stored change " + std::to_string(index) + " of " + doc + " does not decode: " + c.error().message;
      return false;
    }
    batch.push_back(std::move(*c));
    if (batch.size() >= page) flush();
    return true;
  });
  if (!r) return make_unexpected(r.error().message);
  if (!failure.empty()) return make_unexpected(failure);
  flush();
  if (stats) stats->changes = replayed;
  return d;
}

}  // namespace starling::persistence
