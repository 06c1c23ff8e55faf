// The one way an actor finds and keeps document owners, and the one source
// of subscriber ids.
//
// owner_cache resolves a document's owner through the node, monitors the
// handle it got and forgets it when that owner goes down, so that the next
// use resolves the restarted owner instead of talking to a dead one. Lookups
// for one document that overlap are coalesced into one request to the node.
// A failed lookup is reported to each waiting caller (never dropped), and a
// down owner is reported to the caller as the document's name, so that what
// was subscribed to it can subscribe again.
//
// Threading: a plain member of one actor's state, used only from that
// actor's handlers. The actor forwards its down messages to on_down() (CAF
// keeps one down handler per actor, so the cache cannot install its own).
//
// subscriber_ids: the node hands out subscriber ids from one counter shared
// by everything that subscribes to its owners (peer sessions, event streams,
// local subscriptions), so no two subscribers of a fan-out share an id.
// Any thread.
#pragma once

#include <caf/actor_cast.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_actor.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/doc_owner.hpp"
#include "actors/messages.hpp"

namespace starling::actors {

class subscriber_ids {
 public:
  // Never 0: the fan-out uses 0 for "no origin" (a local write).
  subscriber_id next() { return next_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<subscriber_id> next_{1};
};

// What resolving needs from the node (the node actor has this handler).
using owner_resolver = caf::typed_actor<caf::replies_to<doc_atom, std::string>::with<doc_owner_actor>>;

class owner_cache {
 public:
  using found_fn = std::function<void(const doc_owner_actor&)>;
  using failed_fn = std::function<void(const caf::error&)>;

  owner_cache() = default;
  template <class Handle>
  owner_cache(const Handle& node, caf::timespan timeout)
      : node_(caf::actor_cast<owner_resolver>(node)), timeout_(timeout) {}

  // Calls found with the owner of doc (at once when cached), or failed
  // with the node's error. Calls arrive on `self`, in request order per doc.
  template <class Self>
  void with(Self* self, const std::string& doc, found_fn found, failed_fn failed) {
    if (auto it = owners_.find(doc); it != owners_.end()) return found(it->second);
    auto& waiting = waiting_[doc];
    waiting.emplace_back(std::move(found), std::move(failed));
    if (waiting.size() > 1) return;  // a lookup is under way
    self->request(node_, timeout_, doc_atom::value, doc)
        .then(
            [this, self, doc](const doc_owner_actor& owner) {
              auto ws = take_waiting(doc);
              // The owner may already be down: the monitor then reports
              // it at once and on_down drops it again.
              if (auto it = owners_.find(doc); it == owners_.end() || it->second != owner) {
                self->monitor(owner);
                names_[owner.address()] = doc;
              }
              owners_[doc] = owner;
              for (auto& w : ws) w.first(owner);
            },
            [this, doc](const caf::error& e) {
              for (auto& w : take_waiting(doc)) w.second(e);
            });
  }

  // Caches and watches an owner the caller resolved itself.
  template <class Self>
  void adopt(Self* self, const std::string& doc, const doc_owner_actor& owner) {
    if (auto it = owners_.find(doc); it != owners_.end() && it->second == owner) return;
    self->monitor(owner);
    names_[owner.address()] = doc;
    owners_[doc] = owner;
  }

  // The cached owner of doc, if any.
  const doc_owner_actor* find(const std::string& doc) const {
    auto it = owners_.find(doc);
    return it == owners_.end() ? nullptr : &it->second;
  }

  // From the actor's down handler: the document whose owner went down, if
  // the message is about a cached owner (which is dropped).
  std::optional<std::string> on_down(const caf::down_msg& dm) {
    auto it = names_.find(dm.source);
    if (it == names_.end()) return std::nullopt;
    auto doc = std::move(it->second);
    names_.erase(it);
    auto o = owners_.find(doc);
    if (o != owners_.end() && o->second.address() == dm.source) owners_.erase(o);
    return doc;
  }

  // Every cached owner (e.g. to unsubscribe from all when a session ends).
  template <class F>
  void for_each(F f) const {
    for (auto& [doc, owner] : owners_) f(doc, owner);
  }

 private:
  std::vector<std::pair<found_fn, failed_fn>> take_waiting(const std::string& doc) {
    auto it = waiting_.find(doc);
    if (it == waiting_.end()) return {};
    auto ws = std::move(it->second);
    waiting_.erase(it);
    return ws;
  }

  owner_resolver node_;
  caf::timespan timeout_{std::chrono::seconds(30)};
  std::map<std::string, doc_owner_actor> owners_;
  std::map<caf::actor_addr, std::string> names_;
  std::map<std::string, std::vector<std::pair<found_fn, failed_fn>>> waiting_;
};

}  // namespace starling::actors
