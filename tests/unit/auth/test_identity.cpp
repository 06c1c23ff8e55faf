#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "auth/identity.hpp"

using namespace starling;
using namespace starling::auth;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test, removed afterwards.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "starling-auth-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const char* name) const { return (path / name).string(); }
};

identity seeded(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed;
  seed.fill(n);
  return identity::from_seed(seed);
}

void write_file(const std::string& path, const std::string& text, mode_t mode = 0600) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

mode_t file_mode(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string key_file(const identity& id, const std::string& seed_hex) {
  return "format: starling-identity-1\npublic-key: " + id.node_id() + "\nsecret-seed: " + seed_hex + "\n";
}

const std::string seed01_hex = std::string(64, '0').replace(62, 2, "01");

}  // namespace

TEST_CASE("identity: generated ids are 64 lowercase hex characters", "[auth]") {
  auto id = identity::generate();
  auto nid = id.node_id();
  REQUIRE(nid.size() == 64);
  for (char c : nid) CHECK(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
  CHECK(id.short_id() == nid.substr(0, 8));
  CHECK(id.short_id() == short_id(id.key()));
  CHECK(identity::generate().key() != id.key());
}

TEST_CASE("identity: from_seed is deterministic", "[auth]") {
  CHECK(seeded(7).key() == seeded(7).key());
  CHECK(seeded(7).key() != seeded(8).key());
  CHECK(seeded(7).keys().pk == seeded(7).key());
}

TEST_CASE("identity: sign and verify", "[auth]") {
  auto id = seeded(1);
  auto sig = id.sign("transcript");
  CHECK(identity::verify(id.key(), "transcript", sig));
  CHECK_FALSE(identity::verify(id.key(), "transcripT", sig));
  CHECK_FALSE(identity::verify(seeded(2).key(), "transcript", sig));
  auto bad = sig;
  bad.v[10] ^= 1;
  CHECK_FALSE(identity::verify(id.key(), "transcript", bad));
  CHECK(sig == id.sign("transcript"));  // Ed25519 is deterministic
}

TEST_CASE("identity: save then load gives the same key, mode 0600", "[auth]") {
  temp_dir dir;
  auto path = dir.file("node.key");
  auto id = identity::generate();
  auto saved = id.save(path);
  REQUIRE(saved);
  CHECK(file_mode(path) == 0600);
  auto loaded = identity::load(path);
  REQUIRE(loaded);
  CHECK(loaded->key() == id.key());
  CHECK(loaded->sign("m") == id.sign("m"));
  auto text = read_file(path);
  CHECK(text.find("format: starling-identity-1\n") != std::string::npos);
  CHECK(text.find("public-key: " + id.node_id() + "\n") != std::string::npos);
  // Only the key file is left: the temporary was moved or removed.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("identity: save is 0600 even under a permissive umask", "[auth]") {
  temp_dir dir;
  auto old = ::umask(0);
  auto saved = seeded(3).save(dir.file("k"));
  ::umask(old);
  REQUIRE(saved);
  CHECK(file_mode(dir.file("k")) == 0600);
}

TEST_CASE("identity: save refuses to overwrite unless asked to replace", "[auth]") {
  temp_dir dir;
  auto path = dir.file("node.key");
  REQUIRE(seeded(1).save(path));
  auto before = read_file(path);

  auto again = seeded(2).save(path);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == auth_errc::exists);
  CHECK_THAT(again.error().message, Catch::Contains(path));
  CHECK(read_file(path) == before);

  REQUIRE(seeded(2).save(path, identity::on_existing::replace));
  auto loaded = identity::load(path);
  REQUIRE(loaded);
  CHECK(loaded->key() == seeded(2).key());
  CHECK(file_mode(path) == 0600);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("identity: save reports an unwritable location", "[auth]") {
  temp_dir dir;
  auto r = seeded(1).save(dir.file("missing-dir/node.key"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == auth_errc::io);
  CHECK_THAT(r.error().message, Catch::Contains("missing-dir"));
}

TEST_CASE("identity: load refuses key files that group or others can access", "[auth]") {
  temp_dir dir;
  auto path = dir.file("node.key");
  REQUIRE(seeded(1).save(path));

  struct {
    mode_t mode;
    const char* shown;
  } cases[] = {{0644, "0644"}, {0640, "0640"}, {0604, "0604"}, {0660, "0660"}, {0666, "0666"},
               {0620, "0620"}, {0601, "0601"}};
  for (auto& c : cases) {
    INFO("mode " << c.shown);
    REQUIRE(::chmod(path.c_str(), c.mode) == 0);
    auto r = identity::load(path);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == auth_errc::insecure_permissions);
    CHECK_THAT(r.error().message, Catch::Contains(c.shown));
    CHECK_THAT(r.error().message, Catch::Contains(path));
    CHECK_THAT(r.error().message, Catch::Contains("chmod 600"));
  }
  for (mode_t ok : {0600, 0400, 0700}) {
    REQUIRE(::chmod(path.c_str(), ok) == 0);
    CHECK(identity::load(path));
  }
}

TEST_CASE("identity: load accepts comments, blank lines, CRLF and spacing", "[auth]") {
  temp_dir dir;
  auto path = dir.file("k");
  auto id = identity::from_seed([] {
    std::array<std::uint8_t, 32> s{};
    s[31] = 1;
    return s;
  }());
  write_file(path, "# a comment\r\n\r\nsecret-seed:   " + seed01_hex + "  \r\nformat: starling-identity-1\r\n" +
                       "public-key:" + id.node_id() + "\r\n");
  auto r = identity::load(path);
  REQUIRE(r);
  CHECK(r->key() == id.key());
}

TEST_CASE("identity: load refuses malformed key files without echoing the secret", "[auth]") {
  temp_dir dir;
  auto path = dir.file("k");
  auto id = identity::from_seed([] {
    std::array<std::uint8_t, 32> s{};
    s[31] = 1;
    return s;
  }());
  const std::string good = key_file(id, seed01_hex);
  const std::string other_seed = std::string(64, 'a');

  struct {
    const char* what;
    std::string text;
    const char* says;
  } cases[] = {
      {"empty file", "", "format"},
      {"not name: value", "format starling-identity-1\n", "line 1"},
      {"unknown field", good + "color: blue\n", "unknown field"},
      {"duplicate field", good + "format: starling-identity-1\n", "twice"},
      {"unknown format", "format: starling-identity-9\npublic-key: " + id.node_id() + "\nsecret-seed: " + seed01_hex,
       "unknown format"},
      {"no public key", "format: starling-identity-1\nsecret-seed: " + seed01_hex + "\n", "public-key"},
      {"no seed", "format: starling-identity-1\npublic-key: " + id.node_id() + "\n", "secret-seed"},
      {"short seed", key_file(id, seed01_hex.substr(2)), "secret-seed"},
      {"non-hex seed", key_file(id, "zz" + seed01_hex.substr(2)), "secret-seed"},
      {"bad public key", "format: starling-identity-1\npublic-key: xyz\nsecret-seed: " + seed01_hex + "\n",
       "public-key"},
      {"mismatched public key", key_file(id, other_seed), "does not match"},
      {"oversized file", good + std::string(5000, '#'), "larger than"},
  };
  for (auto& c : cases) {
    INFO(c.what);
    write_file(path, c.text);
    auto r = identity::load(path);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == auth_errc::malformed);
    CHECK_THAT(r.error().message, Catch::Contains(c.says));
    CHECK_THAT(r.error().message, Catch::Contains(path));
    CHECK(r.error().message.find(seed01_hex) == std::string::npos);
    CHECK(r.error().message.find(other_seed) == std::string::npos);
  }
}

