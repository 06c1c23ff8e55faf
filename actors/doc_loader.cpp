#include "actors/doc_loader.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/errors.hpp"
#include "persistence/document_loader.hpp"

namespace starling::actors {

doc_loader_actor spawn_doc_loader(caf::actor_system& sys, std::shared_ptr<persistence::store> store,
                                  crdt::document_limits limits) {
  // The store holds every committed change: a loaded document keeps only
  // those on their way to it (about 280 bytes a change less in memory).
  limits.retain_log = false;
  return sys.spawn<caf::detached>([store, limits](doc_loader_actor::pointer) -> doc_loader_actor::behavior_type {
    return {
        [store, limits](load_atom, const std::string& name) -> caf::result<loaded_document> {
          auto loaded =
              persistence::load_document(*store, name, limits, nullptr, persistence::stored_change_log(store, name));
          if (!loaded) return make_error(errc::storage, "loading " + name + ": " + loaded.error());
          auto end = store->log_end(name);
          if (!end) return from_store(end.error());
          return loaded_document{std::make_shared<crdt::document>(std::move(*loaded)), *end};
        },
    };
  });
}

}  // namespace starling::actors
