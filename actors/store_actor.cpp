#include "actors/store_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/errors.hpp"

namespace starling::actors {

namespace {

struct queued_commit {
  persistence::write_batch batch;
  caf::typed_response_promise<persistence::commit_result> promise;
};

struct store_state {
  static inline const char* name = "store";
  std::shared_ptr<persistence::store> st;
  store_limits limits;
  std::shared_ptr<node_metrics> metrics;
  std::vector<queued_commit> queue;
  bool flush_scheduled = false;
};

// Only batches of plain changes may share a transaction with others.
bool groupable(const persistence::write_batch& b) {
  for (auto& item : b.items())
    if (!std::holds_alternative<persistence::write_batch::change_item>(item)) return false;
  return true;
}

void deliver(queued_commit& q, const expected<persistence::commit_result, persistence::store_error>& r) {
  if (r) q.promise.deliver(*r);
  else q.promise.deliver(from_store(r.error()));
}

expected<persistence::commit_result, persistence::store_error> timed_commit(store_state& s,
                                                                           persistence::write_batch&& b) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = s.st->commit(std::move(b));
  if (s.metrics) {
    s.metrics->observe_commit(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0));
    if (!r) s.metrics->commit_failures.fetch_add(1, std::memory_order_relaxed);
  }
  return r;
}

void commit_alone(store_state& s, queued_commit& q) { deliver(q, timed_commit(s, std::move(q.batch))); }

// Commits queue[first, last) in one transaction and splits the result back.
void commit_group(store_state& s, std::vector<queued_commit>& group) {
  if (group.size() == 1) return commit_alone(s, group[0]);
  persistence::write_batch all;
  std::vector<std::size_t> counts;
  std::vector<persistence::write_batch> copies;  // kept to retry one by one
  copies.reserve(group.size());
  for (auto& q : group) {
    counts.push_back(q.batch.change_count());
    copies.push_back(q.batch);
    for (auto& item : q.batch.items()) {  // groupable: change items only
      auto& c = std::get<persistence::write_batch::change_item>(item);
      all.add_change(c.doc, c.hash, c.author, c.seq, c.encoded);
    }
  }
  auto r = timed_commit(s, std::move(all));
  if (!r) {
    for (std::size_t i = 0; i < group.size(); ++i) {
      group[i].batch = std::move(copies[i]);
      commit_alone(s, group[i]);
    }
    return;
  }
  std::size_t at = 0;
  for (std::size_t i = 0; i < group.size(); ++i) {
    persistence::commit_result part;
    for (std::size_t k = 0; k < counts[i]; ++k, ++at) {
      auto o = r->outcomes[at];
      part.outcomes.push_back(o);
      (o == persistence::change_outcome::stored ? part.stored : part.duplicates)++;
    }
    group[i].promise.deliver(std::move(part));
  }
}

void flush(store_state& s) {
  s.flush_scheduled = false;
  auto queue = std::move(s.queue);
  s.queue.clear();
  std::vector<queued_commit> group;
  std::size_t group_changes = 0;
  for (auto& q : queue) {
    if (!groupable(q.batch)) {
      if (!group.empty()) commit_group(s, group), group.clear(), group_changes = 0;
      commit_alone(s, q);
      continue;
    }
    if (!group.empty() && group_changes + q.batch.change_count() > s.limits.max_group_changes)
      commit_group(s, group), group.clear(), group_changes = 0;
    group_changes += q.batch.change_count();
    group.push_back(std::move(q));
  }
  if (!group.empty()) commit_group(s, group);
}

store_actor::behavior_type store_behavior(store_actor::stateful_pointer<store_state> self,
                                          std::shared_ptr<persistence::store> st, store_limits limits,
                                          std::shared_ptr<node_metrics> metrics) {
  self->state.st = std::move(st);
  self->state.metrics = std::move(metrics);
  self->state.limits = limits;
  return {
      [=](commit_atom, persistence::write_batch& b) -> caf::typed_response_promise<persistence::commit_result> {
        auto p = self->make_response_promise<persistence::commit_result>();
        self->state.queue.push_back({std::move(b), p});
        if (!self->state.flush_scheduled) {
          self->state.flush_scheduled = true;
          self->send(self, flush_atom::value);
        }
        return p;
      },
      [=](flush_atom) { flush(self->state); },
  };
}

}  // namespace

store_actor spawn_store_actor(caf::actor_system& sys, std::shared_ptr<persistence::store> st, store_limits limits,
                              std::shared_ptr<node_metrics> metrics) {
  return sys.spawn<caf::detached>(store_behavior, std::move(st), limits, std::move(metrics));
}

}  // namespace starling::actors
