// The on-disk record layouts: round trips and rejection of malformed bytes.
#include <catch2/catch.hpp>

#include "persistence/records.hpp"
#include "support.hpp"

using namespace starling;
using namespace starling::persistence;
using namespace starling::persistence::records;

namespace {
hash256 h(char c) {
  hash256 r;
  r.v.fill(static_cast<std::uint8_t>(c));
  return r;
}
}  // namespace

TEST_CASE("doc keys are length-prefixed, so no doc's keys prefix another's", "[persistence][records]") {
  auto a = doc_key("a"), ab = doc_key("ab");
  CHECK(a.view() == std::string("\x01" "a", 2));
  CHECK(ab.view() == std::string("\x02" "ab", 3));
  CHECK(ab.view().substr(0, a.view().size()) != a.view());
  CHECK(chain_key("a", h('b'), 1).view().substr(0, ab.view().size()) != ab.view());
  CHECK(parse_doc_key(doc_key("my.doc-1").view()) == std::optional<std::string>("my.doc-1"));
  CHECK_FALSE(parse_doc_key(std::string("\x03" "ab", 3)));
  CHECK_FALSE(parse_doc_key(""));
  CHECK_FALSE(parse_doc_key(std::string("\x01/", 2)));  // not a valid doc name
}

TEST_CASE("integers in keys sort numerically", "[persistence][records]") {
  CHECK(log_key("d", 255).view() < log_key("d", 256).view());
  CHECK(log_key("d", 1).view() < log_key("d", std::uint64_t{1} << 40).view());
  auto author = h('x');
  CHECK(chain_key("d", author, 9).view() < chain_key("d", author, 10).view());
  CHECK(chain_key("d", author, 1).view().size() == 2 + 32 + 8);
  const std::string longest(max_doc_name, 'z');
  CHECK(chain_key(longest, author, 1).view().size() == key::capacity);
}

TEST_CASE("frontier encoding round trips and is canonical", "[persistence][records]") {
  frontier f{{h('a'), {1, h('1')}}, {h('b'), {300, h('2')}}};
  auto enc = encode_frontier(f);
  CHECK(decode_frontier(enc) == f);
  CHECK(decode_frontier(encode_frontier({})) == frontier{});
  CHECK_FALSE(decode_frontier(enc + "x"));                   // trailing bytes
  CHECK_FALSE(decode_frontier(enc.substr(0, enc.size() - 1)));  // truncated
  // Authors out of order, and seq 0, are not what encode produces.
  bytes swapped;
  swapped += '\x02';
  swapped += std::string(h('b').view()) + '\x01' + std::string(h('1').view());
  swapped += std::string(h('a').view()) + '\x01' + std::string(h('1').view());
  CHECK_FALSE(decode_frontier(swapped));
  bytes zero = std::string("\x01", 1) + std::string(h('a').view()) + '\0' + std::string(h('1').view());
  CHECK_FALSE(decode_frontier(zero));
  CHECK_FALSE(decode_frontier("\x7f"));  // a count larger than the input
}

TEST_CASE("value records round trip", "[persistence][records]") {
  auto ce = decode_chain_entry(encode_chain_entry({h('c'), 77}).view());
  REQUIRE(ce);
  CHECK(ce->hash == h('c'));
  CHECK(ce->log_index == 77);
  CHECK_FALSE(decode_chain_entry("short"));

  auto dr = decode_doc_record(encode_doc_record({10, 7}));
  REQUIRE(dr);
  CHECK(dr->next_log_index == 10);
  CHECK(dr->change_count == 7);
  CHECK_FALSE(decode_doc_record(encode_doc_record({3, 7})));  // more changes than ever logged

  frontier at{{h('a'), {4, h('4')}}};
  auto snap = decode_snapshot(encode_snapshot(at, bytes("\0blob", 5)));
  REQUIRE(snap);
  CHECK(snap->at == at);
  CHECK(snap->state == bytes("\0blob", 5));

  auto tok = decode_token(encode_token({true, "{\"p\":1}"}));
  REQUIRE(tok);
  CHECK(tok->consumed);
  CHECK(tok->json == "{\"p\":1}");
  CHECK_FALSE(decode_token(""));
  CHECK_FALSE(decode_token("\x02{}"));

  CHECK(encode_format_version(1) == "1");
  CHECK(decode_format_version("1") == std::optional<std::uint64_t>(1));
  CHECK(decode_format_version("12") == std::optional<std::uint64_t>(12));
  CHECK_FALSE(decode_format_version(""));
  CHECK_FALSE(decode_format_version("1a"));
}
