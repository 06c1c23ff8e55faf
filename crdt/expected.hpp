// A minimal expected<T, E>: the value or the error, never an exception.
// Used by every decoder and by operations that can be refused.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace starling {

template <class E>
struct unexpected {
  E error;
};
template <class E>
unexpected<std::decay_t<E>> make_unexpected(E&& e) {
  return {std::forward<E>(e)};
}

template <class T, class E>
class expected {
 public:
  expected(T v) : v_(std::in_place_index<0>, std::move(v)) {}
  expected(unexpected<E> e) : v_(std::in_place_index<1>, std::move(e.error)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const E& error() const { assert(!has_value()); return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace starling
