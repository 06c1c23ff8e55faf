#include <catch2/catch.hpp>

#include "auth/channel.hpp"

using namespace starling;
using namespace starling::auth;

namespace {

std::array<std::uint8_t, 32> seed(std::uint8_t b) {
  std::array<std::uint8_t, 32> s{};
  s.fill(b);
  return s;
}

// Two channels that talk to each other, headers exchanged.
struct channel_pair {
  sealed_channel a;
  sealed_channel b;
};

channel_pair connected() {
  auto ka = kx_keypair::generate(), kb = kx_keypair::generate();
  auto sa = derive_session_keys(ka, kb.key());
  auto sb = derive_session_keys(kb, ka.key());
  REQUIRE(sa);
  REQUIRE(sb);
  auto [a, header_a] = sealed_channel::start(*sa);
  auto [b, header_b] = sealed_channel::start(*sb);
  REQUIRE(header_a.size() == sealed_channel::header_size);
  REQUIRE(a.accept_header(header_b));
  REQUIRE(b.accept_header(header_a));
  return {std::move(a), std::move(b)};
}

}  // namespace

TEST_CASE("channel: both sides derive mirrored session keys", "[auth][channel]") {
  auto ka = kx_keypair::from_seed(seed(1)), kb = kx_keypair::from_seed(seed(2));
  auto sa = derive_session_keys(ka, kb.key());
  auto sb = derive_session_keys(kb, ka.key());
  REQUIRE(sa);
  REQUIRE(sb);
  CHECK(sa->tx == sb->rx);
  CHECK(sa->rx == sb->tx);
  CHECK(sa->rx != sa->tx);  // one key per direction
  // Deterministic: the same pairs give the same keys.
  auto again = derive_session_keys(ka, kb.key());
  REQUIRE(again);
  CHECK(again->tx == sa->tx);
}

TEST_CASE("channel: fresh key pairs give fresh session keys", "[auth][channel]") {
  auto ka = kx_keypair::generate(), kb = kx_keypair::generate(), kc = kx_keypair::generate();
  CHECK(ka.key() != kb.key());
  auto ab = derive_session_keys(ka, kb.key());
  auto ac = derive_session_keys(ka, kc.key());
  REQUIRE(ab);
  REQUIRE(ac);
  CHECK(ab->tx != ac->tx);
}

TEST_CASE("channel: equal or weak peer keys are refused", "[auth][channel]") {
  auto ka = kx_keypair::generate();
  auto same = derive_session_keys(ka, ka.key());
  REQUIRE_FALSE(same);
  CHECK(same.error() == kx_error::same_key);
  x25519_key zero;  // the all-zero point has small order
  auto weak = derive_session_keys(ka, zero);
  REQUIRE_FALSE(weak);
  CHECK(weak.error() == kx_error::weak_key);
}

TEST_CASE("channel: key pair moves keep the public key", "[auth][channel]") {
  auto ka = kx_keypair::from_seed(seed(7));
  auto pk = ka.key();
  kx_keypair moved = std::move(ka);
  CHECK(moved.key() == pk);
}

TEST_CASE("channel: round trip in both directions", "[auth][channel]") {
  auto [a, b] = connected();
  for (int i = 0; i < 5; ++i) {
    std::string msg = "message " + std::to_string(i);
    auto sealed = a.seal(msg, frame_kind::text);
    CHECK(sealed.size() == msg.size() + sealed_channel::overhead);
    CHECK(sealed.find(msg) == std::string::npos);
    auto got = b.open(sealed);
    REQUIRE(got);
    CHECK(got->kind == frame_kind::text);
    CHECK(got->plaintext == msg);

    std::string bin = std::string("\x00\x01\xff", 3) + std::to_string(i);
    auto back = b.open(a.seal(bin, frame_kind::binary));
    REQUIRE(back);
    CHECK(back->kind == frame_kind::binary);
    CHECK(back->plaintext == bin);

    auto reply = a.open(b.seal("reply", frame_kind::binary));
    REQUIRE(reply);
    CHECK(reply->plaintext == "reply");
  }
  CHECK_FALSE(a.broken());
  CHECK_FALSE(b.broken());
}

TEST_CASE("channel: empty and 4 MiB plaintexts", "[auth][channel]") {
  auto [a, b] = connected();
  auto sealed_empty = a.seal("", frame_kind::text);
  CHECK(sealed_empty.size() == sealed_channel::overhead);
  auto empty = b.open(sealed_empty);
  REQUIRE(empty);
  CHECK(empty->kind == frame_kind::text);
  CHECK(empty->plaintext.empty());

  std::string big(4u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 12));
  auto sealed = a.seal(big, frame_kind::binary);
  CHECK(sealed.size() == big.size() + sealed_channel::overhead);
  auto got = b.open(sealed);
  REQUIRE(got);
  CHECK(got->plaintext == big);
}

TEST_CASE("channel: any flipped bit is detected and breaks the channel", "[auth][channel]") {
  auto msg = std::string("tamper with me");
  auto probe = connected();
  auto size = probe.a.seal(msg, frame_kind::text).size();
  for (std::size_t byte = 0; byte < size; ++byte) {
    auto [a, b] = connected();
    auto sealed = a.seal(msg, frame_kind::text);
    sealed[byte] = static_cast<char>(sealed[byte] ^ (1 << (byte % 8)));
    auto got = b.open(sealed);
    REQUIRE_FALSE(got);
    CHECK(got.error() == seal_error::forged);
    CHECK(b.broken());
    // A broken channel opens nothing more, not even a good frame.
    auto next = b.open(a.seal("next", frame_kind::text));
    REQUIRE_FALSE(next);
    CHECK(next.error() == seal_error::broken);
  }
}

