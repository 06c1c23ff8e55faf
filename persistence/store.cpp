// Opening the store, its transactions and map, and its point reads.
#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>

#include "crdt/varint.hpp"
#include "persistence/store_impl.hpp"

namespace starling::persistence {

const char* to_string(store_errc c) {
  switch (c) {
    case store_errc::io: return "io";
    case store_errc::corrupt: return "corrupt";
    case store_errc::unsupported_format: return "unsupported_format";
    case store_errc::map_full: return "map_full";
    case store_errc::read_only: return "read_only";
    case store_errc::not_found: return "not_found";
    case store_errc::invalid_argument: return "invalid_argument";
    case store_errc::chain_conflict: return "chain_conflict";
    case store_errc::token_unavailable: return "token_unavailable";
    case store_errc::snapshot_missing: return "snapshot_missing";
    case store_errc::locked: return "locked";
  }
  return "unknown";
}

void require_doc(std::string_view doc) {
  if (!valid_doc_name(doc))
    throw store_failure(store_errc::invalid_argument,
                        "invalid doc name '" + std::string(doc.substr(0, max_doc_name)) + "'");
}

void fail_corrupt(const std::string& what) {
  throw store_failure(store_errc::corrupt, "corrupt record: " + what);
}

namespace {

// Named databases, one per record kind (records.hpp).
constexpr unsigned named_database_count = 10;
constexpr std::size_t page_granularity = 4096;

std::size_t round_down_to_page(std::size_t n) { return n / page_granularity * page_granularity; }

}  // namespace

// --- open ------------------------------------------------------------------

expected<std::unique_ptr<store>, store_error> store::open(const std::string& dir,
                                                          const store_options& options) {
  namespace fs = std::filesystem;
  try {
    auto im = std::make_unique<impl>();
    im->dir = dir;
    im->opts = options;
    auto& o = im->opts;
    o.max_map_size = round_down_to_page(o.max_map_size);
    o.initial_map_size = round_down_to_page(o.initial_map_size);
    if (o.initial_map_size == 0 || o.initial_map_size > o.max_map_size)
      return make_unexpected(store_error{store_errc::invalid_argument,
                                         "initial_map_size must be in [4 KiB, max_map_size]"});

    std::error_code ec;
    if (o.read_only) {
      if (!fs::exists(fs::path(dir) / "data.mdb", ec))
        return make_unexpected(store_error{
            store_errc::not_found, "no store in '" + dir + "' (a read-only open needs one)"});
    } else if (!fs::create_directories(dir, ec) && ec) {
      return make_unexpected(
          store_error{store_errc::io, "cannot create directory '" + dir + "': " + ec.message()});
    }

    // A writer owns the directory: a second node on it would commit into
    // the same environment. Read-only opens (tools) need no lock.
    if (!o.read_only) {
      auto lock = dir_lock::acquire(dir);
      if (!lock) return make_unexpected(lock.error());
      im->lock = std::move(*lock);
    }

    const bool write_map = o.write_map && !o.read_only;
    int cleared_by_probe = 0;
    if (write_map && fs::exists(fs::path(dir) / "data.mdb", ec)) {
      // With MDB_WRITEMAP, opening the environment already resizes data.mdb;
      // check the format with a plain read-only open before that happens.
      store_options probe_options = o;
      probe_options.read_only = true;
      auto probe = open(dir, probe_options);
      if (probe) cleared_by_probe = (*probe)->stale_readers_cleared();
      else if (probe.error().code != store_errc::not_found)  // not_found: an empty environment
        return make_unexpected(probe.error());
    }

    im->env.set_max_dbs(named_database_count);
    im->env.set_max_readers(o.max_readers);
    im->env.set_map_size(o.initial_map_size);
    unsigned flags = MDB_NOTLS;
    if (o.durability == durability_mode::nometasync) flags |= MDB_NOMETASYNC;
    if (o.durability == durability_mode::nosync) flags |= MDB_NOSYNC;
    if (o.read_only) flags |= MDB_RDONLY;
    if (write_map) flags |= MDB_WRITEMAP;
    im->env.open(dir, flags, 0600);  // tokens and trust are private to the node
    im->stale_readers_cleared = cleared_by_probe + im->env.reader_check();
    im->open_databases();
    return std::unique_ptr<store>(new store(std::move(im)));
  } catch (const store_failure& f) {
    return make_unexpected(f.error());
  }
}

void store::impl::open_databases() {
  auto t = lmdb::txn::begin(env.handle(), opts.read_only ? MDB_RDONLY : 0);
  auto meta_db = lmdb::dbi::open(t, "meta");
  if (!meta_db) {
    // Nothing of ours here: a new store if the environment is empty.
    auto main = lmdb::dbi::open(t, nullptr);
    if (main && main->stat(t).ms_entries != 0)
      throw store_failure(store_errc::unsupported_format,
                          "'" + dir + "' holds an LMDB environment that is not a starling store");
    if (opts.read_only)
      throw store_failure(store_errc::not_found, "no store in '" + dir + "' (empty environment)");
  } else {
    // Check the version before anything could be written.
    auto v = meta_db->get(t, records::format_version_key);
    if (!v)
      throw store_failure(store_errc::unsupported_format,
                          "store in '" + dir + "' has no format_version; refusing to open it");
    auto version = records::decode_format_version(*v);
    if (!version || *version != records::format_version)
      throw store_failure(
          store_errc::unsupported_format,
          "store in '" + dir + "' has format version " +
              (version ? std::to_string(*version) : "'" + std::string(*v) + "'") +
              "; this build supports format version " + std::to_string(records::format_version) +
              " only. The store was left unchanged");
  }
  const bool create = !opts.read_only;
  auto open_db = [&](const char* name) {
    auto d = lmdb::dbi::open(t, name, create ? MDB_CREATE : 0);
    if (!d) fail_corrupt(std::string("database '") + name + "' is missing");
    return *d;
  };
  db.meta = open_db("meta");
  db.chain = open_db("chain");
  db.log = open_db("log");
  db.docs = open_db("docs");
  db.frontier = open_db("frontier");
  db.horizon = open_db("horizon");
  db.snapshot = open_db("snapshot");
  db.peers = open_db("peers");
  db.trust = open_db("trust");
  db.tokens = open_db("tokens");
  if (!meta_db)
    db.meta.put(t, records::format_version_key,
                records::encode_format_version(records::format_version));
  t.commit();  // also keeps the database handles, for read-only opens too
}

store::store(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
store::~store() = default;

const std::string& store::dir() const { return impl_->dir; }
bool store::read_only() const { return impl_->opts.read_only; }
int store::stale_readers_cleared() const { return impl_->stale_readers_cleared; }

// --- transactions and the map ------------------------------------------------

store::impl::locked_txn store::impl::begin(unsigned flags) const {
  for (;;) {
    {
      std::shared_lock lock(map_mutex);
      try {
        auto t = lmdb::txn::begin(env.handle(), flags);
        return locked_txn{std::move(lock), std::move(t)};
      } catch (const store_failure& f) {
        if (f.lmdb_code() != MDB_MAP_RESIZED) throw;
      }
    }
    // Another process grew the map: adopt its size, with no transaction active.
    std::unique_lock lock(map_mutex);
    env.set_map_size(0);
  }
}

void store::impl::grow_map() {
  std::unique_lock lock(map_mutex);
  std::size_t current = env.info().me_mapsize;
  if (current >= opts.max_map_size)
    throw store_failure(store_errc::map_full,
                        "map full at " + std::to_string(current) +
                            " bytes (max_map_size); the batch was not written",
                        MDB_MAP_FULL);
  env.set_map_size(std::min(current * 2, opts.max_map_size));
  ++map_resizes;
}

// --- record readers ------------------------------------------------------------

frontier store::impl::load_frontier(const lmdb::txn& t, std::string_view doc) const {
  auto v = db.frontier.get(t, records::doc_key(doc).view());
  if (!v) return {};
  auto f = records::decode_frontier(*v);
  if (!f) fail_corrupt("frontier of doc '" + std::string(doc) + "'");
  return std::move(*f);
}

frontier store::impl::load_horizon(const lmdb::txn& t, std::string_view doc) const {
  auto v = db.horizon.get(t, records::doc_key(doc).view());
  if (!v) return {};
  auto f = records::decode_frontier(*v);
  if (!f) fail_corrupt("horizon of doc '" + std::string(doc) + "'");
  return std::move(*f);
}

records::doc_record store::impl::load_doc_record(const lmdb::txn& t, std::string_view doc) const {
  auto v = db.docs.get(t, records::doc_key(doc).view());
  if (!v) return {};
  auto r = records::decode_doc_record(*v);
  if (!r) fail_corrupt("record of doc '" + std::string(doc) + "'");
  return *r;
}

std::optional<records::chain_entry> store::impl::load_chain_entry(const lmdb::txn& t,
                                                                  std::string_view doc,
                                                                  const public_key& author,
                                                                  std::uint64_t seq) const {
  auto v = db.chain.get(t, records::chain_key(doc, author, seq).view());
  if (!v) return std::nullopt;
  auto e = records::decode_chain_entry(*v);
  if (!e) fail_corrupt("chain entry of doc '" + std::string(doc) + "'");
  return e;
}

records::log_entry store::impl::log_entry_at(const lmdb::txn& t, std::string_view doc,
                                             std::uint64_t index) const {
  auto v = db.log.get(t, records::log_key(doc, index).view());
  if (!v) fail_corrupt("log entry " + std::to_string(index) + " of doc '" + std::string(doc) + "' is missing");
  auto e = records::decode_log_entry(*v);
  if (!e) fail_corrupt("log entry of doc '" + std::string(doc) + "'");
  return *e;
}

std::optional<records::snapshot_record> store::impl::load_snapshot(const lmdb::txn& t,
                                                                   std::string_view doc) const {
  auto v = db.snapshot.get(t, records::doc_key(doc).view());
  if (!v) return std::nullopt;
  auto s = records::decode_snapshot(*v);
  if (!s) fail_corrupt("snapshot of doc '" + std::string(doc) + "'");
  return s;
}

// --- reads -------------------------------------------------------------------

expected<std::optional<bytes>, store_error> store::get_change(std::string_view doc,
                                                              const public_key& author,
                                                              std::uint64_t seq) const {
  return impl_->read([&](const lmdb::txn& t) -> std::optional<bytes> {
    require_doc(doc);
    auto c = impl_->load_chain_entry(t, doc, author, seq);
    if (!c) return std::nullopt;
    auto e = impl_->log_entry_at(t, doc, c->log_index);
    if (e.hash != c->hash)
      fail_corrupt("chain and log of doc '" + std::string(doc) + "' disagree");
    return bytes(e.encoded);
  });
}

expected<bool, store_error> store::has_change(std::string_view doc, const public_key& author,
                                              std::uint64_t seq, const hash256& hash) const {
  return impl_->read([&](const lmdb::txn& t) {
    require_doc(doc);
    auto c = impl_->load_chain_entry(t, doc, author, seq);
    return c && c->hash == hash;
  });
}

expected<std::optional<hash256>, store_error> store::chain_hash(std::string_view doc,
                                                                const public_key& author,
                                                                std::uint64_t seq) const {
  return impl_->read([&](const lmdb::txn& t) -> std::optional<hash256> {
    require_doc(doc);
    auto e = impl_->load_chain_entry(t, doc, author, seq);
    if (!e) return std::nullopt;
    return e->hash;
  });
}

expected<frontier, store_error> store::load_frontier(std::string_view doc) const {
  return impl_->read([&](const lmdb::txn& t) {
    require_doc(doc);
    return impl_->load_frontier(t, doc);
  });
}

expected<frontier, store_error> store::load_horizon(std::string_view doc) const {
  return impl_->read([&](const lmdb::txn& t) {
    require_doc(doc);
    return impl_->load_horizon(t, doc);
  });
}

expected<std::vector<std::string>, store_error> store::list_docs() const {
  return impl_->read([&](const lmdb::txn& t) {
    std::vector<std::string> docs;
    lmdb::cursor c(t, impl_->db.docs);
    for (auto e = c.first(); e; e = c.next()) {
      auto name = records::parse_doc_key(e->first);
      if (!name) fail_corrupt("key in docs");
      docs.push_back(std::move(*name));
    }
    return docs;
  });
}

expected<bool, store_error> store::has_doc(std::string_view doc) const {
  return impl_->read([&](const lmdb::txn& t) {
    require_doc(doc);
    return impl_->db.docs.get(t, records::doc_key(doc).view()).has_value();
  });
}

expected<std::vector<std::string>, store_error> store::list_docs(std::string_view after, std::size_t limit) const {
  // A docs key is the name's length byte and the name, so the table holds
  // one run per name length, each in name order. The page is merged from
  // the runs, reading one entry per run and one per name returned: its
  // cost does not grow with the number of documents.
  return impl_->read([&](const lmdb::txn& t) {
    std::vector<std::string> out;
    if (limit == 0) return out;
    lmdb::cursor c(t, impl_->db.docs);
    // The first name of the run of length `len` whose key is >= (len, from),
    // other than `skip`.
    auto next_in_run = [&](std::size_t len, std::string_view from,
                           std::string_view skip) -> std::optional<std::string> {
      std::string k(1, static_cast<char>(len));
      k += from;
      for (auto e = c.seek(k); e; e = c.next()) {
        if (e->first.empty() || static_cast<unsigned char>(e->first[0]) != len) return std::nullopt;
        auto name = records::parse_doc_key(e->first);
        if (!name) fail_corrupt("key in docs");
        if (*name != skip) return name;
      }
      return std::nullopt;
    };
    // Per run, the next name after `after`: for a shorter run, names above
    // after's prefix of that length (the prefix itself sorts before after);
    // for a longer run, names from after on (none can equal it).
    std::map<std::string, std::size_t> heads;  // next name -> its run (names of different runs differ)
    for (std::size_t len = 1; len <= max_doc_name; ++len) {
      auto from = after.substr(0, std::min(len, after.size()));
      auto n = next_in_run(len, from, len <= after.size() ? from : std::string_view{});
      if (n) heads.emplace(std::move(*n), len);
    }
    while (out.size() < limit && !heads.empty()) {
      auto node = heads.extract(heads.begin());
      auto n = next_in_run(node.mapped(), node.key(), node.key());
      if (n) heads.emplace(std::move(*n), node.mapped());
      out.push_back(std::move(node.key()));
    }
    return out;
  });
}

expected<std::uint64_t, store_error> store::change_count(std::string_view doc) const {
  return impl_->read([&](const lmdb::txn& t) {
    require_doc(doc);
    return impl_->load_doc_record(t, doc).change_count;
  });
}

expected<std::uint64_t, store_error> store::log_end(std::string_view doc) const {
  return impl_->read([&](const lmdb::txn& t) {
    require_doc(doc);
    return impl_->load_doc_record(t, doc).next_log_index;
  });
}

expected<std::uint64_t, store_error> store::load_log(std::string_view doc, std::uint64_t from_index,
                                                     const log_visitor& visit) const {
  return impl_->read([&](const lmdb::txn& t) {
    require_doc(doc);
    const auto prefix = records::doc_key(doc);
    lmdb::cursor c(t, impl_->db.log);
    std::uint64_t next = from_index;
    for (auto e = c.seek(records::log_key(doc, from_index).view()); e; e = c.next()) {
      auto [k, v] = *e;
      if (k.size() != prefix.view().size() + 8 || k.substr(0, prefix.view().size()) != prefix.view())
        break;  // past this doc's entries
      auto entry = records::decode_log_entry(v);
      if (!entry) fail_corrupt("log entry of doc '" + std::string(doc) + "'");
      std::uint64_t index = wire::get_u64be(k.data() + prefix.view().size());
      next = index + 1;
      if (!visit(index, entry->hash, entry->encoded)) break;
    }
    return next;
  });
}

expected<std::optional<snapshot>, store_error> store::load_snapshot(std::string_view doc) const {
  return impl_->read([&](const lmdb::txn& t) -> std::optional<snapshot> {
    require_doc(doc);
    auto s = impl_->load_snapshot(t, doc);
    if (!s) return std::nullopt;
    return snapshot{std::move(s->at), std::move(s->state)};
  });
}

namespace {

template <class Key, class Value, class Decode>
std::vector<std::pair<Key, Value>> list_all(const lmdb::txn& t, const lmdb::dbi& d,
                                            const char* what, Decode decode) {
  std::vector<std::pair<Key, Value>> out;
  lmdb::cursor c(t, d);
  for (auto e = c.first(); e; e = c.next()) {
    auto value = decode(e->second);
    if (e->first.size() != Key::size() || !value) fail_corrupt(std::string("entry in ") + what);
    out.emplace_back(Key::from(e->first), std::move(*value));
  }
  return out;
}

std::optional<std::string> as_text(byte_view v) { return std::string(v); }

}  // namespace

expected<std::optional<std::string>, store_error> store::get_peer(const public_key& id) const {
  return impl_->read([&](const lmdb::txn& t) -> std::optional<std::string> {
    auto v = impl_->db.peers.get(t, id.view());
    return v ? std::optional<std::string>(*v) : std::nullopt;
  });
}

expected<std::vector<std::pair<public_key, std::string>>, store_error> store::list_peers() const {
  return impl_->read([&](const lmdb::txn& t) {
    return list_all<public_key, std::string>(t, impl_->db.peers, "peers", as_text);
  });
}

expected<std::optional<std::string>, store_error> store::get_trust(const public_key& key) const {
  return impl_->read([&](const lmdb::txn& t) -> std::optional<std::string> {
    auto v = impl_->db.trust.get(t, key.view());
    return v ? std::optional<std::string>(*v) : std::nullopt;
  });
}

expected<std::vector<std::pair<public_key, std::string>>, store_error> store::list_trust() const {
  return impl_->read([&](const lmdb::txn& t) {
    return list_all<public_key, std::string>(t, impl_->db.trust, "trust", as_text);
  });
}

namespace {
std::optional<token_record> decode_token(byte_view v) {
  auto r = records::decode_token(v);
  if (!r) return std::nullopt;
  return token_record{std::move(r->json), r->consumed};
}
}  // namespace

expected<std::optional<token_record>, store_error> store::get_token(const hash256& token_hash) const {
  return impl_->read([&](const lmdb::txn& t) -> std::optional<token_record> {
    auto v = impl_->db.tokens.get(t, token_hash.view());
    if (!v) return std::nullopt;
    auto r = decode_token(*v);
    if (!r) fail_corrupt("token record");
    return r;
  });
}

expected<std::vector<std::pair<hash256, token_record>>, store_error> store::list_tokens() const {
  return impl_->read([&](const lmdb::txn& t) {
    return list_all<hash256, token_record>(t, impl_->db.tokens, "tokens", decode_token);
  });
}

expected<std::optional<bytes>, store_error> store::get_meta(std::string_view key) const {
  return impl_->read([&](const lmdb::txn& t) -> std::optional<bytes> {
    if (key.empty()) return std::nullopt;  // LMDB does not allow empty keys
    auto v = impl_->db.meta.get(t, key);
    return v ? std::optional<bytes>(*v) : std::nullopt;
  });
}

expected<store_stats, store_error> store::stats() const {
  return impl_->read([&](const lmdb::txn& t) {
    store_stats s;
    const auto& db = impl_->db;
    s.docs = db.docs.stat(t).ms_entries;
    s.changes = db.chain.stat(t).ms_entries;  // one chain entry per stored change
    s.log_entries = db.log.stat(t).ms_entries;
    s.snapshots = db.snapshot.stat(t).ms_entries;
    s.peers = db.peers.stat(t).ms_entries;
    s.trusted_keys = db.trust.stat(t).ms_entries;
    s.tokens = db.tokens.stat(t).ms_entries;
    auto info = impl_->env.info();
    auto page = impl_->env.stat().ms_psize;
    s.map_size = info.me_mapsize;
    s.used_bytes = (info.me_last_pgno + 1) * std::uint64_t{page};
    s.commits = impl_->commits.load();
    s.map_resizes = impl_->map_resizes.load();
    s.stale_readers_cleared = impl_->stale_readers_cleared;
    if (auto ns = impl_->last_commit_ns.load())
      s.last_commit = std::chrono::system_clock::time_point(
          std::chrono::duration_cast<std::chrono::system_clock::duration>(
              std::chrono::nanoseconds(ns)));
    return s;
  });
}

}  // namespace starling::persistence
