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
  caf::actor registry;
  std::shared_ptr<net::runtime> rt;
  dialer_settings settings;
  std::mt19937_64 rng{std::random_device{}()};
  link_actor link;
  dialer_status status;
  std::string attempt_error;  // the current attempt's dial failure, if any
  std::chrono::steady_clock::time_point retry_at;
  std::chrono::steady_clock::time_point link_started;
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
  s.retry_at = std::chrono::steady_clock::now() + delay;
  log::write(static_cast<int>(failures) >= s.settings.error_after ? log::level::error : log::level::warn, "dialer",
             "dial failed", {{"url", s.url}, {"failures", std::to_string(failures)}, {"error", error},
                             {"retry_in_ms", std::to_string(delay.count())}});
  self->delayed_send(self, delay, dial_atom::value);
}

}  // namespace

dialer_actor spawn_dialer(caf::actor_system& sys, std::string url, std::shared_ptr<link_context> ctx,
                          doc_resolver node, caf::actor registry, std::shared_ptr<net::runtime> rt,
                          dialer_settings settings) {
  return sys.spawn([=](self_ptr self) -> dialer_actor::behavior_type {
    auto& s = self->state;
    s.url = url;
    s.ctx = ctx;
    s.node = node;
    s.registry = registry;
    s.rt = rt;
    s.settings = settings;
    s.status.url = url;
    self->set_down_handler([=](const caf::down_msg& dm) {
      auto& st = self->state;
      if (dm.source != st.link.address()) return;
      st.link = nullptr;
      // A link that lasted was a good connection: start the backoff over.
      if (std::chrono::steady_clock::now() - st.link_started > st.settings.good_connection)
        st.status.consecutive_failures = 0;
      // Why this attempt ended: the dial failure, else how the session
      // ended; status.last_error keeps it until the next failure.
      std::string why = std::move(st.attempt_error);
      st.attempt_error.clear();
      if (why.empty() && dm.reason) why = render(dm.reason);
      retry_later(self, why.empty() ? "link ended" : why);
    });
    self->send(self, dial_atom::value);
    return {
        [=](dial_atom) {
          auto& st = self->state;
          if (st.stopped || st.link) return;
          ++st.status.attempts;
          st.status.state = "connecting";
          st.link_started = std::chrono::steady_clock::now();
          st.link = spawn_link(self->system(), st.ctx, st.node, st.ctx->cfg.join_token);
          self->monitor(st.link);
          caf::anon_send(st.registry, register_atom::value, caf::actor_cast<caf::actor>(st.link));
          auto me = caf::actor_cast<dialer_actor>(self);
          auto link = st.link;
          net::dial(*st.rt, st.url, make_bridge(st.link),
                    [me, link](const std::shared_ptr<net::ws_connection>& conn, const std::string& error) {
                      if (!conn) {
                        caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
                        caf::anon_send(me, failed_atom::value, error);
                      }
                    },
                    st.rt->config());
        },
        [=](failed_atom, const std::string& error) {
          // The link is shut down by the callback; its down message retries.
          self->state.attempt_error = error;
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
