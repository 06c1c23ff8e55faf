#include "auth/channel.hpp"

#include <cassert>
#include <cstring>

#include "auth/secret_memory.hpp"

namespace starling::auth {

// ------------------------------------------------------------ key exchange

session_keys::~session_keys() {
  wipe(rx.data(), rx.size());
  wipe(tx.data(), tx.size());
}

const char* to_string(kx_error e) {
  switch (e) {
    case kx_error::same_key: return "peer ephemeral key equals ours";
    case kx_error::weak_key: return "peer ephemeral key is not acceptable";
  }
  return "unknown";
}

kx_keypair kx_keypair::generate() {
  kx_keypair kp;
  sodium::kx_public pk;
  sodium::kx_keypair(pk, kp.sk_);
  std::memcpy(kp.pk_.data(), pk.data(), pk.size());
  return kp;
}

kx_keypair kx_keypair::from_seed(const std::array<std::uint8_t, 32>& seed) {
  kx_keypair kp;
  sodium::kx_public pk;
  sodium::kx_seed_keypair(pk, kp.sk_, seed);
  std::memcpy(kp.pk_.data(), pk.data(), pk.size());
  return kp;
}

kx_keypair::kx_keypair(kx_keypair&& other) noexcept : pk_(other.pk_), sk_(other.sk_) {
  wipe(other.sk_.data(), other.sk_.size());
}

kx_keypair& kx_keypair::operator=(kx_keypair&& other) noexcept {
  if (this != &other) {
    pk_ = other.pk_;
    sk_ = other.sk_;
    wipe(other.sk_.data(), other.sk_.size());
  }
  return *this;
}

kx_keypair::~kx_keypair() { wipe(sk_.data(), sk_.size()); }

expected<session_keys, kx_error> derive_session_keys(const kx_keypair& mine, const x25519_key& theirs) {
  if (mine.pk_ == theirs) return make_unexpected(kx_error::same_key);
  sodium::kx_public our_pk, their_pk;
  std::memcpy(our_pk.data(), mine.pk_.data(), our_pk.size());
  std::memcpy(their_pk.data(), theirs.data(), their_pk.size());
  session_keys keys;
  bool we_are_client = mine.pk_ < theirs;
  bool ok = we_are_client
                ? sodium::kx_client_session_keys(keys.rx, keys.tx, our_pk, mine.sk_, their_pk)
                : sodium::kx_server_session_keys(keys.rx, keys.tx, our_pk, mine.sk_, their_pk);
  if (!ok) return make_unexpected(kx_error::weak_key);
  return keys;
}

// ---------------------------------------------------------- sealed channel

const char* to_string(seal_error e) {
  switch (e) {
    case seal_error::no_header: return "sealed frame before the stream header";
    case seal_error::header_twice: return "second stream header";
    case seal_error::bad_header: return "stream header is not 24 bytes";
    case seal_error::truncated: return "sealed frame too short";
    case seal_error::forged: return "sealed frame does not open (tampered, reordered, replayed or wrong key)";
    case seal_error::unexpected_tag: return "sealed frame has an unexpected stream tag";
    case seal_error::bad_kind: return "sealed frame has an unknown frame kind";
    case seal_error::broken: return "channel broken by an earlier bad frame";
  }
  return "unknown";
}

std::pair<sealed_channel, bytes> sealed_channel::start(const session_keys& keys) {
  sealed_channel ch;
  sodium::stream_header header;
  sodium::stream_init_push(ch.push_, header, keys.tx);
  ch.rx_ = keys.rx;
  ch.push_ready_ = true;
  return {std::move(ch), bytes(reinterpret_cast<const char*>(header.data()), header.size())};
}

sealed_channel::sealed_channel(sealed_channel&& other) noexcept
    : push_(other.push_),
      pull_(other.pull_),
      rx_(other.rx_),
      push_ready_(other.push_ready_),
      pull_ready_(other.pull_ready_),
      broken_(other.broken_) {
  other.wipe_all();
}

sealed_channel& sealed_channel::operator=(sealed_channel&& other) noexcept {
  if (this != &other) {
    wipe_all();
    push_ = other.push_;
    pull_ = other.pull_;
    rx_ = other.rx_;
    push_ready_ = other.push_ready_;
    pull_ready_ = other.pull_ready_;
    broken_ = other.broken_;
    other.wipe_all();
  }
  return *this;
}

sealed_channel::~sealed_channel() { wipe_all(); }

void sealed_channel::wipe_all() {
  wipe(push_.bytes.data(), push_.bytes.size());
  wipe(pull_.bytes.data(), pull_.bytes.size());
  wipe(rx_.data(), rx_.size());
  push_ready_ = pull_ready_ = false;
  broken_ = true;
}

expected<done, seal_error> sealed_channel::accept_header(byte_view header) {
  seal_error e;
  if (broken_) e = seal_error::broken;
  else if (pull_ready_) e = seal_error::header_twice;
  else if (header.size() != header_size) e = seal_error::bad_header;
  else {
    sodium::stream_header h;
    std::memcpy(h.data(), header.data(), h.size());
    if (sodium::stream_init_pull(pull_, h, rx_)) {
      wipe(rx_.data(), rx_.size());  // the pull state holds what it needs
      pull_ready_ = true;
      return done{};
    }
    e = seal_error::bad_header;
  }
  // The receive side is done for; the send side stays usable so the caller
  // can still seal the error frame that reports this.
  wipe(pull_.bytes.data(), pull_.bytes.size());
  wipe(rx_.data(), rx_.size());
  pull_ready_ = false;
  broken_ = true;
  return make_unexpected(e);
}

bytes sealed_channel::seal(byte_view plaintext, frame_kind kind) {
  // Sealing needs only the send stream: a broken receive side does not stop
  // us from sealing the error frame that reports it.
  assert(push_ready_ && "seal() on a moved-from channel");
  bytes inner;
  inner.reserve(plaintext.size() + 1);
  inner.push_back(static_cast<char>(kind));
  inner.append(plaintext.data(), plaintext.size());
  bytes out(inner.size() + sodium::stream_abytes, '\0');
  sodium::stream_push(push_, reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(inner.data()), inner.size(),
                      sodium::stream_tag::message);
  return out;
}

expected<opened, seal_error> sealed_channel::fail(seal_error e) {
  broken_ = true;
  wipe(pull_.bytes.data(), pull_.bytes.size());
  pull_ready_ = false;
  return make_unexpected(e);
}

expected<opened, seal_error> sealed_channel::open(byte_view ciphertext) {
  if (broken_) return make_unexpected(seal_error::broken);
  if (!pull_ready_) return fail(seal_error::no_header);
  if (ciphertext.size() < overhead) return fail(seal_error::truncated);
  bytes inner(ciphertext.size() - sodium::stream_abytes, '\0');
  sodium::stream_tag tag = sodium::stream_tag::other;
  if (!sodium::stream_pull(pull_, reinterpret_cast<unsigned char*>(inner.data()), tag,
                           reinterpret_cast<const unsigned char*>(ciphertext.data()), ciphertext.size()))
    return fail(seal_error::forged);
  auto kind = static_cast<frame_kind>(static_cast<std::uint8_t>(inner[0]));
  seal_error e = tag != sodium::stream_tag::message ? seal_error::unexpected_tag
               : (kind != frame_kind::text && kind != frame_kind::binary) ? seal_error::bad_kind
                                                                           : seal_error{};
  if (e != seal_error{}) {
    wipe(inner);
    return fail(e);
  }
  inner.erase(0, 1);
  return opened{kind, std::move(inner)};
}

}  // namespace starling::auth
