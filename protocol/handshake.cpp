#include "protocol/handshake.hpp"

#include <cassert>
#include <cstring>
#include <utility>

#include "crdt/crypto.hpp"

namespace starling::protocol {

namespace {

constexpr std::string_view transcript_domain = "starling.auth.v1";
constexpr std::size_t transcript_size = transcript_domain.size() + 4 + 6 * 32;
static_assert(transcript_size == 212);

nonce fresh_nonce() {
  nonce n;
  crypto::random_bytes(n.data(), n.size());
  return n;
}

errc to_errc(auth::rejection r) {
  switch (r) {
    case auth::rejection::untrusted: return errc::untrusted;
    case auth::rejection::token_invalid: return errc::token_invalid;
    case auth::rejection::revoked: return errc::revoked;
  }
  return errc::untrusted;
}

}  // namespace

const char* to_string(handshake_state s) {
  switch (s) {
    case handshake_state::awaiting_hello: return "awaiting_hello";
    case handshake_state::awaiting_auth: return "awaiting_auth";
    case handshake_state::done: return "done";
    case handshake_state::failed: return "failed";
  }
  return "unknown";
}

handshake::handshake(const auth::identity& me, handshake_config cfg, auth::trust_policy& policy)
    : me_(me),
      cfg_(std::move(cfg)),
      policy_(policy),
      our_nonce_(fresh_nonce()),
      our_kx_(auth::kx_keypair::generate()) {}

hash256 handshake::transcript_hash(std::uint32_t version, const public_key& signer_id, const nonce& signer_nonce,
                                   const x25519_key& signer_ephemeral, const public_key& other_id,
                                   const nonce& other_nonce, const x25519_key& other_ephemeral) {
  std::string t;
  t.reserve(transcript_size);
  t.append(transcript_domain);
  for (int shift = 24; shift >= 0; shift -= 8) t.push_back(static_cast<char>((version >> shift) & 0xff));
  for (auto* part : {&signer_id, &signer_nonce, &signer_ephemeral, &other_id, &other_nonce, &other_ephemeral})
    t.append(part->view());
  assert(t.size() == transcript_size);
  return crypto::blake2b_256(t);
}

const handshake_result& handshake::result() const {
  assert(state_ == handshake_state::done && result_);
  return *result_;
}

step handshake::current(std::vector<std::string> frames) const {
  step s;
  s.frames = std::move(frames);
  s.state = state_;
  return s;
}

step handshake::fail(errc code, std::string reason) {
  state_ = handshake_state::failed;
  result_.reset();  // drops the session keys (wiped by their destructor)
  failure_ = handshake_failure{code, std::move(reason), false};
  step s = current({encode(error_frame{code, failure_->reason, std::nullopt})});
  s.failure = failure_;
  s.close_code = close_code(code);
  return s;
}

step handshake::start() {
  if (started_) return current();
  started_ = true;
  hello_frame h;
  h.versions = cfg_.versions;
  h.node_id = me_.key();
  h.challenge = our_nonce_;
  h.ephemeral_key = our_kx_.key();
  h.token = cfg_.join_token;
  return current({encode(h)});
}

step handshake::on_frame(std::string_view text) {
  if (state_ == handshake_state::done || state_ == handshake_state::failed) return current();
  std::vector<std::string> out;
  if (!started_) out = start().frames;
  auto frame = decode_control(text, cfg_.limits);
  step s;
  if (!frame) {
    s = fail(frame.error().code, "handshake: " + frame.error().message);
  } else if (auto* h = std::get_if<hello_frame>(&*frame)) {
    s = state_ == handshake_state::awaiting_hello ? on_hello(*h)
                                                  : fail(errc::auth_failed, "handshake: second hello");
  } else if (auto* a = std::get_if<auth_frame>(&*frame)) {
    s = state_ == handshake_state::awaiting_auth ? on_auth(*a)
                                                 : fail(errc::auth_failed, "handshake: auth before hello");
  } else if (auto* e = std::get_if<error_frame>(&*frame)) {
    // The peer gave up on us: record its code, send nothing back (answering
    // an error with an error could loop), and let the caller close.
    state_ = handshake_state::failed;
    result_.reset();
    failure_ = handshake_failure{e->code, "peer: " + e->reason, true};
    s = current();
    s.failure = failure_;
    s.close_code = close_code(e->code);
  } else {
    s = fail(errc::auth_failed,
             std::string("handshake: '") + type_name(*frame) + "' frame before authentication");
  }
  out.insert(out.end(), std::make_move_iterator(s.frames.begin()), std::make_move_iterator(s.frames.end()));
  s.frames = std::move(out);
  return s;
}

step handshake::on_binary() {
  if (state_ == handshake_state::done || state_ == handshake_state::failed) return current();
  return fail(errc::auth_failed, "handshake: binary frame before authentication");
}

step handshake::on_timeout() {
  if (state_ == handshake_state::done || state_ == handshake_state::failed) return current();
  return fail(errc::timeout, "handshake: not authenticated within " + std::to_string(cfg_.timeout.count()) + " ms");
}

step handshake::on_hello(const hello_frame& h) {
  auto version = choose_version(cfg_.versions, h.versions);
  if (!version) return fail(errc::unsupported_version, version.error().message);
  if (h.node_id == me_.key()) return fail(errc::auth_failed, "handshake: peer claims our own node id");
  auto keys = auth::derive_session_keys(our_kx_, h.ephemeral_key);
  if (!keys) return fail(errc::auth_failed, std::string("handshake: ") + auth::to_string(keys.error()));

  auto d = policy_.check_peer(h.node_id, h.token);
  if (!d.accepted) return fail(to_errc(d.why), d.reason);

  version_ = *version;
  peer_id_ = h.node_id;
  peer_nonce_ = h.challenge;
  peer_ephemeral_ = h.ephemeral_key;
  result_ = handshake_result{peer_id_, d.perm, std::move(d.doc_patterns), version_, std::move(*keys), d.token_used};

  auto t = transcript_hash(version_, me_.key(), our_nonce_, our_kx_.key(), peer_id_, peer_nonce_, peer_ephemeral_);
  state_ = handshake_state::awaiting_auth;
  return current({encode(auth_frame{me_.sign(t.view())})});
}

step handshake::on_auth(const auth_frame& a) {
  auto t = transcript_hash(version_, peer_id_, peer_nonce_, peer_ephemeral_, me_.key(), our_nonce_, our_kx_.key());
  if (!auth::identity::verify(peer_id_, t.view(), a.sig))
    return fail(errc::auth_failed, "handshake: peer's auth signature does not verify");
  state_ = handshake_state::done;
  return current();
}

}  // namespace starling::protocol
