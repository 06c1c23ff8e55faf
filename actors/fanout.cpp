#include "actors/fanout.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/local_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>

namespace starling::actors {

struct subscriber {
  subscriber_actor handle;
  std::uint64_t changes = 0;  // sent, not yet acknowledged
  std::uint64_t bytes = 0;
};

struct fanout_state {
  static inline const char* name = "fanout";
  std::string doc;
  fanout_limits limits;
  std::map<subscriber_id, subscriber> subs;
  std::map<caf::actor_addr, subscriber_id> by_addr;
};

fanout_actor::behavior_type fanout_behavior(fanout_actor::stateful_pointer<fanout_state> self, std::string doc,
                                            fanout_limits limits) {
  self->state.doc = std::move(doc);
  self->state.limits = limits;
  self->set_down_handler([=](const caf::down_msg& dm) {
    auto it = self->state.by_addr.find(dm.source);
    if (it == self->state.by_addr.end()) return;
    self->state.subs.erase(it->second);
    self->state.by_addr.erase(it);
  });
  auto detach = [=](subscriber_id id) {
    auto it = self->state.subs.find(id);
    if (it == self->state.subs.end()) return;
    self->demonitor(it->second.handle.address());
    self->state.by_addr.erase(it->second.handle.address());
    self->state.subs.erase(it);
  };
  return {
      [=](publish_atom, const change_set_ptr& set, subscriber_id origin) {
        const auto n = set->changes.size();
        std::vector<subscriber_id> lagging;
        for (auto& [id, sub] : self->state.subs) {
          if (id == origin) continue;
          if (sub.changes + n > self->state.limits.max_changes || sub.bytes + set->total_bytes > self->state.limits.max_bytes) {
            lagging.push_back(id);
            continue;
          }
          sub.changes += n;
          sub.bytes += set->total_bytes;
          self->send(sub.handle, live_atom::value, set);
        }
        for (auto id : lagging) {
          self->send(self->state.subs.at(id).handle, lagged_atom::value, self->state.doc);
          detach(id);
        }
      },
      [=](subscribe_atom, subscriber_id id, const subscriber_actor& handle) {
        detach(id);
        self->monitor(handle);
        self->state.subs[id] = subscriber{handle, 0, 0};
        self->state.by_addr[handle.address()] = id;
      },
      [=](unsubscribe_atom, subscriber_id id) { detach(id); },
      [=](ack_atom, subscriber_id id, std::uint64_t changes, std::uint64_t bytes) {
        auto it = self->state.subs.find(id);
        if (it == self->state.subs.end()) return;
        it->second.changes -= std::min(changes, it->second.changes);
        it->second.bytes -= std::min(bytes, it->second.bytes);
      },
      [=](status_atom) -> std::size_t { return self->state.subs.size(); },
  };
}

}  // namespace starling::actors

namespace starling::actors {

fanout_actor spawn_fanout(caf::local_actor* parent, std::string doc, fanout_limits limits) {
  return parent->spawn<caf::linked>(fanout_behavior, std::move(doc), limits);
}

}  // namespace starling::actors
