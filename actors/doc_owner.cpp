#include "actors/doc_owner.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <unordered_map>
#include <variant>

#include "actors/errors.hpp"
#include "actors/log.hpp"
#include "crdt/hlc.hpp"
#include "persistence/document_loader.hpp"

namespace starling::actors {

namespace {

// Changes waiting for (or in) one commit, and who waits for them.
struct commit_item {
  // An applied change as the store and the fan-out need it: its signed
  // encoding (made once) and its place in the author's chain.
  struct applied_change {
    hash256 hash;
    public_key author;
    std::uint64_t seq;
    bytes encoded;
  };
  std::vector<applied_change> changes;  // in application order
  subscriber_id origin = 0;
  std::variant<std::monostate, caf::typed_response_promise<write_ack>, caf::typed_response_promise<apply_ack>>
      promise;
  write_ack wack;
  apply_ack aack;
  std::vector<crdt::fork_proof> new_forks;  // published to every session after the commit
  std::uint64_t applied_mark = 0;           // the document's applied_total() once these were applied
};

struct doc_owner_state {
  static inline const char* name = "doc_owner";
  std::string doc;
  doc_owner_deps deps;
  node_config cfg;
  std::optional<crdt::document> d;
  fanout_actor fanout;
  std::vector<commit_item> queued;
  bool committing = false;
  std::size_t uncommitted = 0;  // remote changes applied in memory, not yet durable
  std::uint64_t next_log_index = 0;  // what the store gives the next stored change
};

using self_ptr = doc_owner_actor::stateful_pointer<doc_owner_state>;

void fail_item(commit_item& item, const caf::error& e) {
  if (auto* p = std::get_if<caf::typed_response_promise<write_ack>>(&item.promise)) p->deliver(e);
  if (auto* p = std::get_if<caf::typed_response_promise<apply_ack>>(&item.promise)) p->deliver(e);
}

void commit_next(self_ptr self) {
  auto& st = self->state;
  if (st.committing || st.queued.empty()) return;
  auto items = std::make_shared<std::vector<commit_item>>(std::move(st.queued));
  st.queued.clear();
  std::size_t in_batch = 0;
  persistence::write_batch batch;
  bool forks_changed = false;
  for (auto& item : *items) {
    for (auto& c : item.changes) batch.add_change(st.doc, c.hash, c.author, c.seq, c.encoded);
    in_batch += item.changes.size();
    forks_changed = forks_changed || !item.new_forks.empty();
  }
  // The proofs go with the changes: a reload quarantines the author again.
  if (forks_changed)
    batch.put_meta(persistence::fork_proofs_key(st.doc), persistence::encode_fork_proofs(st.d->forks()));
  if (batch.empty()) {  // nothing to store (e.g. only duplicates): reply at once
    st.d->durable_through(items->back().applied_mark);
    for (auto& item : *items)
      if (auto* p = std::get_if<caf::typed_response_promise<apply_ack>>(&item.promise)) p->deliver(item.aack);
    return;
  }
  st.committing = true;
  self->request(st.deps.writer, caf::infinite, commit_atom::value, std::move(batch))
      .then(
          [=](const persistence::commit_result& r) {
            self->state.committing = false;
            self->state.uncommitted -= std::min(self->state.uncommitted, in_batch);
            std::size_t k = 0;  // outcomes are in batch order, one per change
            for (auto& item : *items) {
              if (!item.changes.empty()) {
                auto set = std::make_shared<change_set>();
                set->doc = self->state.doc;
                for (auto& c : item.changes) {
                  bool stored = k >= r.outcomes.size() || r.outcomes[k] == persistence::change_outcome::stored;
                  ++k;
                  if (!stored) continue;  // already in the store: not applied now
                  set->log_index.push_back(self->state.next_log_index++);
                  set->changes.push_back(std::move(c.encoded));
                  set->total_bytes += set->changes.back().size();
                }
                if (!set->changes.empty())
                  self->send(self->state.fanout, publish_atom::value, change_set_ptr(std::move(set)), item.origin);
              }
              for (auto& proof : item.new_forks) {  // to every session, the origin included: it may lack one branch
                auto set = std::make_shared<change_set>();
                set->doc = self->state.doc;
                set->changes = {proof.a, proof.b};
                set->total_bytes = proof.a.size() + proof.b.size();
                set->fork_evidence = true;
                self->send(self->state.fanout, publish_atom::value, change_set_ptr(std::move(set)), subscriber_id{0});
              }
              if (auto* p = std::get_if<caf::typed_response_promise<write_ack>>(&item.promise)) p->deliver(item.wack);
              if (auto* p = std::get_if<caf::typed_response_promise<apply_ack>>(&item.promise)) p->deliver(item.aack);
            }
            self->state.d->durable_through(items->back().applied_mark);
            commit_next(self);
          },
          [=](const caf::error& e) {
            // Memory is ahead of disk now: fail everyone and let the node
            // restart this owner from what the store holds. Everything
            // subscribed to this owner notices it stop and subscribes to
            // the next one.
            if (auto& m = self->state.deps.metrics) m->owner_failures.fetch_add(1, std::memory_order_relaxed);
            log::write(log::level::error, "doc_owner", "commit failed: restarting the document owner",
                       {{"doc", self->state.doc}, {"changes", std::to_string(in_batch)}, {"error", render(e)}});
            for (auto& item : *items) fail_item(item, e);
            for (auto& item : self->state.queued) fail_item(item, e);
            self->state.queued.clear();
            self->quit(e);
          });
}

doc_owner_actor::behavior_type doc_owner_behavior(self_ptr self, std::string doc, loaded_document state,
                                                  doc_owner_deps deps, node_config cfg) {
  auto& st = self->state;
  st.doc = doc;
  st.deps = std::move(deps);
  st.cfg = std::move(cfg);
  st.d.emplace(std::move(*state.doc));
  st.next_log_index = state.log_end;
  st.fanout = spawn_fanout(self, doc, fanout_limits{st.cfg.subscriber_max_changes, st.cfg.subscriber_max_bytes});
  return {
      [=](write_atom, const write_request& req) -> caf::typed_response_promise<write_ack> {
        auto p = self->make_response_promise<write_ack>();
        auto& s = self->state;
        auto c = s.d->make_change(req.mutations, *s.deps.author, static_cast<std::uint64_t>(s.cfg.clock.wall_ms()));
        if (!c) {
          p.deliver(make_error(errc::invalid_mutation, "mutation " + std::to_string(c.error().index) + " at '" +
                                                           c.error().path + "': " + c.error().message));
          return p;
        }
        if (s.deps.metrics) s.deps.metrics->changes_local.fetch_add(1, std::memory_order_relaxed);
        commit_item item;
        item.wack = write_ack{c->hash, s.d->current_frontier()};
        item.applied_mark = s.d->applied_total();
        item.changes.push_back({c->hash, c->author, c->seq, c->encoded});
        item.promise = p;
        s.queued.push_back(std::move(item));
        commit_next(self);
        return p;
      },
      [=](apply_atom, remote_batch& batch) -> caf::typed_response_promise<apply_ack> {
        auto p = self->make_response_promise<apply_ack>();
        auto& s = self->state;
        std::vector<public_key> authors;
        authors.reserve(batch.changes.size());
        for (auto& c : batch.changes) authors.push_back(c.author);
        auto rep = s.d->apply_batch(std::move(batch.changes));
        commit_item item;
        item.origin = batch.origin;
        for (std::size_t i = 0; i < rep.outcomes.size(); ++i) {
          const auto& o = rep.outcomes[i];
          switch (o.status) {
            case crdt::apply_status::duplicate: ++item.aack.duplicates; break;
            case crdt::apply_status::pending: ++item.aack.pending; break;
            case crdt::apply_status::refused:
              if (item.aack.refused++ == 0) {
                item.aack.first_refusal = std::string(crdt::to_string(*o.reason)) + ": " + o.message;
                item.aack.first_reason = o.reason;
                if (i < authors.size()) item.aack.first_author = authors[i];
              }
              break;
            case crdt::apply_status::applied: break;
          }
        }
        item.new_forks = rep.new_forks;
        item.aack.applied = rep.applied.size();
        if (auto& m = s.deps.metrics) {
          m->changes_remote.fetch_add(rep.applied.size(), std::memory_order_relaxed);
          m->changes_duplicate.fetch_add(item.aack.duplicates, std::memory_order_relaxed);
          m->signatures_checked.fetch_add(rep.signatures_checked, std::memory_order_relaxed);
          m->forks_detected.fetch_add(rep.new_forks.size(), std::memory_order_relaxed);
          auto count_refusal = [&](const crdt::change_outcome& o) {
            if (o.status == crdt::apply_status::refused && o.reason)
              m->refused[static_cast<std::size_t>(*o.reason) % node_metrics::codes].fetch_add(
                  1, std::memory_order_relaxed);
          };
          for (auto& o : rep.outcomes) count_refusal(o);
          for (auto& o : rep.late_refusals) count_refusal(o);
        }
        item.changes.reserve(rep.applied.size());
        for (std::size_t i = 0; i < rep.applied.size(); ++i) {
          auto& a = rep.applied_changes[i];
          item.changes.push_back({rep.applied[i], a.author, a.seq, std::move(a.encoded)});
        }
        // The session may send the next batch while this one commits: the
        // verdicts are known now, and a crash before the commit loses only
        // what the peer still holds and sends again. Past the bound, the
        // session waits for the commit, so memory cannot run ahead of disk.
        item.applied_mark = s.d->applied_total();
        s.uncommitted += item.changes.size();
        if (s.uncommitted <= s.cfg.max_uncommitted_changes) p.deliver(item.aack);
        else item.promise = p;
        s.queued.push_back(std::move(item));
        commit_next(self);
        return p;
      },
      [=](read_atom, const std::string& pointer) -> read_reply {
        auto v = self->state.d->read(pointer);
        if (!v) return read_reply{false, {}};
        return read_reply{true, v->dump()};
      },
      [=](frontier_atom) -> frontier { return self->state.d->current_frontier(); },
      [=](status_atom) -> doc_status {
        auto& d = *self->state.d;
        return doc_status{self->state.doc, d.current_frontier(), d.change_count(), d.pending_count(),
                          d.forks().size(), 0, to_hex(d.digest())};
      },
      [=](subscribe_atom a, subscriber_id id, const subscriber_actor& sub) -> bool {
        // Publishing goes through this actor too, after it: ordered.
        self->send(self->state.fanout, a, id, sub);
        return true;
      },
      [=](unsubscribe_atom a, subscriber_id id) { self->send(self->state.fanout, a, id); },
      [=](ack_atom a, subscriber_id id, std::uint64_t n, std::uint64_t bytes) {
        self->send(self->state.fanout, a, id, n, bytes);
      },
  };
}

}  // namespace

doc_owner_actor spawn_doc_owner(caf::actor_system& sys, std::string doc, loaded_document state,
                                doc_owner_deps deps, const node_config& cfg) {
  return sys.spawn(doc_owner_behavior, std::move(doc), std::move(state), std::move(deps), cfg);
}

}  // namespace starling::actors
