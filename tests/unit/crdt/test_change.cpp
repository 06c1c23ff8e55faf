#include <catch2/catch.hpp>

#include "crdt/varint.hpp"
#include "helpers.hpp"

using namespace starling;
using namespace starling::crdt;

namespace {

change sample(const crypto::keypair& k) {
  change c;
  c.doc = "doc-1";
  c.author = k.pk;
  c.seq = 3;
  c.prev = crypto::blake2b_256("prev");
  c.deps = {crypto::blake2b_256("a"), crypto::blake2b_256("b")};
  std::sort(c.deps.begin(), c.deps.end());
  c.time = hlc::pack(1700000000000ull, 3);
  op m{op_kind::make_map, op_ref::none(), place_kind::map_key, "obj", {}, {}, 0, {}};
  op l{op_kind::make_list, op_ref::self(0), place_kind::map_key, "list", {}, {}, 0, {}};
  op s1{op_kind::set, op_ref::self(0), place_kind::map_key, "n", {}, std::int64_t(-42), 0, {}};
  op s2{op_kind::set, op_ref::self(0), place_kind::map_key, "d", {}, 2.5, 0, {}};
  op s3{op_kind::set, op_ref::self(0), place_kind::map_key, "s", {}, std::string("h\xc3\xa9llo"), 0, {}};
  op s4{op_kind::set, op_ref::self(0), place_kind::map_key, "b", {}, true, 0, {}};
  op s5{op_kind::set, op_ref::self(0), place_kind::map_key, "z", {}, std::monostate{}, 0, {}};
  op i1{op_kind::ins, op_ref::self(1), place_kind::list_after, "", op_ref::none(), std::int64_t(1), 0, {}};
  op i2{op_kind::make_map, op_ref::self(1), place_kind::list_after, "", op_ref::self(7), {}, 0, {}};
  op r1{op_kind::rm, op_ref::self(1), place_kind::list_elem, "", op_ref::self(7), {}, 0, {}};
  op d1{op_kind::del, op_ref::ext(crypto::blake2b_256("x"), 4), place_kind::map_key, "gone", {}, {}, 0, {}};
  op n1{op_kind::inc, op_ref::self(0), place_kind::map_key, "n", {}, {}, -7, op_ref::self(2)};
  c.ops = {m, l, s1, s2, s3, s4, s5, i1, i2, r1, d1, n1};
  sign(c, k);
  return c;
}

void flip_in_unsigned(bytes& enc, std::size_t at, char v) { enc[at] = v; }

}  // namespace

TEST_CASE("change encoding round-trips canonically", "[codec]") {
  auto k = test::key(1);
  auto c = sample(k);
  auto enc = encode(c);
  auto d = decode(enc);
  REQUIRE(d);
  CHECK(d->hash == c.hash);
  CHECK(encode(*d) == enc);
  CHECK(d->ops.size() == c.ops.size());
  CHECK(std::get<std::string>(d->ops[4].value) == "h\xc3\xa9llo");
  CHECK(d->ops[11].delta == -7);
  CHECK(signature_valid(*d));
  CHECK(compute_hash(*d) == c.hash);
  // decode_prefix consumes exactly one change from a stream.
  bytes two = enc + enc;
  byte_view in(two);
  REQUIRE(decode_prefix(in));
  CHECK(in.size() == enc.size());
}

TEST_CASE("every strict prefix of a change is refused", "[codec]") {
  auto enc = encode(sample(test::key(1)));
  for (std::size_t n = 0; n < enc.size(); ++n) {
    auto d = decode(byte_view(enc).substr(0, n));
    INFO("prefix " << n);
    REQUIRE_FALSE(d);
  }
  auto d = decode(enc + "x");
  REQUIRE_FALSE(d);
  CHECK(d.error().code == codec_errc::trailing_bytes);
}

