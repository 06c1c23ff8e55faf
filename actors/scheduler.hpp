// Applies scheduler_settings to an actor system's configuration, before the
// system is made. Any thread.
#pragma once

#include <caf/actor_system_config.hpp>

#include "actors/config.hpp"

namespace starling::actors {

void apply_scheduler_settings(const scheduler_settings& s, caf::actor_system_config& cfg);

}  // namespace starling::actors
