// One reading of a node's state for the HTTP API, the status page, the
// metrics and `starling status`: documents, peer sessions, dialers and the
// counters, with their JSON and Prometheus forms.
//
// Threading: plain values and pure functions.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/dialer.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"

namespace starling::app {

struct node_snapshot {
  std::string node_id;
  double uptime_seconds = 0;
  std::vector<actors::doc_status> docs;
  std::vector<actors::peer_status> peers;
  std::vector<actors::dialer_status> dialers;
  std::uint64_t event_streams = 0;  // open SSE streams
  std::uint64_t http_json_refused = 0;  // HTTP bodies the JSON parser refused
};

nlohmann::json to_json(const frontier& f);
nlohmann::json to_json(const actors::doc_status& d);
nlohmann::json to_json(const actors::peer_status& p);
nlohmann::json to_json(const actors::dialer_status& d);
// The whole of GET /v1/status, counters included.
nlohmann::json status_json(const node_snapshot& s, const actors::node_metrics& m);
// GET /metrics: Prometheus text format 0.0.4.
std::string prometheus_text(const node_snapshot& s, const actors::node_metrics& m);

}  // namespace starling::app
