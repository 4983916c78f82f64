#pragma once
// Structured logging: one JSON object per line on stdout (contract section 8).
//
//   log::info("migration applied", {{"version", 3}, {"name", "0003_jobs.sql"}});
//
// Every line has ts, level, msg and request_id (the id of the request being served on this
// thread, set with log::RequestScope, or null). Lines are written by a background thread, so a
// slow stdout never blocks an I/O thread. Never pass secrets, passwords or tokens as fields.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace kargo::log {

enum class Level { kDebug, kInfo, kWarn, kError, kCritical };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, int v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, long v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, unsigned long v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, long long v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  std::variant<std::string_view, int64_t, double, bool> value;
};
using Fields = std::initializer_list<Field>;

// Sets the level ("debug".."critical") and starts the writer thread. Safe to call again.
void init(std::string_view level);
// Flushes and stops the writer (at exit).
void shutdown();
bool enabled(Level level);
void write(Level level, std::string_view msg, Fields fields);

inline void debug(std::string_view msg, Fields f = {}) { write(Level::kDebug, msg, f); }
inline void info(std::string_view msg, Fields f = {}) { write(Level::kInfo, msg, f); }
inline void warn(std::string_view msg, Fields f = {}) { write(Level::kWarn, msg, f); }
inline void error(std::string_view msg, Fields f = {}) { write(Level::kError, msg, f); }
inline void critical(std::string_view msg, Fields f = {}) { write(Level::kCritical, msg, f); }

// Makes `request_id` the id of every line logged on this thread while the scope lives.
class RequestScope {
 public:
  explicit RequestScope(std::string_view request_id);
  ~RequestScope();
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;

 private:
  std::string_view previous_;
};

// The id of the innermost RequestScope on this thread, "" outside any (outbound calls forward it
// as X-Request-ID). Valid only while that scope lives: copy it to keep it.
std::string_view current_request_id();

// JSON string escaping shared with anything else that writes JSON text by hand.
void append_json_string(std::string& out, std::string_view s);

}  // namespace kargo::log
