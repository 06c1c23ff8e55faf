// Two ways to embed a starling node in a C++ program.
//
//   embedded_node facade DATA_DIR   the synchronous starling::node facade
//   embedded_node actors DATA_DIR   a node inside the program's own actor system,
//                                   driven by typed messages
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <iostream>

#include "actors/embedded.hpp"
#include "actors/errors.hpp"
#include "actors/node_actor.hpp"

using namespace starling;
using crdt::mutation;

namespace {

int facade(const std::string& dir) {
  actors::node_config cfg;
  cfg.data_dir = dir;
  auto n = node::open(cfg);
  if (!n) {
    std::cerr << "open: " << n.error() << "\n";
    return 1;
  }
  std::cout << "node " << (*n)->id().substr(0, 8) << "\n";
  auto sub = (*n)->subscribe("todos", [](const std::string& doc, const std::vector<bytes>& changes) {
    std::cout << "  committed " << changes.size() << " change(s) to " << doc << "\n";
  });
  auto w = (*n)->write("todos", {{mutation::kind::set, "/items", nlohmann::json::array()},
                                 {mutation::kind::ins, "/items/-", "buy milk"}});
  if (!w) {
    std::cerr << "write: " << w.error() << "\n";
    return 1;
  }
  std::cout << "wrote change " << to_hex(w->hash).substr(0, 16) << "\n";
  std::cout << "todos = " << (*n)->read("todos")->value().dump() << "\n";
  if (sub) (*n)->unsubscribe(*sub);
  return 0;
}

int actor_form(const std::string& dir) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};  // the program's own actor system
  actors::node_config ncfg;
  ncfg.data_dir = dir;
  auto info = actors::spawn_node(sys, ncfg);
  if (!info) {
    std::cerr << "spawn_node: " << info.error() << "\n";
    return 1;
  }
  caf::scoped_actor self{sys};
  int rc = 0;
  self->request(info->handle, std::chrono::seconds(10), actors::doc_atom::value, std::string("todos"))
      .receive(
          [&](const actors::doc_owner_actor& owner) {
            actors::write_request req{{{mutation::kind::inc, "/visits", 1}}};
            self->request(owner, std::chrono::seconds(10), actors::write_atom::value, req)
                .receive([&](const actors::write_ack& ack) {
                           std::cout << "committed " << to_hex(ack.hash).substr(0, 16) << "\n";
                         },
                         [&](const caf::error& e) { std::cerr << actors::render(e) << "\n", rc = 1; });
            self->request(owner, std::chrono::seconds(10), actors::read_atom::value, std::string("/visits"))
                .receive([&](const actors::read_reply& r) { std::cout << "visits = " << r.json << "\n"; },
                         [&](const caf::error& e) { std::cerr << actors::render(e) << "\n", rc = 1; });
          },
          [&](const caf::error& e) { std::cerr << actors::render(e) << "\n", rc = 1; });
  self->send(info->handle, actors::stop_atom::value);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "facade" && std::string(argv[1]) != "actors")) {
    std::cerr << "usage: embedded_node facade|actors DATA_DIR\n";
    return 2;
  }
  return std::string(argv[1]) == "facade" ? facade(argv[2]) : actor_form(argv[2]);
}
