// The document loader: reads a document's state from the store (a full
// replay of its log, which can take seconds for a long history) on a thread
// of its own, so that no scheduler thread is held by it. The node asks it
// for a document, and spawns the owner with the loaded state.
//
// Threading: a detached actor; load_document only opens read transactions,
// which any thread may do (MDB_NOTLS). One loader per node: documents load
// one after another, while every other actor keeps running.
#pragma once

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <memory>
#include <string>

#include "actors/config.hpp"
#include "actors/messages.hpp"
#include "crdt/document.hpp"
#include "persistence/store.hpp"

namespace starling::actors {

using load_atom = caf::atom_constant<caf::atom("load")>;

// A document as read from the store, handed to its new owner.
struct loaded_document {
  std::shared_ptr<crdt::document> doc;
  std::uint64_t log_end = 0;  // the log index the next stored change gets
};

using doc_loader_actor = caf::typed_actor<caf::replies_to<load_atom, std::string>::with<loaded_document>>;

doc_loader_actor spawn_doc_loader(caf::actor_system& sys, std::shared_ptr<persistence::store> store,
                                  crdt::document_limits limits);

}  // namespace starling::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(starling::actors::loaded_document)
