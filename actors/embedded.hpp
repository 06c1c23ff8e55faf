// starling::node: a synchronous facade over a node running in its own actor
// system, for programs that do not want to write actors.
//
// Threading: every member may be called from any thread, concurrently; each
// call blocks until the node answers (or `request_timeout` passes). Change
// callbacks run on one of the node's threads and must not block.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/config.hpp"
#include "actors/status.hpp"
#include "crdt/document.hpp"

namespace starling {

struct write_result {
  hash256 hash;  // the change's id
  frontier at;   // the document's frontier after it
};

// The node's own report (actors/status.hpp): the same answer the HTTP API's
// /v1/status and /metrics show.
using document_info = actors::doc_status;
using peer_status = actors::peer_status;
using dialer_info = actors::dialer_status;
using node_status = actors::node_status;

class node {
 public:
  using subscription = std::uint64_t;
  // Called with the signed encodings of changes applied to the document, in
  // application order, once they are committed.
  using change_callback = std::function<void(const std::string& doc, const std::vector<bytes>& changes)>;

  static expected<std::unique_ptr<node>, std::string> open(actors::node_config cfg);
  ~node();  // stops the node and waits for its actors
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  const std::string& id() const;
  // The sync listener's port (node_config::listen), 0 if not listening.
  std::uint16_t port() const;
  // Dials a peer (ws://host:port/v1/sync) and keeps reconnecting.
  void add_peer(const std::string& url);
  std::chrono::milliseconds request_timeout{30'000};

  // One batch of mutations becomes one change; returns after it is durable.
  expected<write_result, std::string> write(const std::string& doc, const std::vector<crdt::mutation>& mutations);
  // The same without waiting: `done` is called once, when the change is
  // durable or the write failed (after request_timeout at the latest), on
  // one of the node's threads; it must not block. Writes submitted by one
  // thread to one document apply in submission order. Writes in flight
  // together share a commit (one fsync), so a writer that keeps many in
  // flight gets far more durable writes per second than blocking calls;
  // the caller bounds how many it keeps in flight.
  using write_callback = std::function<void(expected<write_result, std::string>)>;
  void write_async(const std::string& doc, std::vector<crdt::mutation> mutations, write_callback done);
  // The JSON at a pointer ("" = whole document); nullopt if it does not exist.
  expected<std::optional<nlohmann::json>, std::string> read(const std::string& doc, const std::string& pointer = "");
  expected<subscription, std::string> subscribe(const std::string& doc, change_callback cb);
  void unsubscribe(subscription s);
  expected<node_status, std::string> status();

  // Trust. Each call returns after the change is durable in the store.
  // Adds or replaces a trusted key (true: it was new).
  expected<bool, std::string> trust(const auth::trust_entry& e);
  // Revokes a key and closes its live sessions with `revoked` (false: the
  // key was not trusted).
  expected<bool, std::string> revoke(const public_key& key);
  // Issues a join token granting `grant`; returns its text, which is never
  // stored (only its hash is) and cannot be shown again.
  expected<std::string, std::string> create_token(const auth::token_record& grant);
  // Withdraws an unused token (false: no such token).
  expected<bool, std::string> remove_token(const hash256& token_hash);
  expected<std::vector<auth::trust_entry>, std::string> trusted();
  expected<std::vector<std::pair<hash256, auth::token_record>>, std::string> tokens();

 private:
  struct impl;
  explicit node(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace starling
