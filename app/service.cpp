#include "app/service.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/node_actor.hpp"
#include "app/http_api.hpp"
#include "net/runtime.hpp"

namespace starling::app {

struct service::impl {
  caf::actor_system* sys = nullptr;
  service_config cfg;
  actors::node_info node;
  std::shared_ptr<net::runtime> http_rt;
  std::unique_ptr<http_api> api;
  bool stopped = false;
};

service::service(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

service::~service() { stop(); }

expected<std::unique_ptr<service>, std::string> service::start(caf::actor_system& sys, const service_config& cfg) {
  auto ok = validate(cfg);
  if (!ok) return make_unexpected(ok.error());
  auto i = std::make_unique<impl>();
  i->sys = &sys;
  i->cfg = cfg;
  auto node = actors::spawn_node(sys, cfg.node);
  if (!node) return make_unexpected(node.error());
  i->node = *node;
  i->http_rt = std::make_shared<net::runtime>(cfg.node.net);
  i->http_rt->start();
  auto api = http_api::start(sys, *i->http_rt, i->node, cfg);
  if (!api) {
    auto s = std::make_unique<service>(std::move(i));
    s->stop();
    return make_unexpected(api.error());
  }
  i->api = std::move(*api);
  return std::make_unique<service>(std::move(i));
}

void service::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->api.reset();
  if (impl_->http_rt) impl_->http_rt->stop();
  if (impl_->node.handle) {
    caf::scoped_actor self{*impl_->sys};
    self->monitor(impl_->node.handle);
    self->send(impl_->node.handle, actors::stop_atom::value);
    self->receive([](const caf::down_msg&) {});
  }
}

const std::string& service::node_id() const { return impl_->node.node_id; }
std::uint16_t service::sync_port() const { return impl_->node.port; }
std::uint16_t service::http_port() const { return impl_->api ? impl_->api->port() : 0; }

std::string service::sync_url() const {
  return "ws://" + impl_->cfg.node.net.listen_address + ":" + std::to_string(sync_port()) + "/v1/sync";
}

std::string service::http_url() const {
  return "http://" + impl_->cfg.http.host + ":" + std::to_string(http_port());
}

const actors::node_info& service::node() const { return impl_->node; }

}  // namespace starling::app
