#include "kargo/core/log.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "kargo/core/time.hpp"

namespace kargo::log {
namespace {

thread_local std::string_view t_request_id;
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_init_mutex;
std::shared_ptr<spdlog::logger> g_logger;
std::atomic<spdlog::logger*> g_fast_logger{nullptr};

const char* level_name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warning";
    case Level::kError:
      return "error";
    case Level::kCritical:
      return "critical";
  }
  return "info";
}

Level parse_level(std::string_view s) {
  if (s == "trace" || s == "debug") return Level::kDebug;
  if (s == "warn" || s == "warning") return Level::kWarn;
  if (s == "error") return Level::kError;
  if (s == "critical") return Level::kCritical;
  return Level::kInfo;
}

std::shared_ptr<spdlog::logger> logger() {
  std::lock_guard lock(g_init_mutex);
  if (!g_logger) {
    // Lines are formatted on the caller's thread and written by spdlog's one background
    // thread. When the queue is full the oldest line is dropped rather than blocking an I/O
    // thread on a slow stdout.
    spdlog::init_thread_pool(8192, 1);
    auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    g_logger = std::make_shared<spdlog::async_logger>("kargo", std::move(sink), spdlog::thread_pool(),
                                                      spdlog::async_overflow_policy::overrun_oldest);
    g_logger->set_pattern("%v");
    g_logger->set_level(spdlog::level::trace);
    g_logger->flush_on(spdlog::level::trace);
    g_fast_logger.store(g_logger.get(), std::memory_order_release);
  }
  return g_logger;
}

spdlog::logger* fast_logger() {
  if (auto* l = g_fast_logger.load(std::memory_order_acquire)) return l;
  return logger().get();
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void init(std::string_view level) {
  g_level.store(static_cast<int>(parse_level(level)));
  logger();
}

void shutdown() {
  std::shared_ptr<spdlog::logger> l;
  {
    std::lock_guard lock(g_init_mutex);
    l = g_logger;
  }
  if (l) l->flush();
}

bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view msg, Fields fields) {
  if (!enabled(level)) return;
  std::string line;
  line.reserve(160 + msg.size());
  line += "{\"ts\":\"";
  line += format_timestamp_millis(std::chrono::system_clock::now());
  line += "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"msg\":";
  append_json_string(line, msg);
  line += ",\"request_id\":";
  if (t_request_id.empty()) {
    line += "null";
  } else {
    append_json_string(line, t_request_id);
  }
  for (const auto& f : fields) {
    line += ',';
    append_json_string(line, f.key);
    line += ':';
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            append_json_string(line, v);
          } else if constexpr (std::is_same_v<T, bool>) {
            line += v ? "true" : "false";
          } else if constexpr (std::is_same_v<T, double>) {
            line += fmt::format("{:.3f}", v);
          } else {
            line += std::to_string(v);
          }
        },
        f.value);
  }
  line += '}';
  static const spdlog::level::level_enum kMap[] = {spdlog::level::debug, spdlog::level::info,
                                                   spdlog::level::warn, spdlog::level::err,
                                                   spdlog::level::critical};
  fast_logger()->log(kMap[static_cast<int>(level)], "{}", line);
}

RequestScope::RequestScope(std::string_view request_id) : previous_(t_request_id) {
  t_request_id = request_id;
}
RequestScope::~RequestScope() { t_request_id = previous_; }

}  // namespace kargo::log
