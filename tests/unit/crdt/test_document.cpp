#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace starling;
using namespace starling::test;
using crdt::apply_status;
using crdt::document;
using crdt::refusal;

TEST_CASE("local mutations build the expected JSON", "[document]") {
  document d("doc");
  auto k = key(1);
  write(d, k, {set("/a", 1), set("/s", "x"), set("/o", J(R"({"x": [1, {"y": null}], "b": true})"))});
  CHECK(d.state() == J(R"({"a":1,"s":"x","o":{"x":[1,{"y":null}],"b":true}})"));
  write(d, k, {set("/o/x/1/y", 2.5), ins("/o/x/0", "first"), ins("/o/x/-", "last")});
  CHECK(d.read("/o/x") == J(R"(["first",1,{"y":2.5},"last"])"));
  write(d, k, {rm("/o/x/1"), del("/s"), inc("/n", 5), inc("/n", -2), inc("/a", 10)});
  CHECK(d.state() == J(R"({"a":11,"n":3,"o":{"x":["first",{"y":2.5},"last"],"b":true}})"));
  write(d, k, {set("/o/x/0", J("{}")), set("/o/x/0/z", 1)});  // later mutations see earlier ones
  CHECK(d.read("/o/x/0") == J(R"({"z":1})"));
  CHECK(d.read("/nope") == std::nullopt);
  CHECK(d.read("/o/x/9") == std::nullopt);
  CHECK(d.read("") == d.state());
  CHECK(d.current_frontier().at(k.pk).seq == 4);
  CHECK(d.heads().size() == 1);
}

TEST_CASE("JSON Pointer escapes and the append token", "[document]") {
  document d("doc");
  auto k = key(1);
  write(d, k, {set("/a~1b", 1), set("/c~0d", 2), set("/l", J("[]")), ins("/l/-", 1), ins("/l/-", 2)});
  CHECK(d.state() == J(R"({"a/b":1,"c~d":2,"l":[1,2]})"));
  CHECK(d.read("/a~1b") == J("1"));
}

TEST_CASE("bad mutations are refused with the path and leave the document unchanged", "[document]") {
  document d("doc");
  auto k = key(1);
  write(d, k, {set("/a", 1), set("/l", J("[1,2]")), set("/m", J(R"({"s":"x"})"))});
  auto before = d.state();
  auto digest = d.digest();
  auto frontier = d.current_frontier();
  auto count = d.change_count();
  struct bad {
    crdt::mutation m;
    const char* needle;
  };
  std::vector<bad> cases = {
      {set("/a/b", 1), "not an object or array"},      // set through a scalar
      {set("/x/y", 1), "no such path /x"},               // missing parent
      {ins("/l/3", 1), "past the end"},                  // ins past the end
      {set("/l/2", 1), "past the end"},                  // set past the end
      {set("/l/-", 1), "use ins"},
      {ins("/m/k", 1), "array index"},                   // ins into a map
      {rm("/m/s"), "use del"},                        // rm on a map key
      {del("/m/zz"), "no such key"},
      {inc("/m/s", 1), "integer"},                       // inc on a string
      {{crdt::mutation::kind::inc, "/a", 1.5}, "integer value"},
      {set("a", 1), "invalid JSON Pointer"},             // bad pointer syntax
      {set("/a~2", 1), "invalid JSON Pointer"},
      {set("", 1), "root"},
      {set("/l/01", 1), "not an array index"},
      {set("/big", nlohmann::json(std::numeric_limits<std::uint64_t>::max())), "int64"},
  };
  for (auto& c : cases) {
    // A valid mutation first, so the refusal must also undo it.
    auto r = d.make_change({set("/ok", 1), c.m}, k, 2000);
    INFO(c.m.path << " expecting " << c.needle);
    REQUIRE_FALSE(r);
    CHECK(r.error().index == 1);
    CHECK(r.error().path == c.m.path);
    CHECK_THAT(r.error().message, Catch::Contains(c.needle));
    CHECK(d.state() == before);
    CHECK(d.digest() == digest);
    CHECK(d.current_frontier() == frontier);
    CHECK(d.change_count() == count);
  }
  auto deep = nlohmann::json(1);
  for (int i = 0; i < 100; ++i) deep = nlohmann::json::array({deep});
  auto r = d.make_change({set("/deep", deep)}, k, 2000);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("nested"));
  CHECK(d.state() == before);
  // The document still works after all those refusals.
  write(d, k, {set("/ok", 2)});
  CHECK(d.read("/ok") == J("2"));
}

