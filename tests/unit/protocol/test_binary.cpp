#include <catch2/catch.hpp>

#include "crdt/varint.hpp"
#include "protocol/binary.hpp"
#include "sample_changes.hpp"

using namespace starling;
using namespace starling::protocol;

namespace {

std::vector<bytes> encode_all(const std::vector<crdt::change>& cs) {
  std::vector<bytes> out;
  for (auto& c : cs) out.push_back(crdt::encode(c));
  return out;
}

// A batch frame built by hand from raw change bytes (which may be invalid).
bytes raw_batch(std::string_view doc, const std::vector<bytes>& changes) {
  bytes out = "\xF5\x01\x01";
  wire::put_bytes(out, doc);
  wire::put_varint(out, changes.size());
  for (auto& c : changes) wire::put_bytes(out, c);
  return out;
}

void expect_error(const expected<change_batch, protocol_error>& r, errc code, const std::string& mentions = "") {
  REQUIRE_FALSE(r);
  INFO(r.error().message);
  CHECK(r.error().code == code);
  if (!mentions.empty()) CHECK_THAT(r.error().message, Catch::Contains(mentions));
}

const auto kp = test::test_keys(1);

}  // namespace

TEST_CASE("batch: round trip keeps changes, order and hashes", "[protocol]") {
  auto chain = test::set_chain("doc-1", kp, 5);
  chain.push_back(test::ten_op_change("doc-1", test::test_keys(2), 1, {}, {chain[0].hash, chain[1].hash}));
  auto frame = encode_batch("doc-1", chain);
  CHECK(frame == encode_batch("doc-1", encode_all(chain)));
  CHECK(static_cast<std::uint8_t>(frame[0]) == binary_magic);

  auto back = decode_batch(frame);
  REQUIRE(back);
  CHECK(back->doc == "doc-1");
  REQUIRE(back->changes.size() == chain.size());
  for (std::size_t i = 0; i < chain.size(); ++i) {
    CHECK(back->changes[i].hash == chain[i].hash);
    CHECK(crdt::encode(back->changes[i]) == crdt::encode(chain[i]));
    CHECK(crdt::signature_valid(back->changes[i]));
  }
  CHECK(encode_batch(back->doc, back->changes) == frame);  // canonical
  auto kind = peek_binary_kind(frame);
  REQUIRE(kind);
  CHECK(*kind == binary_kind::change_batch);
}

TEST_CASE("batch: an empty batch round trips", "[protocol]") {
  auto frame = encode_batch("d", std::vector<bytes>{});
  auto back = decode_batch(frame);
  REQUIRE(back);
  CHECK(back->doc == "d");
  CHECK(back->changes.empty());
}

TEST_CASE("batch: header refusals", "[protocol]") {
  auto frame = encode_batch("d", encode_all(test::set_chain("d", kp, 1)));
  expect_error(decode_batch(""), errc::malformed);
  expect_error(decode_batch("\xF5\x01"), errc::malformed);
  auto bad_magic = frame;
  bad_magic[0] = '{';
  expect_error(decode_batch(bad_magic), errc::malformed, "magic");
  auto bad_kind = frame;
  bad_kind[1] = 9;
  expect_error(decode_batch(bad_kind), errc::unknown_type, "kind");
  auto bad_version = frame;
  bad_version[2] = 2;
  expect_error(decode_batch(bad_version), errc::unsupported_version);
  auto chunk = encode_snapshot_chunk({"d", 0, "abc"});
  expect_error(decode_batch(chunk), errc::malformed, "snapshot chunk");
  expect_error(decode_batch(raw_batch("bad/doc", {})), errc::bad_field, "doc");
  expect_error(decode_batch(raw_batch("", {})), errc::bad_field, "doc");
  expect_error(decode_batch(raw_batch(std::string(129, 'a'), {})), errc::bad_field, "doc");
}

TEST_CASE("batch: every truncation and any trailing byte are refused", "[protocol]") {
  auto frame = encode_batch("doc", encode_all(test::set_chain("doc", kp, 3)));
  for (std::size_t n = 0; n < frame.size(); ++n) {
    auto r = decode_batch(byte_view(frame).substr(0, n));
    INFO("prefix " << n);
    REQUIRE_FALSE(r);
    CHECK((r.error().code == errc::malformed || r.error().code == errc::bad_change));
  }
  expect_error(decode_batch(frame + "x"), errc::malformed, "after");
}