TEST_CASE("identity: load reports missing files and non-regular files", "[auth]") {
  temp_dir dir;
  auto missing = identity::load(dir.file("nope"));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == auth_errc::io);
  CHECK_THAT(missing.error().message, Catch::Contains("nope"));

  REQUIRE(::chmod(dir.path.c_str(), 0700) == 0);
  auto not_file = identity::load(dir.path.string());
  REQUIRE_FALSE(not_file);
  CHECK(not_file.error().code == auth_errc::malformed);
  CHECK_THAT(not_file.error().message, Catch::Contains("regular file"));
}

TEST_CASE("parse_node_id: accepts 64 hex characters, refuses the rest", "[auth]") {
  auto id = seeded(9);
  auto r = parse_node_id(id.node_id());
  REQUIRE(r);
  CHECK(*r == id.key());

  std::string upper = id.node_id();
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto u = parse_node_id(upper);
  REQUIRE(u);
  CHECK(*u == id.key());

  auto shortr = parse_node_id(id.node_id().substr(0, 63));
  REQUIRE_FALSE(shortr);
  CHECK(shortr.error().code == auth_errc::bad_node_id);
  CHECK_THAT(shortr.error().message, Catch::Contains("63"));

  CHECK_FALSE(parse_node_id(""));
  CHECK_FALSE(parse_node_id(id.node_id() + "0"));
  CHECK_FALSE(parse_node_id(id.short_id()));

  std::string bad = id.node_id();
  bad[10] = 'g';
  auto b = parse_node_id(bad);
  REQUIRE_FALSE(b);
  CHECK(b.error().code == auth_errc::bad_node_id);
  CHECK_THAT(b.error().message, Catch::Contains("position 11"));
  bad[10] = ' ';
  CHECK_FALSE(parse_node_id(bad));
}

TEST_CASE("auth_errc names", "[auth]") {
  CHECK(std::string(to_string(auth_errc::insecure_permissions)) == "insecure_permissions");
  CHECK(std::string(to_string(auth_errc::exists)) == "exists");
}