TEST_CASE("parse_mutation", "[document]") {
  auto m = crdt::parse_mutation(J(R"({"op":"ins","path":"/l/0","value":[1]})"));
  REQUIRE(m);
  CHECK(m->k == crdt::mutation::kind::ins);
  CHECK_FALSE(crdt::parse_mutation(J(R"({"op":"frob","path":"/a"})")));
  CHECK_FALSE(crdt::parse_mutation(J(R"({"op":"set","path":"/a"})")));
  CHECK_FALSE(crdt::parse_mutation(J(R"({"op":"set","path":3,"value":1})")));
  CHECK_FALSE(crdt::parse_mutation(J("[]")));
  CHECK(crdt::parse_mutation(J(R"({"op":"del","path":"/a"})")));
}

TEST_CASE("remote changes apply, duplicates are no-ops", "[document]") {
  document a("doc"), b("doc");
  auto ka = key(1);
  auto c1 = write(a, ka, {set("/x", 1)});
  auto c2 = write(a, ka, {set("/y", J("[1]"))});
  auto r = b.apply(c1);
  CHECK(r.outcomes[0].status == apply_status::applied);
  CHECK(r.applied == std::vector<hash256>{c1.hash});
  CHECK(b.apply(c1).outcomes[0].status == apply_status::duplicate);
  b.apply(c2);
  CHECK(b.state() == a.state());
  CHECK(b.digest() == a.digest());
  CHECK(b.current_frontier() == a.current_frontier());
}

TEST_CASE("out-of-order changes wait in pending and are released in causal order", "[document]") {
  document a("doc"), b("doc");
  auto ka = key(1), kb = key(2);
  std::vector<crdt::change> cs;
  cs.push_back(write(a, ka, {set("/l", J("[]"))}));
  for (int i = 0; i < 5; ++i) cs.push_back(write(a, ka, {ins("/l/-", i)}));
  // Another author whose change depends on a's last one.
  document c("doc");
  for (auto& x : cs) c.apply(x);
  auto other = write(c, kb, {ins("/l/0", "b")});
  CHECK(other.deps == std::vector<hash256>{cs.back().hash});

  auto r = b.apply(other);
  CHECK(r.outcomes[0].status == apply_status::pending);
  for (int i = 5; i >= 1; --i) CHECK(b.apply(cs[i]).outcomes[0].status == apply_status::pending);
  CHECK(b.pending_count() == 6);
  r = b.apply(cs[0]);
  CHECK(r.outcomes[0].status == apply_status::applied);
  CHECK(r.applied.size() == 7);  // released: the chain, then the dependent
  CHECK(r.applied.back() == other.hash);
  CHECK(b.pending_count() == 0);
  CHECK(b.state() == c.state());
  CHECK(b.state()["l"] == J(R"(["b",0,1,2,3,4])"));
}

TEST_CASE("concurrent writes: LWW maps, RGA lists, summed counters", "[document]") {
  auto ka = key(1), kb = key(2);
  document base("doc");
  auto c0 = write(base, ka, {set("/l", J("[\"m\"]")), set("/n", 0), set("/k", "init")});
  document a("doc"), b("doc");
  a.apply(c0);
  b.apply(c0);
  auto ca = write(a, ka, {set("/k", "from a"), ins("/l/0", "a1"), ins("/l/2", "a2"), inc("/n", 2)}, 5000);
  auto cb = write(b, kb, {set("/k", "from b"), ins("/l/0", "b1"), ins("/l/2", "b2"), inc("/n", 3)}, 6000);
  a.apply(cb);
  b.apply(ca);
  CHECK(a.state() == b.state());
  CHECK(a.state()["k"] == "from b");  // later time wins
  CHECK(a.state()["n"] == 5);         // increments add up
  auto l = a.state()["l"];
  CHECK(l.size() == 5);
  CHECK(l[2] == "m");  // inserts on either side of the shared element stay there
  // Concurrent delete and increment: the delete is a write, the increment
  // targeted the old value, so the key is gone.
  auto cd = write(a, ka, {del("/n")}, 7000);
  auto ci = write(b, kb, {inc("/n", 1)}, 7000);
  a.apply(ci);
  b.apply(cd);
  CHECK(a.state() == b.state());
  CHECK(a.digest() == b.digest());
}

