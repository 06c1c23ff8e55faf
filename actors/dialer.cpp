#include "actors/dialer.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <random>

#include "actors/errors.hpp"
#include "actors/log.hpp"
#include "net/dial.hpp"
#include "net/runtime.hpp"

namespace starling::actors {

namespace {

struct dialer_state {
  static inline const char* name = "dialer";
  std::string url;
  std::shared_ptr<link_context> ctx;
  doc_resolver node;
  link_registry registry;
  std::shared_ptr<net::runtime> rt;
  dialer_settings settings;
  time_source clock;
  std::mt19937_64 rng;
  link_actor link;
  dialer_status status;
  std::string attempt_error;  // the current attempt's dial failure, if any
  std::chrono::steady_clock::time_point link_started;
  // Bumped on every attempt: a retry timer from an earlier attempt (before
  // a re-arm) must not start a second one.
  std::uint64_t generation = 0;
  bool refused = false;  // a refusal that waiting cannot change: no retries until re-armed
  bool stopped = false;
};

using self_ptr = dialer_actor::stateful_pointer<dialer_state>;

void retry_later(self_ptr self, const std::string& error) {
  auto& s = self->state;
  if (s.stopped) return;
  auto failures = ++s.status.consecutive_failures;
  s.status.last_error = error;
  auto cap = s.settings.base_backoff * (std::int64_t{1} << std::min<std::uint64_t>(failures - 1, 20));
  cap = std::min(cap, s.settings.max_backoff);
  std::uniform_int_distribution<std::int64_t> jitter(0, cap.count());
  std::chrono::milliseconds delay(jitter(s.rng));
  s.status.state = "waiting";
  s.status.next_retry_in = delay;
  log::write(static_cast<int>(failures) >= s.settings.error_after ? log::level::error : log::level::warn, "dialer",
             "dial failed", {{"url", s.url}, {"failures", std::to_string(failures)}, {"error", error},
                             {"retry_in_ms", std::to_string(delay.count())}});
  self->delayed_send(self, delay, dial_atom::value, s.generation);
}

// The peer (or this node's handshake) refused in a way that no amount of
// waiting changes: dialing again would only repeat the refusal and fill the
// peer's log. The dialer stays down, saying why, until it is re-armed (the
// peer URL added again, or this node's trust changing).
void stop_refused(self_ptr self, const std::string& why) {
  auto& s = self->state;
  ++s.status.consecutive_failures;
  s.refused = true;
  s.status.state = "refused: " + why;
  s.status.last_error = why;
  s.status.next_retry_in = std::chrono::milliseconds(0);
  log::write(log::level::error, "dialer", "refused; not dialing again until the configuration changes",
             {{"url", s.url}, {"error", why}});
}

void dial(self_ptr self) {
  auto& st = self->state;
  if (st.stopped || st.link) return;
  ++st.generation;
  ++st.status.attempts;
  st.status.state = "connecting";
  st.link_started = st.clock.steady();
  st.link = spawn_link(self->system(), st.ctx, st.node, st.ctx->cfg.join_token);
  self->monitor(st.link);
  caf::anon_send(st.registry, register_atom::value, st.link);
  auto me = caf::actor_cast<dialer_actor>(self);
  // The link is ended by the dialer itself when the dial fails, after it
  // recorded why: its down message then always finds the reason (the link
  // and this callback race otherwise, and last_error lagged one attempt).
  net::dial(*st.rt, st.url, make_bridge(st.link),
            [me](const std::shared_ptr<net::ws_connection>& conn, const std::string& error) {
              if (!conn) caf::anon_send(me, failed_atom::value, error);
            },
            st.rt->config());
}

}  // namespace

bool permanent_refusal(const caf::error& reason) {
  // category() of an empty error is undefined in this actor library version.
  return reason && reason.category() == error_category && static_cast<errc>(reason.code()) == errc::refused;
}

dialer_actor spawn_dialer(caf::actor_system& sys, std::string url, std::shared_ptr<link_context> ctx,
                          doc_resolver node, link_registry registry, std::shared_ptr<net::runtime> rt,
                          dialer_settings settings) {
  return sys.spawn([=](self_ptr self) -> dialer_actor::behavior_type {
    auto& s = self->state;
    s.url = url;
    s.ctx = ctx;
    s.node = node;
    s.registry = registry;
    s.rt = rt;
    s.settings = settings;
    s.clock = ctx->cfg.clock;
    // Each dialer draws its own stream from the node's seed and its URL, so
    // a replayed seed gives every dialer the same jitter again.
    s.rng.seed(ctx->cfg.seed ^ std::hash<std::string>{}(url));
    s.status.url = url;
    self->set_down_handler([=](const caf::down_msg& dm) {
      auto& st = self->state;
      if (dm.source != st.link.address()) return;
      st.link = nullptr;
      // A link that lasted was a good connection: start the backoff over.
      if (st.clock.steady() - st.link_started > st.settings.good_connection) st.status.consecutive_failures = 0;
      // Why this attempt ended: the dial failure, else how the session ended.
      std::string why = std::move(st.attempt_error);
      st.attempt_error.clear();
      if (why.empty() && permanent_refusal(dm.reason)) return stop_refused(self, render_detail(dm.reason));
      if (why.empty() && dm.reason) why = render(dm.reason);
      retry_later(self, why.empty() ? "link ended" : why);
    });
    self->send(self, dial_atom::value, std::uint64_t{0});
    return {
        [=](dial_atom, std::uint64_t generation) {
          // A timer set before a re-arm or a later attempt is stale.
          if (generation != self->state.generation || self->state.refused) return;
          dial(self);
        },
        [=](retry_atom) {
          auto& st = self->state;
          if (!st.refused || st.stopped) return;
          st.refused = false;
          st.status.consecutive_failures = 0;
          log::write(log::level::info, "dialer", "re-armed after a refusal", {{"url", st.url}});
          dial(self);
        },
        [=](failed_atom, const std::string& error) {
          auto& st = self->state;
          st.attempt_error = error;
          if (st.link) self->send_exit(st.link, caf::exit_reason::user_shutdown);
        },
        [=](stop_atom) {
          self->state.stopped = true;
          if (self->state.link) self->send(self->state.link, stop_atom::value);
          self->quit();
        },
        [=](status_atom) -> dialer_status {
          auto st = self->state.status;
          if (self->state.link && st.state == "connecting") st.state = "connected";
          return st;
        },
    };
  });
}

}  // namespace starling::actors