TEST_CASE("non-canonical and ill-formed changes are refused", "[codec]") {
  auto k = test::key(1);
  auto base = [&] {
    change c;
    c.doc = "d";
    c.author = k.pk;
    c.seq = 1;
    c.time = 5;
    c.ops = {op{op_kind::set, op_ref::none(), place_kind::map_key, "k", {}, std::int64_t(1), 0, {}}};
    sign(c, k);
    return c;
  };
  auto refused = [](const bytes& enc, codec_errc code) {
    auto d = decode(enc);
    REQUIRE_FALSE(d);
    CHECK(d.error().code == code);
    CHECK_FALSE(d.error().message.empty());
  };
  SECTION("non-minimal varint") {
    auto enc = encode(base());
    // byte layout: version, doc len (1), 'd', author(32), seq varint at 35
    REQUIRE(enc[35] == 1);
    bytes bad = enc.substr(0, 35) + "\x81\x00" + enc.substr(36);
    refused(bad, codec_errc::non_canonical);
  }
  SECTION("unsorted deps") {
    auto c = base();
    c.seq = 2;
    c.prev = crypto::blake2b_256("p");
    c.deps = {crypto::blake2b_256("b"), crypto::blake2b_256("a")};
    if (c.deps[0] < c.deps[1]) std::swap(c.deps[0], c.deps[1]);
    refused(encode(c), codec_errc::non_canonical);
    c.deps = {c.deps[0], c.deps[0]};
    refused(encode(c), codec_errc::non_canonical);
  }
  SECTION("prev must be zero exactly at seq 1") {
    auto c = base();
    c.prev = crypto::blake2b_256("p");
    refused(encode(c), codec_errc::bad_field);
    c.seq = 2;
    c.prev = hash256{};
    refused(encode(c), codec_errc::bad_field);
    c.seq = 0;
    refused(encode(c), codec_errc::bad_field);
  }
  SECTION("bad values") {
    auto c = base();
    c.ops[0].value = std::numeric_limits<double>::quiet_NaN();
    refused(encode(c), codec_errc::bad_field);
    c.ops[0].value = std::string("\xff\xfe");
    refused(encode(c), codec_errc::bad_field);
    c.ops[0].value = std::string("\xc0\xaf");  // overlong '/'
    refused(encode(c), codec_errc::bad_field);
    c = base();
    c.ops[0].key = "\xed\xa0\x80";  // surrogate
    refused(encode(c), codec_errc::bad_field);
  }
  SECTION("references and places") {
    auto c = base();
    c.ops[0].obj = op_ref::self(0);  // itself
    refused(encode(c), codec_errc::bad_field);
    c = base();
    c.ops[0].kind = op_kind::rm;  // rm needs a list element
    refused(encode(c), codec_errc::bad_field);
    c = base();
    c.ops[0].place = place_kind::list_elem;  // the root is a map
    c.ops[0].elem = op_ref::ext(crypto::blake2b_256("e"), 0);
    refused(encode(c), codec_errc::bad_field);
    c = base();
    c.ops.clear();
    refused(encode(c), codec_errc::bad_field);
  }
  SECTION("unknown kinds and tags") {
    auto enc = encode(base());
    // ops start after: version(1) doc(2) author(32) seq(1) prev(32) ndeps(1) time(1) nops(1)
    std::size_t op_at = 1 + 2 + 32 + 1 + 32 + 1 + 1 + 1;
    REQUIRE(enc[op_at] == 3);
    bytes bad = enc;
    flip_in_unsigned(bad, op_at, 9);
    refused(bad, codec_errc::bad_field);
    bad = enc;
    flip_in_unsigned(bad, op_at + 1, 7);  // ref tag
    refused(bad, codec_errc::bad_field);
    bad = enc;
    bad[0] = 2;  // format version
    refused(bad, codec_errc::bad_field);
  }
  SECTION("limits") {
    auto c = base();
    change_limits lim;
    lim.max_ops = 2;
    c.ops.resize(3, c.ops[0]);
    auto d = decode(encode(c), lim);
    REQUIRE_FALSE(d);
    CHECK(d.error().code == codec_errc::too_large);
    lim = {};
    lim.max_encoded_bytes = 64;
    d = decode(encode(base()), lim);
    REQUIRE_FALSE(d);
    CHECK(d.error().code == codec_errc::too_large);
    c = base();
    c.doc = "bad name!";
    d = decode(encode(c));
    REQUIRE_FALSE(d);
  }
}

TEST_CASE("signatures bind the hash and the author", "[codec]") {
  auto k1 = test::key(1), k2 = test::key(2);
  auto c = sample(k1);
  CHECK(signature_valid(c));
  auto forged = c;
  forged.author = k2.pk;  // claims another author
  forged.hash = compute_hash(forged);
  CHECK_FALSE(signature_valid(forged));
  auto altered = c;
  altered.sig.v[10] ^= 1;
  CHECK_FALSE(signature_valid(altered));
  auto tampered = c;
  tampered.ops[2].value = std::int64_t(43);
  tampered.hash = compute_hash(tampered);
  CHECK_FALSE(signature_valid(tampered));
}

TEST_CASE("varints and hex helpers", "[codec]") {
  for (std::uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, ~0ull}) {
    std::string s;
    wire::put_varint(s, v);
    wire::reader r(s);
    std::uint64_t out;
    REQUIRE(r.varint(out) == wire::read_status::ok);
    CHECK(out == v);
    CHECK(r.empty());
  }
  for (std::int64_t v : std::vector<std::int64_t>{0, -1, 1, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()})
    CHECK(wire::unzigzag(wire::zigzag(v)) == v);
  std::string overflow(10, '\xff');
  std::uint64_t out;
  wire::reader r(overflow);
  CHECK(r.varint(out) == wire::read_status::overflow);
  CHECK(to_hex(std::string("\x01\xab", 2)) == "01ab");
  CHECK(from_hex("01AB") == std::string("\x01\xab", 2));
  CHECK_FALSE(from_hex("0g"));
  CHECK_FALSE(from_hex("abc"));
  auto k = test::key(3);
  CHECK(fixed_from_hex<32>(to_hex(k.pk)) == k.pk);
  CHECK(short_id(k.pk).size() == 8);
  CHECK(valid_doc_name("a.b_c-9"));
  CHECK_FALSE(valid_doc_name(""));
  CHECK_FALSE(valid_doc_name(std::string(129, 'a')));
  CHECK_FALSE(valid_doc_name("a/b"));
}
