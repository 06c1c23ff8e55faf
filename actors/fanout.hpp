// The fan-out actor of one document: broadcasts committed changes to its
// subscribers (peer sessions, local watchers) except the one they came from.
//
// Each subscriber acknowledges what it has consumed; what is sent but not
// acknowledged is its backlog, bounded in changes and bytes. A subscriber
// past either bound gets `lagged` and is detached, so a slow peer never
// slows the writer or the other subscribers; it resumes by delta.
#pragma once

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include "actors/messages.hpp"

namespace caf {
class local_actor;
}

namespace starling::actors {

using subscriber_actor = caf::typed_actor<caf::reacts_to<live_atom, change_set_ptr>,
                                          caf::reacts_to<lagged_atom, std::string>>;

using fanout_actor = caf::typed_actor<
    caf::reacts_to<publish_atom, change_set_ptr, subscriber_id>,
    caf::reacts_to<subscribe_atom, subscriber_id, subscriber_actor>,
    caf::reacts_to<unsubscribe_atom, subscriber_id>,
    caf::reacts_to<ack_atom, subscriber_id, std::uint64_t, std::uint64_t>,
    caf::replies_to<status_atom>::with<std::size_t>>;

struct fanout_limits {
  std::size_t max_changes = 10'000;       // unacknowledged changes per subscriber
  std::size_t max_bytes = 16u << 20;      // unacknowledged bytes per subscriber
};

// Spawns a fan-out linked to `parent` (its document owner).
fanout_actor spawn_fanout(caf::local_actor* parent, std::string doc, fanout_limits limits);

}  // namespace starling::actors
