// The HTTP status and error code of each failure the node's actors report,
// decided in one place (README "HTTP API", Errors). A client branches on
// the status class: 4xx means fix the request, 503 means retry later, 500
// means a fault of the node.
//
// Threading: pure functions.
#pragma once

#include <string>

namespace caf {
class error;
}

namespace starling::app {

struct http_failure {
  unsigned status = 500;
  std::string code;     // the "code" of the JSON error body
  std::string message;  // the detail, for people
};

http_failure http_failure_of(const caf::error& e);

}  // namespace starling::app
