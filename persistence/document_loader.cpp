#include "persistence/document_loader.hpp"

namespace starling::persistence {

std::string fork_proofs_key(const std::string& doc) { return "forks/" + doc; }

namespace {
void put_u32(bytes& out, std::uint32_t n) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
}
}  // namespace

// [u32 count] then per proof [u32 len a][a][u32 len b][b], little endian;
// author and seq are read back from the changes themselves.
bytes encode_fork_proofs(const std::vector<crdt::fork_proof>& proofs) {
  bytes out;
  put_u32(out, static_cast<std::uint32_t>(proofs.size()));
  for (auto& p : proofs) {
    put_u32(out, static_cast<std::uint32_t>(p.a.size()));
    out.insert(out.end(), p.a.begin(), p.a.end());
    put_u32(out, static_cast<std::uint32_t>(p.b.size()));
    out.insert(out.end(), p.b.begin(), p.b.end());
  }
  return out;
}

expected<std::vector<crdt::fork_proof>, std::string> decode_fork_proofs(byte_view data) {
  std::size_t at = 0;
  auto u32 = [&](std::uint32_t& n) {
    if (data.size() - at < 4) return false;
    n = 0;
    for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(data[at + i])) << (8 * i);
    at += 4;
    return true;
  };
  auto blob = [&](bytes& out) {
    std::uint32_t n = 0;
    if (!u32(n) || data.size() - at < n) return false;
    out.assign(data.begin() + at, data.begin() + at + n);
    at += n;
    return true;
  };
  std::uint32_t count = 0;
  if (!u32(count)) return make_unexpected(std::string("fork proofs: truncated"));
  std::vector<crdt::fork_proof> out;
  for (std::uint32_t i = 0; i < count; ++i) {
    crdt::fork_proof p;
    if (!blob(p.a) || !blob(p.b)) return make_unexpected(std::string("fork proofs: truncated"));
    auto a = crdt::decode(p.a);
    if (!a) return make_unexpected("fork proofs: change does not decode: " + a.error().message);
    p.author = a->author;
    p.seq = a->seq;
    out.push_back(std::move(p));
  }
  if (at != data.size()) return make_unexpected(std::string("fork proofs: trailing bytes"));
  return out;
}

namespace {
class stored_log final : public crdt::change_log {
 public:
  stored_log(std::shared_ptr<const store> st, std::string doc) : st_(std::move(st)), doc_(std::move(doc)) {}
  std::optional<bytes> encoding(const public_key& author, std::uint64_t seq) const override {
    auto r = st_->get_change(doc_, author, seq);
    if (!r || !*r) return std::nullopt;
    return std::move(**r);
  }
  bool replay(const std::function<void(byte_view)>& each) const override {
    auto r = st_->load_log(doc_, 0, [&](std::uint64_t, const hash256&, byte_view enc) {
      each(enc);
      return true;
    });
    return r.has_value();
  }

 private:
  std::shared_ptr<const store> st_;
  std::string doc_;
};
}  // namespace

std::shared_ptr<const crdt::change_log> stored_change_log(std::shared_ptr<const store> st, std::string doc) {
  return std::make_shared<stored_log>(std::move(st), std::move(doc));
}

expected<crdt::document, std::string> load_document(const store& st, const std::string& doc,
                                                    const crdt::document_limits& limits, load_stats* stats,
                                                    std::shared_ptr<const crdt::change_log> log) {
  crdt::document d(doc, limits);
  auto snap = st.load_snapshot(doc);
  if (!snap) return make_unexpected(snap.error().message);
  if (*snap) {
    auto restored = crdt::document::from_snapshot(doc, (*snap)->state, limits);
    if (!restored) return make_unexpected("snapshot of " + doc + ": " + restored.error());
    d = std::move(*restored);
    if (stats) stats->from_snapshot = true;
  }
  d.set_change_log(std::move(log));
  // Known forks first: the author's changes from the fork point on are then
  // refused during replay, as they were when the proof was made.
  auto forks = st.get_meta(fork_proofs_key(doc));
  if (!forks) return make_unexpected(forks.error().message);
  if (*forks) {
    auto proofs = decode_fork_proofs(**forks);
    if (!proofs) return make_unexpected(doc + ": " + proofs.error());
    for (auto& p : *proofs) d.apply_fork_proof(p);
  }
  // Replay in pages so that a large log never sits decoded in memory; what
  // is replayed is durable already.
  constexpr std::size_t page = 4096;
  std::vector<crdt::change> batch;
  batch.reserve(page);
  std::string failure;
  std::size_t replayed = 0;
  auto flush = [&] {
    replayed += batch.size();
    d.apply_batch(std::move(batch));
    d.durable_through(d.applied_total());
    batch.clear();
    batch.reserve(page);
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
