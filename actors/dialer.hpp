// The dialer: one per configured peer URL. It connects, runs a link over
// the connection, and when the link ends (or the connection fails) dials
// again after an exponential backoff with full jitter: a random delay in
// [0, min(max_backoff, base * 2^failures)], 1 s doubling to 30 s by
// default. A link that lasted dialer_settings::good_connection (10 s)
// resets the backoff. Each failure is
// logged as WARN, from the 10th consecutive one as ERROR.
//
// A refusal that waiting cannot change (a join token that is invalid, used
// or expired, an untrusted or revoked key, no protocol version in common)
// stops the dialer: its status says `refused: <code>: <reason>` and it does
// not dial again until re-armed by `retry_atom` (the node sends it when the
// same peer URL is added again or this node's trust changes). Its jitter is
// drawn from node_config::seed, its durations from node_config::clock.
#pragma once

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "actors/peer_link.hpp"

namespace starling::net {
class runtime;
}

namespace starling::actors {

using dial_atom = caf::atom_constant<caf::atom("dial")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;  // re-arm a dialer stopped by a refusal


using dialer_actor = caf::typed_actor<caf::reacts_to<dial_atom, std::uint64_t>,  // a retry timer (its attempt)
                                      caf::reacts_to<retry_atom>,
                                      caf::reacts_to<failed_atom, std::string>,
                                      caf::reacts_to<stop_atom>,
                                      caf::replies_to<status_atom>::with<dialer_status>>;

// Where a dialer registers each link it starts (the node).
using link_registry = caf::typed_actor<caf::reacts_to<register_atom, link_actor>>;

// Whether a link ended with a refusal that waiting cannot change.
bool permanent_refusal(const caf::error& reason);

dialer_actor spawn_dialer(caf::actor_system& sys, std::string url, std::shared_ptr<link_context> ctx,
                          doc_resolver node, link_registry registry, std::shared_ptr<net::runtime> rt,
                          dialer_settings settings = {});

}  // namespace starling::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::dialer_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<starling::actors::dialer_status>)