TEST_CASE("batch: a change of another doc refuses the whole frame", "[protocol]") {
  auto good = encode_all(test::set_chain("doc", kp, 2));
  auto other = crdt::encode(test::set_change("other", test::test_keys(3), 1, {}));
  expect_error(decode_batch(raw_batch("doc", {good[0], other, good[1]})), errc::bad_change, "change 2 of 3");
}

TEST_CASE("batch: a non-canonical change refuses the whole frame", "[protocol]") {
  auto c = crdt::encode(test::set_change("doc", kp, 1, {}));
  // seq sits after version (1), doc (1 + 3) and author (32); re-encode 1 as 0x81 0x00.
  REQUIRE(c[37] == '\x01');
  bytes padded = c.substr(0, 37) + std::string("\x81\x00", 2) + c.substr(38);
  REQUIRE_FALSE(crdt::decode(padded));
  expect_error(decode_batch(raw_batch("doc", {c, padded})), errc::bad_change, "change 2 of 2");
  expect_error(decode_batch(raw_batch("doc", {c, c.substr(0, c.size() - 1)})), errc::bad_change);
  expect_error(decode_batch(raw_batch("doc", {c + "x"})), errc::bad_change);
  expect_error(decode_batch(raw_batch("doc", {std::string()})), errc::bad_change);
}

TEST_CASE("batch: framing varints must be minimal", "[protocol]") {
  bytes frame = "\xF5\x01\x01";
  wire::put_bytes(frame, "doc");
  frame += std::string("\x80\x00", 2);  // count 0, non-minimal
  expect_error(decode_batch(frame), errc::malformed, "change count");
}

TEST_CASE("batch: count and size limits", "[protocol]") {
  auto changes = encode_all(test::set_chain("doc", kp, 4));
  auto frame = encode_batch("doc", changes);
  protocol_limits lim;
  lim.max_batch_changes = 3;
  expect_error(decode_batch(frame, lim), errc::too_large, "4 changes");
  lim.max_batch_changes = 4;
  REQUIRE(decode_batch(frame, lim));

  lim.max_frame_bytes = frame.size() - 1;
  expect_error(decode_batch(frame, lim), errc::too_large);

  // A count far beyond the bytes present is refused without allocating for it.
  bytes huge = "\xF5\x01\x01";
  wire::put_bytes(huge, "doc");
  wire::put_varint(huge, std::uint64_t(1) << 40);
  expect_error(decode_batch(huge), errc::too_large);
  bytes many = "\xF5\x01\x01";
  wire::put_bytes(many, "doc");
  wire::put_varint(many, 60000);
  expect_error(decode_batch(many), errc::malformed);

  // A change length over the change limit.
  protocol_limits small;
  small.change.max_encoded_bytes = changes[0].size() - 1;
  expect_error(decode_batch(frame, small), errc::too_large, "change 1 of 4");
}

TEST_CASE("plan_batches: bounded, ordered, complete", "[protocol]") {
  auto changes = encode_all(test::set_chain("doc", kp, 50));
  const std::size_t one = changes[0].size();
  for (std::size_t max_bytes : {one * 3 + 40, one * 10, std::size_t(1) << 20, std::size_t(1)}) {
    INFO("max_bytes " << max_bytes);
    auto plan = plan_batches("doc", changes, max_bytes, 65536);
    std::size_t next = 0;
    for (auto r : plan) {
      CHECK(r.begin == next);
      CHECK(r.end > r.begin);
      next = r.end;
      auto frame = encode_batch("doc", changes, r);
      if (r.end - r.begin > 1) CHECK(frame.size() <= max_bytes);
      auto back = decode_batch(frame);
      REQUIRE(back);
      CHECK(back->changes.size() == r.end - r.begin);
    }
    CHECK(next == changes.size());
  }
  CHECK(plan_batches("doc", changes, std::size_t(1) << 20, 65536).size() == 1);
  CHECK(plan_batches("doc", changes, 1, 65536).size() == 50);  // each alone
  auto by_count = plan_batches("doc", changes, std::size_t(1) << 20, 7);
  REQUIRE(by_count.size() == 8);
  CHECK(by_count[0] == batch_range{0, 7});
  CHECK(by_count[7] == batch_range{49, 50});
  CHECK(plan_batches("doc", {}, 100, 10).empty());
}

