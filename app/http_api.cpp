#include "app/http_api.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <atomic>
#include <chrono>
#include <set>

#include "actors/errors.hpp"
#include "actors/node_actor.hpp"
#include "actors/owner_cache.hpp"
#include "app/http_errors.hpp"
#include "app/snapshot.hpp"
#include "app/web_assets.hpp"
#include "auth/token.hpp"
#include "crdt/json_parse.hpp"
#include "net/http.hpp"
#include "net/listener.hpp"
#include "net/runtime.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::net::http_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::net::http_reply)

namespace starling::app {

using nlohmann::json;
using namespace actors;
using http_atom = caf::atom_constant<caf::atom("http")>;
using api_actor = caf::typed_actor<caf::reacts_to<http_atom, net::http_request, net::http_reply>>;

namespace {

net::http_response json_reply(unsigned status, const json& body) {
  net::http_response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

net::http_response error_reply(unsigned status, const char* code, const std::string& message) {
  return json_reply(status, json{{"error", {{"code", code}, {"message", message}}}});
}

// The status and error code for a failed request to the node.
net::http_response from_caf_error(const caf::error& e) {
  auto f = http_failure_of(e);
  return error_reply(f.status, f.code.c_str(), f.message);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of a query value; nullopt on a bad escape.
std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// The value of a query parameter, decoded; nullopt if absent.
std::optional<std::string> query_param(const std::string& target, std::string_view name, bool* bad) {
  auto q = target.find('?');
  if (q == std::string::npos) return std::nullopt;
  std::string_view rest(target);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    auto eq = part.find('=');
    if (part.substr(0, eq) == name) {
      auto v = url_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
      if (!v) *bad = true;
      return v;
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

struct shared_ctx {
  node_info node;
  std::shared_ptr<persistence::store> store;  // reads (event replay)
  service_config cfg;
  std::set<std::string> token_hashes;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> event_streams{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint64_t> json_refused{0};  // bodies parse_json refused
};

struct api_state {
  static inline const char* name = "http_api";
  std::shared_ptr<shared_ctx> ctx;
};

using self_ptr = api_actor::stateful_pointer<api_state>;

// The node's one status answer (actors/status.hpp) with the API's own
// figures, then done. Without with_docs the node lists no documents (asking
// every owner costs in proportion to the documents). A node that does not
// answer gives a snapshot without documents, peers or dialers.
void gather(self_ptr self, std::function<void(node_snapshot)> done, bool with_docs = true) {
  auto ctx = self->state.ctx;
  auto base = [ctx] {
    node_snapshot snap;
    snap.node_id = ctx->node.node_id;
    snap.uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx->started).count();
    snap.event_streams = ctx->event_streams.load();
    snap.http_json_refused = ctx->json_refused.load();
    return snap;
  };
  self->request(ctx->node.handle, ctx->cfg.http_request_timeout, status_atom::value, with_docs)
      .then(
          [=](node_status& st) {
            auto snap = base();
            snap.docs = std::move(st.documents);
            snap.peers = std::move(st.peers);
            snap.dialers = std::move(st.dialers);
            done(std::move(snap));
          },
          [=](const caf::error&) { done(base()); });
}

// A string field of a request body: absent -> fallback; present but not a
// string -> nullopt (the caller answers 400 naming the field).
std::optional<std::string> string_field(const json& body, const char* key, std::string fallback) {
  auto it = body.find(key);
  if (it == body.end()) return fallback;
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

bool authorized(const shared_ctx& ctx, const net::http_request& req) {
  // On loopback the API is open to local processes, like the node's data
  // directory; bound elsewhere it needs a token (validate() insists on one).
  if (is_loopback(ctx.cfg.http.host)) return true;
  const std::string* h = req.header("Authorization");
  if (!h || h->rfind("Bearer ", 0) != 0) return false;
  return ctx.token_hashes.count(to_hex(auth::hash_token(std::string_view(*h).substr(7)))) != 0;
}

// A request body through the project's guarded JSON parser (nesting,
// integer range, repeated keys); a refusal is answered 400 with the
// parser's code in error.detail, counted, and gives nullopt.
std::optional<json> parse_body(self_ptr self, const net::http_request& req, const net::http_reply& reply) {
  auto& ctx = *self->state.ctx;
  auto j = parse_json(req.body, json_limits{ctx.cfg.http_json_depth, ctx.cfg.node.net.http_body_limit});
  if (j) return std::move(*j);
  ++ctx.json_refused;
  reply(json_reply(400, json{{"error",
                              {{"code", "bad_request"},
                               {"message", "the body is not accepted as JSON: " + j.error().message},
                               {"detail", to_string(j.error().code)}}}}));
  return std::nullopt;
}

// GET /v1/docs[?after=NAME][&limit=N]: one page of documents in name order,
// read from the store (one entry per document listed), then the status of
// each listed document from its owner. "next" is set when more may follow.
void handle_docs_list(self_ptr self, const net::http_request& req, net::http_reply reply) {
  auto& ctx = *self->state.ctx;
  bool bad = false;
  auto after = query_param(req.target, "after", &bad).value_or("");
  auto limit_text = query_param(req.target, "limit", &bad);
  if (bad) return reply(error_reply(400, "bad_request", "a query parameter has a bad %-escape"));
  if (!after.empty() && !valid_doc_name(after))
    return reply(error_reply(400, "bad_request", "'after' must be a document name"));
  std::size_t limit = ctx.cfg.docs_page_default;
  if (limit_text) {
    const auto& t = *limit_text;
    if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos || std::stoul(t) == 0 ||
        std::stoul(t) > ctx.cfg.docs_page_max)
      return reply(error_reply(400, "bad_request",
                               "'limit' must be a number from 1 to " + std::to_string(ctx.cfg.docs_page_max)));
    limit = std::stoul(t);
  }
  auto names = ctx.store->list_docs(after, limit);
  if (!names) return reply(error_reply(503, "storage", names.error().message));
  struct pending {
    std::vector<doc_status> docs;
    std::size_t outstanding = 0;
    std::optional<std::string> next;
  };
  auto p = std::make_shared<pending>();
  p->outstanding = names->size();
  if (names->size() == limit) p->next = names->back();
  auto finish = [p, reply] {
    if (--p->outstanding != 0) return;
    std::sort(p->docs.begin(), p->docs.end(), [](auto& a, auto& b) { return a.name < b.name; });
    json docs = json::array();
    for (auto& d : p->docs) docs.push_back(to_json(d));
    json out{{"docs", docs}};
    if (p->next) out["next"] = *p->next;
    reply(json_reply(200, out));
  };
  if (names->empty()) {
    ++p->outstanding;
    return finish();
  }
  auto node = ctx.node.handle;
  for (auto& name : *names)
    self->request(node, self->state.ctx->cfg.http_request_timeout, doc_atom::value, name)
        .then(
            [=](const doc_owner_actor& owner) {
              self->request(owner, self->state.ctx->cfg.http_request_timeout, status_atom::value)
                  .then(
                      [=](const doc_status& st) {
                        p->docs.push_back(st);
                        finish();
                      },
                      [=](const caf::error&) { finish(); });
            },
            [=](const caf::error&) { finish(); });
}

// Asks the owner of an existing document; 404 if the node has no such doc
// (a read must not create one). Existence is one key lookup in the store,
// whatever the number of documents.
void with_existing_doc(self_ptr self, const std::string& doc, net::http_reply reply,
                       std::function<void(const doc_owner_actor&)> f) {
  auto& ctx = *self->state.ctx;
  auto known = ctx.store->has_doc(doc);
  if (!known) return reply(error_reply(503, "storage", known.error().message));
  if (!*known) return reply(error_reply(404, "not_found", "no document '" + doc + "'"));
  self->request(ctx.node.handle, self->state.ctx->cfg.http_request_timeout, doc_atom::value, doc)
      .then([=](const doc_owner_actor& owner) { f(owner); }, [=](const caf::error& e) { reply(from_caf_error(e)); });
}

void handle_doc_read(self_ptr self, const std::string& doc, const net::http_request& req, net::http_reply reply) {
  bool bad = false;
  auto pointer = query_param(req.target, "pointer", &bad).value_or("");
  if (bad) return reply(error_reply(400, "bad_request", "query parameter 'pointer' has a bad %-escape"));
  if (!pointer.empty() && pointer[0] != '/')
    return reply(error_reply(400, "bad_request", "'pointer' must be a JSON Pointer starting with '/'"));
  with_existing_doc(self, doc, reply, [=](const doc_owner_actor& owner) {
    self->request(owner, self->state.ctx->cfg.http_request_timeout, read_atom::value, pointer)
        .then(
            [=](const read_reply& r) {
              if (!r.found) return reply(error_reply(404, "not_found", "nothing at '" + pointer + "' in '" + doc + "'"));
              self->request(owner, self->state.ctx->cfg.http_request_timeout, status_atom::value)
                  .then(
                      [=](const doc_status& st) {
                        reply(json_reply(200, json{{"doc", doc},
                                                   {"pointer", pointer},
                                                   {"value", json::parse(r.json)},
                                                   {"frontier", to_json(st.at)},
                                                   {"digest", st.digest}}));
                      },
                      [=](const caf::error& e) { reply(from_caf_error(e)); });
            },
            [=](const caf::error& e) { reply(from_caf_error(e)); });
  });
}

void handle_write(self_ptr self, const std::string& doc, const net::http_request& req, net::http_reply reply) {
  auto parsed = parse_body(self, req, reply);
  if (!parsed) return;
  json& body = *parsed;
  const json* list = &body;
  if (body.is_object()) {
    if (!body.contains("mutations") || body.size() != 1)
      return reply(error_reply(400, "bad_request", "expected {\"mutations\": [...]}"));
    list = &body["mutations"];
  }
  if (!list->is_array() || list->empty())
    return reply(error_reply(400, "bad_request", "'mutations' must be a non-empty array"));
  write_request w;
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto m = crdt::parse_mutation((*list)[i]);
    if (!m) return reply(error_reply(400, "bad_request", "mutations[" + std::to_string(i) + "]: " + m.error()));
    w.mutations.push_back(std::move(*m));
  }
  auto node = self->state.ctx->node.handle;
  self->request(node, self->state.ctx->cfg.http_request_timeout, doc_atom::value, doc)
      .then(
          [=](const doc_owner_actor& owner) {
            self->request(owner, self->state.ctx->cfg.http_request_timeout, write_atom::value, w)
                .then(
                    [=](const write_ack& a) {
                      reply(json_reply(200, json{{"doc", doc}, {"hash", to_hex(a.hash)}, {"frontier", to_json(a.at)}}));
                    },
                    [=](const caf::error& e) { reply(from_caf_error(e)); });
          },
          [=](const caf::error& e) { reply(from_caf_error(e)); });
}

void handle_trust(self_ptr self, const net::http_request& req, const std::vector<std::string>& parts,
                  net::http_reply reply) {
  auto node = self->state.ctx->node.handle;
  if (req.method == "GET" && parts.size() == 2) {
    self->request(node, self->state.ctx->cfg.http_request_timeout, trusted_atom::value)
        .then(
            [=](const std::vector<auth::trust_entry>& es) {
              json out = json::array();
              for (auto& e : es) out.push_back(auth::to_json(e));
              reply(json_reply(200, json{{"trusted", out}}));
            },
            [=](const caf::error& e) { reply(from_caf_error(e)); });
    return;
  }
  if (req.method == "POST" && parts.size() == 2) {
    auto parsed = parse_body(self, req, reply);
    if (!parsed) return;
    json& body = *parsed;
    if (!body.is_object()) return reply(error_reply(400, "bad_request", "expected a JSON object"));
    auth::trust_entry e;
    auto key_field = string_field(body, "key", "");
    auto perm_field = string_field(body, "perm", "read,write");
    auto note_field = string_field(body, "note", "");
    if (!key_field || !perm_field || !note_field)
      return reply(error_reply(400, "bad_request", "'key', 'perm' and 'note' must be strings"));
    auto key = *key_field;
    auto k = auth::parse_node_id(key);
    if (!k) return reply(error_reply(400, "bad_request", "'key' must be a node id (64 hex characters)"));
    e.key = *k;
    auto perm = auth::permissions::parse(*perm_field);
    if (!perm) return reply(error_reply(400, "bad_request", "'perm': " + perm.error().message));
    e.perm = *perm;
    if (body.contains("docs")) {
      if (!body["docs"].is_array()) return reply(error_reply(400, "bad_request", "'docs' must be an array"));
      for (auto& d : body["docs"]) {
        if (!d.is_string() || !auth::valid_doc_pattern(d.get<std::string>()))
          return reply(error_reply(400, "bad_request", "'docs' holds an invalid pattern"));
        e.doc_patterns.push_back(d.get<std::string>());
      }
    }
    e.note = *note_field;
    self->request(node, self->state.ctx->cfg.http_request_timeout, trust_atom::value, e)
        .then([=](bool added) { reply(json_reply(added ? 201 : 200, json{{"key", key}, {"added", added}})); },
              [=](const caf::error& err) { reply(from_caf_error(err)); });
    return;
  }
  if (req.method == "DELETE" && parts.size() == 3) {
    auto k = auth::parse_node_id(parts[2]);
    if (!k) return reply(error_reply(400, "bad_request", "not a node id: " + parts[2]));
    self->request(node, self->state.ctx->cfg.http_request_timeout, revoke_atom::value, *k)
        .then(
            [=](bool known) {
              if (!known) return reply(error_reply(404, "not_found", "key " + parts[2] + " is not trusted"));
              reply(json_reply(200, json{{"key", parts[2]}, {"revoked", true}}));
            },
            [=](const caf::error& e) { reply(from_caf_error(e)); });
    return;
  }
  reply(error_reply(405, "method_not_allowed", req.method + " " + std::string(req.path())));
}

void handle_tokens(self_ptr self, const net::http_request& req, const std::vector<std::string>& parts,
                   net::http_reply reply) {
  auto node = self->state.ctx->node.handle;
  if (req.method == "GET" && parts.size() == 2) {
    self->request(node, self->state.ctx->cfg.http_request_timeout, tokens_atom::value)
        .then(
            [=](const token_list& ts) {
              json out = json::array();
              for (auto& [h, r] : ts) {
                auto j = auth::to_json(r);
                j["hash"] = to_hex(h);
                out.push_back(j);
              }
              reply(json_reply(200, json{{"tokens", out}}));
            },
            [=](const caf::error& e) { reply(from_caf_error(e)); });
    return;
  }
  if (req.method == "POST" && parts.size() == 2) {
    auto parsed = parse_body(self, req, reply);
    if (!parsed) return;
    json& body = *parsed;
    if (!body.is_object()) return reply(error_reply(400, "bad_request", "expected a JSON object"));
    auth::token_record r;
    auto perm_field = string_field(body, "perm", "read,write");
    auto ttl_field = string_field(body, "ttl", "24h");
    auto note_field = string_field(body, "note", "");
    if (!perm_field || !ttl_field || !note_field)
      return reply(error_reply(400, "bad_request", "'perm', 'ttl' and 'note' must be strings"));
    auto perm = auth::permissions::parse(*perm_field);
    if (!perm) return reply(error_reply(400, "bad_request", "'perm': " + perm.error().message));
    r.perm = *perm;
    auto ttl = auth::parse_duration(*ttl_field);
    if (!ttl) return reply(error_reply(400, "bad_request", "'ttl': " + ttl.error().message));
    r.created_ms = auth::system_now_ms();
    r.expires_ms = r.created_ms + *ttl;
    if (body.contains("docs")) {
      if (!body["docs"].is_array()) return reply(error_reply(400, "bad_request", "'docs' must be an array"));
      for (auto& d : body["docs"]) {
        if (!d.is_string() || !auth::valid_doc_pattern(d.get<std::string>()))
          return reply(error_reply(400, "bad_request", "'docs' holds an invalid pattern"));
        r.doc_patterns.push_back(d.get<std::string>());
      }
    }
    r.note = *note_field;
    auto node_id = self->state.ctx->node.node_id;
    self->request(node, self->state.ctx->cfg.http_request_timeout, token_atom::value, r)
        .then(
            [=](const std::string& token) {
              reply(json_reply(201, json{{"token", token},
                                         {"hash", to_hex(auth::hash_token(token))},
                                         {"issuer", node_id},
                                         {"perm", r.perm.format()},
                                         {"expires_ms", r.expires_ms}}));
            },
            [=](const caf::error& e) { reply(from_caf_error(e)); });
    return;
  }
  if (req.method == "DELETE" && parts.size() == 3) {
    // By hash or a unique prefix of it (as `token list` shows).
    const std::string prefix = parts[2];
    if (prefix.size() < 8) return reply(error_reply(400, "bad_request", "give at least 8 hex characters of the hash"));
    self->request(node, self->state.ctx->cfg.http_request_timeout, tokens_atom::value)
        .then(
            [=](const token_list& ts) {
              std::vector<hash256> matches;
              for (auto& [h, r] : ts)
                if (to_hex(h).rfind(prefix, 0) == 0) matches.push_back(h);
              if (matches.empty()) return reply(error_reply(404, "not_found", "no unused token " + prefix));
              if (matches.size() > 1)
                return reply(error_reply(409, "ambiguous", "several tokens start with " + prefix));
              self->request(node, self->state.ctx->cfg.http_request_timeout, untoken_atom::value, matches[0])
                  .then([=](bool) { reply(json_reply(200, json{{"hash", to_hex(matches[0])}, {"removed", true}})); },
                        [=](const caf::error& e) { reply(from_caf_error(e)); });
            },
            [=](const caf::error& e) { reply(from_caf_error(e)); });
    return;
  }
  reply(error_reply(405, "method_not_allowed", req.method + " " + std::string(req.path())));
}

// ------------------------------------------------------------ event streams
//
// GET /v1/docs/{doc}/events: Server-Sent Events, one per change applied to
// the document on this node, with the change's log index as event id.
// Without Last-Event-ID (or ?from=N) the stream starts with changes applied
// from now on; with it, it first replays the stored log after that index,
// then goes live, with no gap and no duplicate (the subscription is in place
// before the replay reads the store, and live events the replay already
// covered are skipped by index). A client that does not keep up has its
// stream closed; it reconnects with Last-Event-ID. When the document's owner
// restarts (a failed commit), the stream subscribes to the next owner and
// replays the stored log after its last event, so none is missed.

using replay_atom = caf::atom_constant<caf::atom("replay")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using gone_atom = caf::atom_constant<caf::atom("gone")>;
using sse_actor = subscriber_actor::extend<caf::reacts_to<replay_atom>, caf::reacts_to<ping_atom>,
                                           caf::reacts_to<gone_atom>>;


struct sse_state {
  static inline const char* name = "event_stream";
  std::shared_ptr<shared_ctx> ctx;
  std::shared_ptr<persistence::store> store;
  std::shared_ptr<net::http_stream> stream;
  owner_cache owners;
  std::string doc;
  subscriber_id id = 0;
  std::optional<std::uint64_t> last_sent;  // log index of the last event sent
  std::uint64_t replay_from = 0;
  bool replaying = false;
  std::vector<change_set_ptr> buffered;
  std::size_t buffered_changes = 0;
  bool done = false;
};

using sse_ptr = sse_actor::stateful_pointer<sse_state>;

std::string event_text(const std::string& doc, std::uint64_t index, byte_view encoded) {
  auto c = crdt::decode(encoded);
  json data{{"doc", doc}, {"index", index}};
  if (c) {
    json ops = json::array();
    for (auto& o : c->ops) {
      json j{{"kind", crdt::to_string(o.kind)}};
      if (o.place == crdt::place_kind::map_key) j["key"] = o.key;
      ops.push_back(std::move(j));
    }
    data["hash"] = to_hex(c->hash);
    data["author"] = to_hex(c->author);
    data["seq"] = c->seq;
    data["time"] = c->time;
    data["ops"] = std::move(ops);
  }
  return "id: " + std::to_string(index) + "\nevent: change\ndata: " +
         data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

void end_stream(sse_ptr self) {
  auto& s = self->state;
  if (s.done) return;
  s.done = true;
  s.owners.for_each([&](const std::string&, const doc_owner_actor& o) { self->send(o, unsubscribe_atom::value, s.id); });
  if (s.stream) s.stream->close();
  --s.ctx->event_streams;
  self->quit();
}

bool send_event(sse_ptr self, std::uint64_t index, byte_view encoded) {
  auto& s = self->state;
  if (s.last_sent && index <= *s.last_sent) return true;  // the replay sent it
  if (!s.stream->send(event_text(s.doc, index, encoded))) return false;
  s.last_sent = index;
  return true;
}

void send_live(sse_ptr self, const change_set& set) {
  for (std::size_t i = 0; i < set.changes.size() && i < set.log_index.size(); ++i)
    if (!send_event(self, set.log_index[i], set.changes[i])) return end_stream(self);
}

// One page of the stored log; again later while the client's queue is full.
void replay_page(sse_ptr self) {
  auto& s = self->state;
  if (s.done) return;
  if (s.stream->queued_bytes() > s.ctx->cfg.node.net.http_stream_queue_limit / 2) {
    self->delayed_send(self, s.ctx->cfg.sse_replay_retry, replay_atom::value);
    return;
  }
  std::size_t n = 0;
  bool failed = false;
  auto next = s.store->load_log(s.doc, s.replay_from, [&](std::uint64_t index, const hash256&, byte_view enc) {
    if (!send_event(self, index, enc)) {
      failed = true;
      return false;
    }
    return ++n < s.ctx->cfg.sse_replay_page_changes;
  });
  if (failed || !next) return end_stream(self);
  s.replay_from = *next;
  if (n == s.ctx->cfg.sse_replay_page_changes) {
    self->send(self, replay_atom::value);
    return;
  }
  // The stored log is exhausted: live from here.
  s.replaying = false;
  auto held = std::move(s.buffered);
  s.buffered.clear();
  for (auto& set : held) {
    send_live(self, *set);
    if (s.done) return;
  }
}

// Subscribes to the owner's fan-out; once in place, replays the stored log
// if the stream starts (or resumes) with one.
void subscribe_stream(sse_ptr self, const doc_owner_actor& owner) {
  self->request(owner, self->state.ctx->cfg.http_request_timeout, subscribe_atom::value, self->state.id, caf::actor_cast<subscriber_actor>(self))
      .then(
          [=](bool) {
            if (self->state.replaying) replay_page(self);
          },
          [=](const caf::error&) { end_stream(self); });
}

sse_actor::behavior_type sse_behavior(sse_ptr self, std::shared_ptr<shared_ctx> ctx,
                                      std::shared_ptr<persistence::store> store, doc_owner_actor owner,
                                      std::string doc, std::shared_ptr<net::http_stream> stream,
                                      std::optional<std::uint64_t> replay_from) {
  auto& s = self->state;
  s.ctx = std::move(ctx);
  s.store = std::move(store);
  s.doc = std::move(doc);
  s.owners = owner_cache(s.ctx->node.handle, s.ctx->cfg.node.owner_lookup_timeout);
  s.owners.adopt(self, s.doc, owner);
  s.stream = std::move(stream);
  s.id = s.ctx->node.ids->next();
  s.replaying = replay_from.has_value();
  s.replay_from = replay_from.value_or(0);
  if (replay_from && *replay_from > 0) s.last_sent = *replay_from - 1;
  // Where a replay after an owner restart starts when no event was sent
  // yet: the log's end now (the stream shows changes from now on).
  if (!replay_from)
    if (auto end = s.store->log_end(s.doc)) s.replay_from = *end;
  auto me = caf::actor_cast<sse_actor>(self);
  s.stream->on_closed([me] { caf::anon_send(me, gone_atom::value); });
  s.stream->send(": starling event stream of " + s.doc + "\n\n");
  subscribe_stream(self, owner);
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto& st = self->state;
    if (st.done || !st.owners.on_down(dm)) return;
    // The owner restarted: changes committed in between are in the store.
    // Subscribe to the next owner, then replay after the last event sent.
    if (st.last_sent) st.replay_from = *st.last_sent + 1;
    st.replaying = true;
    st.owners.with(
        self, st.doc, [=](const doc_owner_actor& next) { subscribe_stream(self, next); },
        [=](const caf::error&) { end_stream(self); });
  });
  self->delayed_send(self, self->state.ctx->cfg.sse_keepalive, ping_atom::value);
  return {
      [=](live_atom, const change_set_ptr& set) {
        auto& st = self->state;
        if (st.done) return;
        if (auto* o = st.owners.find(st.doc))
          self->send(*o, ack_atom::value, st.id, static_cast<std::uint64_t>(set->changes.size()),
                     static_cast<std::uint64_t>(set->total_bytes));
        if (set->fork_evidence) return;
        if (st.replaying) {
          st.buffered_changes += set->changes.size();
          if (st.buffered_changes > st.ctx->cfg.sse_max_buffered_live) return end_stream(self);
          st.buffered.push_back(set);
          return;
        }
        send_live(self, *set);
      },
      [=](lagged_atom, const std::string&) { end_stream(self); },
      [=](replay_atom) { replay_page(self); },
      [=](ping_atom) {
        if (self->state.done) return;
        if (!self->state.stream->send(": keepalive\n\n")) return end_stream(self);
        self->delayed_send(self, self->state.ctx->cfg.sse_keepalive, ping_atom::value);
      },
      [=](gone_atom) { end_stream(self); },
  };
}

void handle_events(self_ptr self, const std::string& doc, const net::http_request& req, net::http_reply reply) {
  auto& ctx = *self->state.ctx;
  // Last-Event-ID: N resumes after event N; ?from=N starts at event N
  // (0: the whole stored log); neither: only changes applied from now on.
  std::optional<std::uint64_t> replay_from;
  const std::string* last = req.header("Last-Event-ID");
  bool bad = false;
  auto from = query_param(req.target, "from", &bad);
  if (bad) return reply(error_reply(400, "bad_request", "query parameter 'from' has a bad %-escape"));
  const std::string* text = last ? last : from ? &*from : nullptr;
  if (text) {
    if (text->empty() || text->size() > 19 || text->find_first_not_of("0123456789") != std::string::npos)
      return reply(error_reply(400, "bad_request", "Last-Event-ID / from must be an event id (a number)"));
    auto n = std::stoull(*text);
    replay_from = last ? n + 1 : n;
  }
  if (ctx.event_streams.load() >= ctx.cfg.max_event_streams)
    return reply(error_reply(503, "too_many_streams",
                             "this node serves at most " + std::to_string(ctx.cfg.max_event_streams) + " event streams"));
  auto ctxp = self->state.ctx;
  with_existing_doc(self, doc, reply, [=](const doc_owner_actor& owner) {
    auto stream = reply.stream(200, "text/event-stream", {{"X-Accel-Buffering", "no"}});
    if (!stream) return;
    ++ctxp->event_streams;
    self->system().spawn(sse_behavior, ctxp, ctxp->store, owner, doc, stream, replay_from);
  });
}

void route(self_ptr self, const net::http_request& req, net::http_reply reply) {
  auto& ctx = *self->state.ctx;
  ++ctx.requests;
  auto path = std::string(req.path());
  auto parts = split_path(path);
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (path == "/healthz") {
    if (!get) return reply(error_reply(405, "method_not_allowed", "use GET"));
    return reply(json_reply(200, json{{"status", "ok"}}));
  }
  if (path == "/readyz") {
    if (!get) return reply(error_reply(405, "method_not_allowed", "use GET"));
    // Answered by the node actor itself, at a cost that does not grow with
    // the documents.
    self->request(ctx.node.handle, ctx.cfg.readyz_timeout, peers_atom::value)
        .then([=](const std::vector<link_actor>&) { reply(json_reply(200, json{{"ready", true}})); },
              [=](const caf::error& e) {
                reply(json_reply(503, json{{"ready", false}, {"error", {{"code", "not_ready"}, {"message", render(e)}}}}));
              });
    return;
  }
  if (path == "/" || path == "/index.html") {
    if (!get) return reply(error_reply(405, "method_not_allowed", "use GET"));
    net::http_response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(status_page_html);
    r.headers.push_back({"Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'"});
    return reply(std::move(r));
  }
  if (!authorized(ctx, req)) {
    ++ctx.bad_requests;
    net::http_response r = error_reply(401, "unauthorized", "this API needs 'Authorization: Bearer <api token>'");
    r.headers.push_back({"WWW-Authenticate", "Bearer"});
    return reply(std::move(r));
  }
  if (path == "/metrics") {
    if (!get) return reply(error_reply(405, "method_not_allowed", "use GET"));
    auto metrics = ctx.node.metrics;
    return gather(self, [reply, metrics](node_snapshot s) {
      net::http_response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = prometheus_text(s, *metrics);
      reply(std::move(r));
    });
  }
  if (parts.size() >= 2 && parts[0] == "v1") {
    if (parts[1] == "status" && parts.size() == 2) {
      if (!get) return reply(error_reply(405, "method_not_allowed", "use GET"));
      auto metrics = ctx.node.metrics;
      return gather(self, [reply, metrics](node_snapshot s) {
        reply(json_reply(200, status_json(s, *metrics)));
      });
    }
    if (parts[1] == "peers" && parts.size() == 2) {
      if (!get) return reply(error_reply(405, "method_not_allowed", "use GET"));
      return gather(
          self,
          [reply](node_snapshot s) {
            json peers = json::array(), dialers = json::array();
            for (auto& p : s.peers) peers.push_back(to_json(p));
            for (auto& d : s.dialers) dialers.push_back(to_json(d));
            reply(json_reply(200, json{{"peers", peers}, {"dialers", dialers}}));
          },
          /*with_docs=*/false);
    }
    if (parts[1] == "trust") return handle_trust(self, req, parts, reply);
    if (parts[1] == "tokens") return handle_tokens(self, req, parts, reply);
    if (parts[1] == "docs") {
      if (parts.size() == 2) {
        if (!get) return reply(error_reply(405, "method_not_allowed", "use GET"));
        return handle_docs_list(self, req, reply);
      }
      const std::string& doc = parts[2];
      if (!valid_doc_name(doc))
        return reply(error_reply(400, "bad_request", "invalid document name (allowed: [A-Za-z0-9._-]{1,128})"));
      if (parts.size() == 3) {
        if (!get) return reply(error_reply(405, "method_not_allowed", "use GET"));
        return handle_doc_read(self, doc, req, reply);
      }
      if (parts.size() == 4 && parts[3] == "events") {
        if (!get) return reply(error_reply(405, "method_not_allowed", "use GET"));
        return handle_events(self, doc, req, reply);
      }
      if (parts.size() == 4 && parts[3] == "changes") {
        if (req.method != "POST") return reply(error_reply(405, "method_not_allowed", "use POST"));
        return handle_write(self, doc, req, reply);
      }
    }
  }
  reply(error_reply(404, "not_found", "no route for " + req.method + " " + path));
}

api_actor::behavior_type api_behavior(self_ptr self, std::shared_ptr<shared_ctx> ctx) {
  self->state.ctx = std::move(ctx);
  return {
      [=](http_atom, net::http_request& req, net::http_reply& reply) {
        try {
          route(self, req, reply);
        } catch (const std::exception& e) {  // e.g. bad_alloc; never take the actor down for one request
          reply(error_reply(500, "internal", e.what()));
        }
      },
  };
}

}  // namespace

struct http_api::impl {
  api_actor actor;
  std::unique_ptr<net::listener> listener;
  std::shared_ptr<shared_ctx> ctx;
};

http_api::http_api(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

http_api::~http_api() {
  if (impl_->listener) impl_->listener->stop();
  caf::anon_send_exit(impl_->actor, caf::exit_reason::user_shutdown);
}

std::uint16_t http_api::port() const { return impl_->listener->local_port(); }

expected<std::unique_ptr<http_api>, std::string> http_api::start(caf::actor_system& sys, net::runtime& rt,
                                                                 const node_info& node, const service_config& cfg) {
  auto i = std::make_unique<impl>();
  i->ctx = std::make_shared<shared_ctx>();
  i->ctx->node = node;
  i->ctx->store = node.store;
  i->ctx->cfg = cfg;
  i->ctx->token_hashes.insert(cfg.api_token_hashes.begin(), cfg.api_token_hashes.end());
  i->actor = sys.spawn(api_behavior, i->ctx);
  net::settings s = cfg.node.net;
  s.listen_address = cfg.http.host;
  s.listen_port = cfg.http.port;
  std::string error;
  auto actor = i->actor;
  i->listener = net::listen(
      rt, s, [](const std::shared_ptr<net::ws_connection>&) { return std::shared_ptr<net::connection_handler>(); },
      [actor](net::http_request req, net::http_reply reply) {
        caf::anon_send(actor, http_atom::value, std::move(req), std::move(reply));
      },
      &error);
  if (!i->listener) {
    caf::anon_send_exit(i->actor, caf::exit_reason::user_shutdown);
    return make_unexpected("cannot listen for HTTP on " + cfg.http.host + ":" + std::to_string(cfg.http.port) + ": " +
                           error);
  }
  return std::make_unique<http_api>(std::move(i));
}

}  // namespace starling::app
