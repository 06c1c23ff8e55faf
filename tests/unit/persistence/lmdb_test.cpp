// The LMDB wrapper: RAII, "not found" as an empty optional, failures typed.
#include <catch2/catch.hpp>

#include "persistence/lmdb.hpp"
#include "support.hpp"

using namespace starling;
using namespace starling::persistence;

TEST_CASE("lmdb wrapper: put, get, delete, cursor, abort", "[persistence][lmdb]") {
  test::temp_dir tmp;
  lmdb::env env;
  env.set_max_dbs(2);
  env.set_map_size(1 << 20);
  env.open(tmp.path(), MDB_NOTLS, 0600);

  lmdb::dbi db;
  {
    auto t = lmdb::txn::begin(env.handle());
    CHECK_FALSE(lmdb::dbi::open(t, "absent"));  // without MDB_CREATE: no database, no error
    db = *lmdb::dbi::open(t, "kv", MDB_CREATE);
    db.put(t, "b", "2");
    db.put(t, "a", "1");
    db.put(t, "c", "3");
    CHECK(db.get(t, "a") == std::optional<byte_view>("1"));
    CHECK_FALSE(db.get(t, "zz"));
    CHECK(db.del(t, "c"));
    CHECK_FALSE(db.del(t, "c"));
    t.commit();
  }
  {
    auto t = lmdb::txn::begin(env.handle());
    db.put(t, "d", "4");
  }  // destroyed without commit: aborted
  {
    auto t = lmdb::txn::begin(env.handle(), MDB_RDONLY);
    CHECK_FALSE(db.get(t, "d"));
    CHECK(db.stat(t).ms_entries == 2);
    lmdb::cursor c(t, db);
    auto e = c.first();
    REQUIRE(e);
    CHECK(e->first == "a");
    e = c.next();
    REQUIRE(e);
    CHECK(e->second == "2");
    CHECK_FALSE(c.next());
    auto s = c.seek("aa");
    REQUIRE(s);
    CHECK(s->first == "b");
    CHECK_FALSE(c.seek("bb"));
  }
}

TEST_CASE("lmdb wrapper: failures become typed store_failures", "[persistence][lmdb]") {
  test::temp_dir tmp;
  {
    lmdb::env env;
    try {
      env.open(tmp.sub("no/such/dir"), 0, 0600);
      FAIL("open succeeded");
    } catch (const store_failure& f) {
      CHECK(f.error().code == store_errc::io);
      CHECK(f.lmdb_code() == ENOENT);
      CHECK_THAT(f.error().message, Catch::Contains("no/such/dir"));
    }
  }
  lmdb::env env;
  env.set_max_dbs(1);
  env.open(tmp.path(), 0, 0600);
  auto t = lmdb::txn::begin(env.handle());
  auto db = *lmdb::dbi::open(t, "one", MDB_CREATE);
  db.put(t, "k", "v");
  try {
    db.put(t, "k", "w", MDB_NOOVERWRITE);
    FAIL("put succeeded");
  } catch (const store_failure& f) {
    CHECK(f.lmdb_code() == MDB_KEYEXIST);
    CHECK_THAT(f.error().message, Catch::Contains("mdb_put"));
  }
  CHECK(lmdb::classify(MDB_MAP_FULL) == store_errc::map_full);
  CHECK(lmdb::classify(MDB_CORRUPTED) == store_errc::corrupt);
  CHECK(lmdb::classify(MDB_VERSION_MISMATCH) == store_errc::unsupported_format);
  CHECK(lmdb::classify(EACCES) == store_errc::read_only);
}