TEST_CASE("plan_batches: packs as many as fit", "[protocol]") {
  auto changes = encode_all(test::set_chain("doc", kp, 10));
  auto full = encode_batch("doc", changes, batch_range{0, 4});
  // With room for exactly four changes (count varint sized for max_changes=100: 1 byte).
  auto plan = plan_batches("doc", changes, full.size(), 100);
  REQUIRE(plan.size() >= 3);
  CHECK(plan[0] == batch_range{0, 4});
}

TEST_CASE("encode_batches: frames decode back to the input, in order", "[protocol]") {
  auto chain = test::set_chain("doc", kp, 300);
  auto changes = encode_all(chain);
  protocol_limits lim;
  lim.max_batch_bytes = 8 * 1024;
  auto frames = encode_batches("doc", changes, lim);
  CHECK(frames.size() > 1);
  std::size_t i = 0;
  for (auto& f : frames) {
    CHECK(f.size() <= lim.max_batch_bytes);
    auto b = decode_batch(f);
    REQUIRE(b);
    for (auto& c : b->changes) CHECK(c.hash == chain[i++].hash);
  }
  CHECK(i == chain.size());
  CHECK(encode_batches("doc", {}).empty());
}

TEST_CASE("snapshot chunk: round trip and reassembly", "[protocol]") {
  snapshot_chunk c{"doc", 12345, std::string("\x00\x01\xff body", 8)};
  auto frame = encode_snapshot_chunk(c);
  CHECK(*peek_binary_kind(frame) == binary_kind::snapshot_chunk);
  auto back = decode_snapshot_chunk(frame);
  REQUIRE(back);
  CHECK(*back == c);

  std::string body;
  for (int i = 0; i < 1000; ++i) body += static_cast<char>(i * 7);
  auto frames = encode_snapshot_chunks("doc", body, 300);
  REQUIRE(frames.size() == 4);
  std::string joined;
  for (auto& f : frames) {
    auto d = decode_snapshot_chunk(f);
    REQUIRE(d);
    CHECK(d->offset == joined.size());
    joined += d->data;
  }
  CHECK(joined == body);
  CHECK(encode_snapshot_chunks("doc", "", 300).empty());
}

TEST_CASE("snapshot chunk: refusals", "[protocol]") {
  auto frame = encode_snapshot_chunk({"doc", 0, "abc"});
  for (std::size_t n = 0; n < frame.size(); ++n) CHECK_FALSE(decode_snapshot_chunk(frame.substr(0, n)));
  auto trailing = decode_snapshot_chunk(frame + "x");
  REQUIRE_FALSE(trailing);
  CHECK(trailing.error().code == errc::malformed);

  auto past = decode_snapshot_chunk(encode_snapshot_chunk({"doc", (std::uint64_t(1) << 32) - 2, "abc"}));
  REQUIRE_FALSE(past);
  CHECK(past.error().code == errc::too_large);
  auto overflow = decode_snapshot_chunk(encode_snapshot_chunk({"doc", ~std::uint64_t(0), "abc"}));
  REQUIRE_FALSE(overflow);
  CHECK(overflow.error().code == errc::too_large);
  REQUIRE(decode_snapshot_chunk(encode_snapshot_chunk({"doc", (std::uint64_t(1) << 32) - 3, "abc"})));

  auto batch = encode_batch("doc", std::vector<bytes>{});
  auto wrong = decode_snapshot_chunk(batch);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == errc::malformed);
  auto bad_doc = decode_snapshot_chunk(encode_snapshot_chunk({"a b", 0, "x"}));
  REQUIRE_FALSE(bad_doc);
  CHECK(bad_doc.error().code == errc::bad_field);
}
