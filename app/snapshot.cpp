#include "app/snapshot.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "crdt/document.hpp"

namespace starling::app {

using nlohmann::json;

json to_json(const frontier& f) {
  json j = json::object();
  for (auto& [author, head] : f) j[to_hex(author)] = json{{"seq", head.seq}, {"hash", to_hex(head.hash)}};
  return j;
}

json to_json(const actors::doc_status& d) {
  return json{{"name", d.name},     {"changes", d.changes}, {"pending", d.pending},
              {"forks", d.forks},  {"digest", d.digest},   {"frontier", to_json(d.at)}};
}

json to_json(const actors::peer_status& p) {
  return json{{"peer_id", p.peer_id},
              {"state", p.state},
              {"address", p.address},
              {"direction", p.dialed ? "out" : "in"},
              {"changes_sent", p.changes_sent},
              {"changes_received", p.changes_received},
              {"bytes_in", p.bytes_in},
              {"bytes_out", p.bytes_out},
              {"queued_bytes", p.queued_bytes},
              {"lag_changes", p.lag_changes},
              {"lag_seconds", p.lag_seconds},
              {"behind_changes", p.behind_changes}};
}

json to_json(const actors::dialer_status& d) {
  return json{{"url", d.url},
              {"state", d.state},
              {"attempts", d.attempts},
              {"consecutive_failures", d.consecutive_failures},
              {"last_error", d.last_error},
              {"next_retry_ms", d.next_retry_in.count()}};
}

namespace {

std::uint64_t load(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }

json counters(const actors::node_metrics& m) {
  json refused = json::object();
  for (std::size_t i = 1; i < actors::node_metrics::codes; ++i)
    if (auto n = load(m.refused[i])) refused[crdt::to_string(static_cast<crdt::refusal>(i))] = n;
  return json{{"changes_local", load(m.changes_local)},
              {"changes_remote", load(m.changes_remote)},
              {"changes_duplicate", load(m.changes_duplicate)},
              {"signatures_checked", load(m.signatures_checked)},
              {"forks_detected", load(m.forks_detected)},
              {"changes_refused", refused},
              {"sessions_opened", load(m.sessions_opened)},
              {"sessions_authenticated", load(m.sessions_authenticated)},
              {"sessions_closed", load(m.sessions_closed)},
              {"peer_errors", m.closed_for_by_name()},
              {"errors_from_peers", m.closed_by_peer_by_name()},
              {"lag_events", load(m.lag_events)},
              {"owner_failures", load(m.owner_failures)},
              {"owner_resubscribes", load(m.owner_resubscribes)},
              {"owner_unreachable", load(m.owner_unreachable)},
              {"forbidden_batches", load(m.forbidden_batches)},
              {"resyncs", load(m.resyncs)},
              {"log_lines_suppressed", load(m.log_lines_suppressed)},
              {"commits", load(m.commit_count)},
              {"commit_failures", load(m.commit_failures)}};
}

// Label values: backslash, quote and newline escaped.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

class prom {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void sample(const std::string& name, double v, const std::string& labels = {}) {
    out_ << name;
    if (!labels.empty()) out_ << '{' << labels << '}';
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out_ << ' ' << buf << '\n';
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

}  // namespace

json status_json(const node_snapshot& s, const actors::node_metrics& m) {
  json docs = json::array(), peers = json::array(), dialers = json::array();
  for (auto& d : s.docs) docs.push_back(to_json(d));
  for (auto& p : s.peers) peers.push_back(to_json(p));
  for (auto& d : s.dialers) dialers.push_back(to_json(d));
  return json{{"node_id", s.node_id}, {"uptime_seconds", s.uptime_seconds}, {"docs", docs},
              {"peers", peers},       {"dialers", dialers},                 {"event_streams", s.event_streams},
              {"counters", counters(m)}};
}

std::string prometheus_text(const node_snapshot& s, const actors::node_metrics& m) {
  prom p;
  p.family("starling_changes_applied_total", "counter", "Changes applied, by origin (local write or peer).");
  p.sample("starling_changes_applied_total", static_cast<double>(load(m.changes_local)), "origin=\"local\"");
  p.sample("starling_changes_applied_total", static_cast<double>(load(m.changes_remote)), "origin=\"remote\"");
  p.family("starling_changes_duplicate_total", "counter", "Changes received from peers that were already known.");
  p.sample("starling_changes_duplicate_total", static_cast<double>(load(m.changes_duplicate)));
  p.family("starling_signatures_verified_total", "counter", "Ed25519 signatures checked on received changes.");
  p.sample("starling_signatures_verified_total", static_cast<double>(load(m.signatures_checked)));
  p.family("starling_changes_refused_total", "counter", "Received changes refused, by reason.");
  for (std::size_t i = 1; i <= static_cast<std::size_t>(crdt::refusal::pending_full); ++i)
    p.sample("starling_changes_refused_total", static_cast<double>(load(m.refused[i])),
             "reason=\"" + std::string(crdt::to_string(static_cast<crdt::refusal>(i))) + "\"");
  p.family("starling_fork_proofs_total", "counter", "Equivocations detected (fork proofs made).");
  p.sample("starling_fork_proofs_total", static_cast<double>(load(m.forks_detected)));

  p.family("starling_sessions_total", "counter", "Peer sessions, by stage reached.");
  p.sample("starling_sessions_total", static_cast<double>(load(m.sessions_opened)), "stage=\"opened\"");
  p.sample("starling_sessions_total", static_cast<double>(load(m.sessions_authenticated)), "stage=\"authenticated\"");
  p.sample("starling_sessions_total", static_cast<double>(load(m.sessions_closed)), "stage=\"closed\"");
  p.family("starling_sessions_open", "gauge", "Peer connections open now, by state.");
  std::map<std::string, int> by_state;
  for (auto& peer : s.peers) ++by_state[peer.state];
  for (const char* st : {"handshake", "syncing", "live", "closing"})
    p.sample("starling_sessions_open", by_state[st], std::string("state=\"") + st + "\"");
  p.family("starling_peer_errors_total", "counter", "Sessions this node closed for a peer's error, by code.");
  for (auto c : protocol::all_errcs)
    p.sample("starling_peer_errors_total",
             static_cast<double>(load(m.closed_for[static_cast<std::size_t>(c) % actors::node_metrics::codes])),
             std::string("code=\"") + protocol::to_string(c) + "\"");
  p.family("starling_errors_from_peers_total", "counter", "Sessions a peer closed on this node with an error, by code.");
  for (auto c : protocol::all_errcs)
    p.sample("starling_errors_from_peers_total",
             static_cast<double>(load(m.closed_by_peer[static_cast<std::size_t>(c) % actors::node_metrics::codes])),
             std::string("code=\"") + protocol::to_string(c) + "\"");
  // Plain counters: one family and one sample each.
  struct plain_counter {
    const char* name;
    const char* help;
    const std::atomic<std::uint64_t>& value;
  };
  for (const auto& c : {
           plain_counter{"starling_log_lines_suppressed_total",
                         "Error log lines dropped by the once-per-peer-per-minute limit.", m.log_lines_suppressed},
           plain_counter{"starling_lag_events_total", "Times a peer fell behind the live stream and resumed by delta.",
                         m.lag_events},
           plain_counter{"starling_owner_failures_total",
                         "Document owners that stopped with an error (a failed commit) and were restarted.",
                         m.owner_failures},
           plain_counter{"starling_owner_resubscribes_total",
                         "Peer sessions that followed a restarted document owner (subscribed again, resumed by delta).",
                         m.owner_resubscribes},
           plain_counter{"starling_owner_unreachable_total",
                         "Peer sessions ended with internal because a document owner could not be reached.",
                         m.owner_unreachable},
           plain_counter{"starling_forbidden_batches_total",
                         "Change batches dropped because the peer may not write the document.", m.forbidden_batches},
           plain_counter{"starling_resyncs_total",
                         "Deltas a session asked its peer for again (changes refused as chain_gap or pending_full, "
                         "or lost to an owner restart).",
                         m.resyncs},
       }) {
    p.family(c.name, "counter", c.help);
    p.sample(c.name, static_cast<double>(load(c.value)));
  }

  // Per peer, summed over its sessions (two nodes that both dial each
  // other keep two), so that each series appears once.
  struct per_peer {
    double bytes_in = 0, bytes_out = 0, lag_changes = 0, lag_seconds = 0, behind = 0;
  };
  std::map<std::string, per_peer> peers;
  for (auto& peer : s.peers) {
    if (peer.peer_id.empty()) continue;
    auto& pp = peers[peer.peer_id.substr(0, 16)];
    pp.bytes_in += static_cast<double>(peer.bytes_in);
    pp.bytes_out += static_cast<double>(peer.bytes_out);
    pp.lag_changes += static_cast<double>(peer.lag_changes);
    pp.lag_seconds = std::max(pp.lag_seconds, peer.lag_seconds);
    pp.behind = std::max(pp.behind, static_cast<double>(peer.behind_changes));
  }
  auto id = [&](const std::string& peer) { return "peer=\"" + label(peer) + "\""; };
  p.family("starling_peer_bytes_total", "counter", "Payload bytes per peer and direction (its open sessions).");
  for (auto& [peer, pp] : peers) {
    p.sample("starling_peer_bytes_total", pp.bytes_in, id(peer) + ",direction=\"in\"");
    p.sample("starling_peer_bytes_total", pp.bytes_out, id(peer) + ",direction=\"out\"");
  }
  p.family("starling_peer_lag_changes", "gauge", "Live changes held back for a peer that is still catching up.");
  for (auto& [peer, pp] : peers) p.sample("starling_peer_lag_changes", pp.lag_changes, id(peer));
  p.family("starling_peer_lag_seconds", "gauge", "Time since a peer was last caught up (0 when it is).");
  for (auto& [peer, pp] : peers) p.sample("starling_peer_lag_seconds", pp.lag_seconds, id(peer));
  p.family("starling_peer_behind_changes", "gauge", "Changes a peer has announced that this node still lacks.");
  for (auto& [peer, pp] : peers) p.sample("starling_peer_behind_changes", pp.behind, id(peer));

  p.family("starling_dial_failures", "gauge", "Consecutive failures of each dialer.");
  std::uint64_t attempts = 0;
  for (auto& d : s.dialers) {
    p.sample("starling_dial_failures", static_cast<double>(d.consecutive_failures), "url=\"" + label(d.url) + "\"");
    attempts += d.attempts;
  }
  p.family("starling_dial_attempts_total", "counter", "Connection attempts by all dialers.");
  p.sample("starling_dial_attempts_total", static_cast<double>(attempts));

  p.family("starling_commit_seconds", "histogram", "Store transaction latency.");
  for (std::size_t i = 0; i < actors::node_metrics::commit_buckets.size(); ++i) {
    char le[32];
    std::snprintf(le, sizeof le, "%g", actors::node_metrics::commit_buckets[i]);
    p.sample("starling_commit_seconds_bucket", static_cast<double>(load(m.commit_le[i])), std::string("le=\"") + le + "\"");
  }
  p.sample("starling_commit_seconds_bucket", static_cast<double>(load(m.commit_le.back())), "le=\"+Inf\"");
  p.sample("starling_commit_seconds_sum", static_cast<double>(load(m.commit_sum_us)) / 1e6);
  p.sample("starling_commit_seconds_count", static_cast<double>(load(m.commit_count)));
  p.family("starling_commit_failures_total", "counter", "Store transactions that failed.");
  p.sample("starling_commit_failures_total", static_cast<double>(load(m.commit_failures)));

  p.family("starling_doc_changes", "gauge", "Changes applied per document.");
  for (auto& d : s.docs) p.sample("starling_doc_changes", static_cast<double>(d.changes), "doc=\"" + label(d.name) + "\"");
  p.family("starling_doc_pending", "gauge", "Changes waiting for their dependencies, per document.");
  for (auto& d : s.docs) p.sample("starling_doc_pending", static_cast<double>(d.pending), "doc=\"" + label(d.name) + "\"");
  p.family("starling_doc_forks", "gauge", "Fork proofs held, per document.");
  for (auto& d : s.docs) p.sample("starling_doc_forks", static_cast<double>(d.forks), "doc=\"" + label(d.name) + "\"");
  p.family("starling_event_streams", "gauge", "Open Server-Sent Event streams.");
  p.sample("starling_event_streams", static_cast<double>(s.event_streams));
  p.family("starling_http_json_refused_total", "counter",
           "HTTP request bodies refused by the JSON parser (syntax, depth, integer range, repeated key).");
  p.sample("starling_http_json_refused_total", static_cast<double>(s.http_json_refused));
  p.family("starling_uptime_seconds", "gauge", "Seconds since the node started.");
  p.sample("starling_uptime_seconds", s.uptime_seconds);
  return p.str();
}

}  // namespace starling::app
