#pragma once
// Asynchronous answers: a value or the kargo::Error that stands in for it, handed to a callback
// (the shape of every non-blocking call in the service: upstream clients, services that wait on
// upstreams, the database pool's continuations).
//
//   void fetch(std::string url, Completion<Snippet> done);          // done(Snippet) or done(Error)
//   done(capture<Page>([&] { return parse(response); }));          // a throw becomes the Error
//   Snippet s = await_result<Snippet>([&](auto done) { fetch(url, std::move(done)); });  // jobs only

#include <exception>
#include <functional>
#include <future>
#include <variant>

#include "kargo/core/error.hpp"
#include "kargo/core/error_codes.hpp"

namespace kargo {

template <class T>
using Result = std::variant<T, Error>;
template <class T>
using Completion = std::function<void(Result<T>)>;
using Done = std::monostate;  // the value of a call that answers nothing but success

template <class T>
bool failed(const Result<T>& r) {
  return std::holds_alternative<Error>(r);
}
// The value, or throws the Error.
template <class T>
T take(Result<T>&& r) {
  if (auto* e = std::get_if<Error>(&r)) throw std::move(*e);
  return std::move(std::get<T>(r));
}

// Runs `fn`; its value, or the kargo::Error it threw. Any other exception is a bug: it becomes
// 500 INTERNAL_ERROR "internal error" (the detail goes to the log through the error's internal
// message), so a callback is never left without an answer.
template <class T, class Fn>
Result<T> capture(Fn&& fn) {
  try {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      return Done{};
    } else {
      return fn();
    }
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    return Error(codes::kInternal, "internal error", e.what());
  }
}

// Blocks the calling thread until `start`'s completion runs: the one sync-over-async bridge, for
// job worker threads only (never an I/O thread, a database pool thread or an upstream client
// thread). Throws the Error.
template <class T>
T await_result(const std::function<void(Completion<T>)>& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> r) { promise->set_value(std::move(r)); });
  return take(future.get());
}

}  // namespace kargo
