#include "actors/scheduler.hpp"

namespace starling::actors {

void apply_scheduler_settings(const scheduler_settings& s, caf::actor_system_config& cfg) {
  if (s.threads) cfg.set("scheduler.max-threads", s.threads);
  cfg.set("work-stealing.moderate-poll-attempts", s.poll_attempts);
  cfg.set("work-stealing.moderate-sleep-duration", caf::timespan{s.poll_interval});
}

}  // namespace starling::actors