TEST_CASE("channel: replayed frames fail", "[auth][channel]") {
  auto [a, b] = connected();
  auto first = a.seal("one", frame_kind::text);
  REQUIRE(b.open(first));
  auto replay = b.open(first);
  REQUIRE_FALSE(replay);
  CHECK(replay.error() == seal_error::forged);
}

TEST_CASE("channel: reordered frames fail", "[auth][channel]") {
  auto [a, b] = connected();
  auto one = a.seal("one", frame_kind::text);
  auto two = a.seal("two", frame_kind::text);
  auto got = b.open(two);
  REQUIRE_FALSE(got);
  CHECK(got.error() == seal_error::forged);
}

TEST_CASE("channel: a frame reflected back to its sender fails", "[auth][channel]") {
  auto [a, b] = connected();
  auto got = a.open(a.seal("echo", frame_kind::text));
  REQUIRE_FALSE(got);
  CHECK(got.error() == seal_error::forged);
}

TEST_CASE("channel: truncated frames fail", "[auth][channel]") {
  for (std::size_t keep : {std::size_t(0), std::size_t(1), sealed_channel::overhead - 1, sealed_channel::overhead,
                           sealed_channel::overhead + 3}) {
    INFO(keep);
    auto [a, b] = connected();
    auto sealed = a.seal("some plaintext", frame_kind::text);
    auto got = b.open(byte_view(sealed).substr(0, keep));
    REQUIRE_FALSE(got);
    CHECK((got.error() == seal_error::truncated || got.error() == seal_error::forged));
  }
}

TEST_CASE("channel: headers are checked", "[auth][channel]") {
  auto ka = kx_keypair::generate(), kb = kx_keypair::generate();
  auto sa = derive_session_keys(ka, kb.key());
  auto sb = derive_session_keys(kb, ka.key());
  REQUIRE(sa);
  REQUIRE(sb);

  SECTION("a frame before the header") {
    auto [a, header_a] = sealed_channel::start(*sa);
    auto [b, header_b] = sealed_channel::start(*sb);
    auto got = b.open(a.seal("early", frame_kind::text));
    REQUIRE_FALSE(got);
    CHECK(got.error() == seal_error::no_header);
  }
  SECTION("a header of the wrong size") {
    auto [b, header_b] = sealed_channel::start(*sb);
    auto r = b.accept_header("short");
    REQUIRE_FALSE(r);
    CHECK(r.error() == seal_error::bad_header);
    CHECK(b.broken());
  }
  SECTION("a wrong header") {
    auto [a, header_a] = sealed_channel::start(*sa);
    auto [b, header_b] = sealed_channel::start(*sb);
    auto wrong = header_a;
    wrong[5] = static_cast<char>(wrong[5] ^ 0x10);
    REQUIRE(b.accept_header(wrong));  // a header cannot be checked until a frame arrives
    auto got = b.open(a.seal("hello", frame_kind::text));
    REQUIRE_FALSE(got);
    CHECK(got.error() == seal_error::forged);
  }
  SECTION("the header of another stream with the same keys") {
    auto [a, header_a] = sealed_channel::start(*sa);
    auto [a2, header_a2] = sealed_channel::start(*sa);
    auto [b, header_b] = sealed_channel::start(*sb);
    CHECK(header_a != header_a2);
    REQUIRE(b.accept_header(header_a2));
    auto got = b.open(a.seal("hello", frame_kind::text));
    REQUIRE_FALSE(got);
    CHECK(got.error() == seal_error::forged);
  }
  SECTION("a second header") {
    auto [a, header_a] = sealed_channel::start(*sa);
    auto [b, header_b] = sealed_channel::start(*sb);
    REQUIRE(b.accept_header(header_a));
    CHECK(b.has_header());
    auto r = b.accept_header(header_a);
    REQUIRE_FALSE(r);
    CHECK(r.error() == seal_error::header_twice);
  }
  SECTION("a wrong key") {
    auto kc = kx_keypair::generate();
    auto sc = derive_session_keys(kc, ka.key());
    REQUIRE(sc);
    auto [a, header_a] = sealed_channel::start(*sa);
    auto [c, header_c] = sealed_channel::start(*sc);
    REQUIRE(c.accept_header(header_a));
    auto got = c.open(a.seal("for b only", frame_kind::text));
    REQUIRE_FALSE(got);
    CHECK(got.error() == seal_error::forged);
  }
}

TEST_CASE("channel: a broken receive side can still seal", "[auth][channel]") {
  auto [a, b] = connected();
  REQUIRE_FALSE(b.open("garbage that is long enough to be a frame"));
  CHECK(b.broken());
  auto got = a.open(b.seal("error report", frame_kind::text));
  REQUIRE(got);
  CHECK(got->plaintext == "error report");
}

TEST_CASE("channel: a moved-from channel opens nothing", "[auth][channel]") {
  auto [a, b] = connected();
  sealed_channel b2 = std::move(b);
  auto sealed = a.seal("x", frame_kind::text);
  auto from_old = b.open(sealed);  // NOLINT(bugprone-use-after-move): on purpose
  REQUIRE_FALSE(from_old);
  CHECK(from_old.error() == seal_error::broken);
  auto got = b2.open(sealed);
  REQUIRE(got);
  CHECK(got->plaintext == "x");
}