TEST_CASE("increment of a missing key makes a counter", "[document]") {
  document d("doc");
  auto k = key(1);
  write(d, k, {inc("/hits", 1), inc("/hits", 1)});
  CHECK(d.read("/hits") == J("2"));
  write(d, k, {del("/hits")});
  CHECK(d.read("/hits") == std::nullopt);
  write(d, k, {inc("/hits", 4)});
  CHECK(d.read("/hits") == J("4"));
}

TEST_CASE("the pending set is bounded and says so", "[document]") {
  crdt::document_limits lim;
  lim.max_pending = 4;
  document a("doc"), b("doc", lim);
  auto k = key(1);
  std::vector<crdt::change> cs;
  for (int i = 0; i < 8; ++i) cs.push_back(write(a, k, {set("/x", i)}));
  // Without seq 1 nothing applies: four wait, the rest are refused.
  int pending = 0, full = 0;
  for (int i = 1; i < 8; ++i) {
    auto r = b.apply(cs[i]);
    if (r.outcomes[0].status == apply_status::pending) ++pending;
    if (r.outcomes[0].reason == refusal::pending_full) ++full;
  }
  CHECK(pending == 4);
  CHECK(full == 3);
  CHECK(b.pending_count() == 4);
  auto r = b.apply(cs[0]);
  CHECK(r.applied.size() == 5);
  // The refused ones are accepted when delivered again.
  for (int i = 5; i < 8; ++i) b.apply(cs[i]);
  CHECK(b.state() == a.state());
}

TEST_CASE("changes of another document are refused", "[document]") {
  document a("one"), b("two");
  auto c = write(a, key(1), {set("/x", 1)});
  auto r = b.apply(c);
  CHECK(r.outcomes[0].reason == refusal::wrong_doc);
}

TEST_CASE("hybrid logical clock is monotonic", "[hlc]") {
  crdt::hlc h;
  auto t1 = h.tick(100);
  auto t2 = h.tick(100);
  auto t3 = h.tick(50);  // wall clock went backwards
  CHECK(t1 < t2);
  CHECK(t2 < t3);
  CHECK(crdt::hlc::millis(t1) == 100);
  h.observe(crdt::hlc::pack(500, 7));
  auto t4 = h.tick(200);
  CHECK(t4 > crdt::hlc::pack(500, 7));
  CHECK(crdt::hlc::millis(h.tick(900)) == 900);
}

TEST_CASE("local changes carry time after everything applied", "[hlc][document]") {
  document a("doc"), b("doc");
  auto c1 = write(a, key(1), {set("/x", 1)}, 1'000'000);
  b.apply(c1);
  auto c2 = write(b, key(2), {set("/x", 2)}, 10);  // b's wall clock is far behind
  CHECK(c2.time > c1.time);
  a.apply(c2);
  CHECK(a.read("/x") == J("2"));
}

TEST_CASE("containers nest at most max_nesting deep, for local and remote changes", "[document]") {
  document d("doc"), remote("doc");
  auto k = key(1);
  std::string path;
  for (int level = 1; level <= crdt::max_nesting; ++level) {
    path += "/a";
    remote.apply(write(d, k, {set(path, J("{}"))}));  // one level per change
  }
  auto r = d.make_change({set(path + "/a", J("{}"))}, k, 5000);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("nest deeper"));
  CHECK(d.make_change({set(path + "/a", 1)}, k, 5000));  // scalars are fine
  // A change that nests too deep is refused the same way on a replica.
  crdt::document d2("doc");
  for (auto& enc : remote.changes_since({})) d2.apply(*crdt::decode(enc));
  auto deep = d2.changes_since({});
  CHECK(deep.size() == crdt::max_nesting);
  // Forge one op deeper (valid signature, invalid op).
  auto last = *crdt::decode(deep.back());
  crdt::change c;
  c.doc = "doc";
  c.author = key(2).pk;
  c.seq = 1;
  c.deps = {last.hash};
  c.time = last.time + 1;
  c.ops = {crdt::op{crdt::op_kind::make_map, crdt::op_ref::ext(last.hash, 0), crdt::place_kind::map_key, "a", {}, {}, 0, {}}};
  crdt::sign(c, key(2));
  auto rep = d2.apply(c);
  CHECK(rep.outcomes[0].reason == refusal::invalid_op);
  CHECK(d2.digest() == remote.digest());
}
