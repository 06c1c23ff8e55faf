// Shared helpers of the persistence tests: temporary directories and real
// signed hash chains.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "crdt/change.hpp"
#include "crdt/crypto.hpp"
#include "persistence/store.hpp"

namespace starling::persistence::test {

// A fresh directory under /tmp, removed with everything in it at scope exit.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "starling-persist-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline crypto::keypair author_key(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(n);
  return crypto::keypair_from_seed(seed);
}

// An author's hash chain in one doc: seq first..first+n-1, each change
// setting key "k" to an int, prev linking to the change before.
inline std::vector<crdt::change> make_chain(const std::string& doc, const crypto::keypair& kp,
                                            std::size_t n, std::uint64_t first_seq = 1,
                                            hash256 prev = {}) {
  std::vector<crdt::change> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    crdt::change c;
    c.doc = doc;
    c.author = kp.pk;
    c.seq = first_seq + i;
    c.prev = prev;
    c.time = (std::uint64_t{1700000000000} << 16) + c.seq;  // HLC: ms << 16 | counter
    crdt::op o;
    o.kind = crdt::op_kind::set;
    o.obj = crdt::op_ref::none();
    o.place = crdt::place_kind::map_key;
    o.key = "k";
    o.value = static_cast<std::int64_t>(c.seq);
    c.ops.push_back(o);
    crdt::sign(c, kp);
    prev = c.hash;
    out.push_back(std::move(c));
  }
  return out;
}

inline std::unique_ptr<store> open_ok(const std::string& dir, const store_options& o = {}) {
  auto s = store::open(dir, o);
  if (!s) throw std::runtime_error("open failed: " + s.error().message);
  return std::move(*s);
}

inline commit_result commit_ok(store& s, write_batch&& b) {
  auto r = s.commit(std::move(b));
  if (!r) throw std::runtime_error(std::string("commit failed: ") + to_string(r.error().code) +
                                   ": " + r.error().message);
  return std::move(*r);
}

template <class T>
T value_ok(expected<T, store_error>&& e) {
  if (!e) throw std::runtime_error(std::string("store call failed: ") + to_string(e.error().code) +
                                   ": " + e.error().message);
  return std::move(*e);
}

// Options for small test stores: a small sparse map is plenty.
inline store_options small_options() {
  store_options o;
  o.initial_map_size = std::size_t{16} << 20;
  o.durability = durability_mode::nosync;  // the crash test uses sync
  return o;
}

}  // namespace starling::persistence::test
