#include "persistence/lmdb.hpp"

#include <cerrno>

namespace starling::persistence::lmdb {

store_errc classify(int rc) {
  switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT: return store_errc::map_full;  // no room, whichever limit it was
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_PANIC:
    case MDB_BAD_TXN: return store_errc::corrupt;
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID: return store_errc::unsupported_format;
    case EROFS:
    case EACCES: return store_errc::read_only;
    default: return store_errc::io;
  }
}

void check(int rc, const char* call) {
  if (rc == MDB_SUCCESS) return;
  throw store_failure(classify(rc), std::string(call) + ": " + mdb_strerror(rc), rc);
}

// --- env -------------------------------------------------------------------

env::env() { check(mdb_env_create(&env_), "mdb_env_create"); }
env::~env() {
  if (env_) mdb_env_close(env_);
}
void env::set_map_size(std::size_t bytes) {
  check(mdb_env_set_mapsize(env_, bytes), "mdb_env_set_mapsize");
}
void env::set_max_readers(unsigned n) { check(mdb_env_set_maxreaders(env_, n), "mdb_env_set_maxreaders"); }
void env::set_max_dbs(unsigned n) { check(mdb_env_set_maxdbs(env_, n), "mdb_env_set_maxdbs"); }
void env::open(const std::string& dir, unsigned flags, mdb_mode_t mode) {
  int rc = mdb_env_open(env_, dir.c_str(), flags, mode);
  if (rc != MDB_SUCCESS)
    throw store_failure(classify(rc), "mdb_env_open " + dir + ": " + mdb_strerror(rc), rc);
}
int env::reader_check() {
  int dead = 0;
  check(mdb_reader_check(env_, &dead), "mdb_reader_check");
  return dead;
}
MDB_envinfo env::info() const {
  MDB_envinfo i;
  check(mdb_env_info(env_, &i), "mdb_env_info");
  return i;
}
MDB_stat env::stat() const {
  MDB_stat s;
  check(mdb_env_stat(env_, &s), "mdb_env_stat");
  return s;
}
void env::sync(bool force) { check(mdb_env_sync(env_, force ? 1 : 0), "mdb_env_sync"); }

// --- txn -------------------------------------------------------------------

txn txn::begin(MDB_env* e, unsigned flags) {
  MDB_txn* t = nullptr;
  check(mdb_txn_begin(e, nullptr, flags, &t), "mdb_txn_begin");
  return txn(t);
}
txn& txn::operator=(txn&& o) noexcept {
  if (this != &o) {
    abort();
    txn_ = std::exchange(o.txn_, nullptr);
  }
  return *this;
}
void txn::commit() {
  // LMDB frees the transaction whether or not the commit succeeds.
  MDB_txn* t = std::exchange(txn_, nullptr);
  check(mdb_txn_commit(t), "mdb_txn_commit");
}
void txn::abort() noexcept {
  if (txn_) mdb_txn_abort(std::exchange(txn_, nullptr));
}

// --- dbi -------------------------------------------------------------------

std::optional<dbi> dbi::open(const txn& t, const char* name, unsigned flags) {
  MDB_dbi d;
  int rc = mdb_dbi_open(t.handle(), name, flags, &d);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "mdb_dbi_open");
  return dbi(d);
}
std::optional<byte_view> dbi::get(const txn& t, byte_view key) const {
  MDB_val k = to_val(key), v;
  int rc = mdb_get(t.handle(), dbi_, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "mdb_get");
  return to_view(v);
}
void dbi::put(const txn& t, byte_view key, byte_view value, unsigned flags) const {
  MDB_val k = to_val(key), v = to_val(value);
  check(mdb_put(t.handle(), dbi_, &k, &v, flags), "mdb_put");
}
char* dbi::reserve(const txn& t, byte_view key, std::size_t size) const {
  MDB_val k = to_val(key), v{size, nullptr};
  check(mdb_put(t.handle(), dbi_, &k, &v, MDB_RESERVE), "mdb_put(RESERVE)");
  return static_cast<char*>(v.mv_data);
}
char* dbi::reserve_last(const txn& t, byte_view key, std::size_t size) const {
  MDB_val k = to_val(key), v{size, nullptr};
  int rc = mdb_put(t.handle(), dbi_, &k, &v, MDB_RESERVE | MDB_APPEND);
  if (rc == MDB_KEYEXIST) return reserve(t, key, size);
  check(rc, "mdb_put(RESERVE|APPEND)");
  return static_cast<char*>(v.mv_data);
}
bool dbi::del(const txn& t, byte_view key) const {
  MDB_val k = to_val(key);
  int rc = mdb_del(t.handle(), dbi_, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "mdb_del");
  return true;
}
MDB_stat dbi::stat(const txn& t) const {
  MDB_stat s;
  check(mdb_stat(t.handle(), dbi_, &s), "mdb_stat");
  return s;
}

// --- cursor ----------------------------------------------------------------

cursor::cursor(const txn& t, const dbi& d) {
  check(mdb_cursor_open(t.handle(), d.handle(), &cur_), "mdb_cursor_open");
}
cursor::~cursor() { mdb_cursor_close(cur_); }

std::optional<cursor::entry> cursor::get(MDB_val* key, MDB_cursor_op op, const char* call) {
  MDB_val k = key ? *key : MDB_val{0, nullptr}, v;
  int rc = mdb_cursor_get(cur_, &k, &v, op);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, call);
  return entry{to_view(k), to_view(v)};
}
std::optional<cursor::entry> cursor::seek(byte_view key) {
  MDB_val k = to_val(key);
  return get(&k, MDB_SET_RANGE, "mdb_cursor_get(SET_RANGE)");
}
std::optional<cursor::entry> cursor::next() { return get(nullptr, MDB_NEXT, "mdb_cursor_get(NEXT)"); }
std::optional<cursor::entry> cursor::first() { return get(nullptr, MDB_FIRST, "mdb_cursor_get(FIRST)"); }

}  // namespace starling::persistence::lmdb
