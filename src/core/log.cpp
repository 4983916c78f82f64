#include "kargo/core/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

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

// Collects lines in a 64 KiB buffer and hands full buffers to a writer thread, which writes them
// to stdout; the writer also flushes the partial buffer when 100 ms pass without a full one. So a request
// costs an append under a short lock, not a write(2) and a thread wake-up per line (stdout_sink flushes every
// line). When stdout cannot keep up (more than 4 MiB waiting) whole buffers are dropped and
// counted, so a slow stdout never blocks an I/O thread.
class BufferedStdoutSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  BufferedStdoutSink() : writer_([this] { write_loop(); }) { buffer_.reserve(kBufferSize); }
  ~BufferedStdoutSink() override {
    {
      std::lock_guard lock(queue_mutex_);
      stop_ = true;
    }
    queue_cv_.notify_all();
    writer_.join();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    buffer_.append(msg.payload.data(), msg.payload.size());
    buffer_ += '\n';
    if (buffer_.size() >= kBufferSize) hand_over();
  }
  void flush_() override { hand_over(); }

 private:
  static constexpr size_t kBufferSize = 64 * 1024;
  static constexpr size_t kMaxQueued = 64;

  void hand_over() {
    if (buffer_.empty()) return;
    {
      std::lock_guard lock(queue_mutex_);
      if (queue_.size() >= kMaxQueued) {
        queue_.pop_front();
        ++dropped_;
      }
      queue_.push_back(std::move(buffer_));
    }
    buffer_ = std::string();
    buffer_.reserve(kBufferSize);
    queue_cv_.notify_one();
  }

  void write_loop() {
    std::unique_lock lock(queue_mutex_);
    for (;;) {
      if (!queue_cv_.wait_for(lock, std::chrono::milliseconds(100),
                              [&] { return stop_ || !queue_.empty(); })) {
        // Quiet for 100 ms: write out the partial buffer too (sink mutex, then queue mutex,
        // the same order as the logging path).
        lock.unlock();
        flush();
        lock.lock();
        continue;
      }
      if (queue_.empty() && stop_) return;
      std::string out = std::move(queue_.front());
      queue_.pop_front();
      uint64_t dropped = std::exchange(dropped_, 0);
      lock.unlock();
      if (dropped) {
        std::string note =
            "{\"level\":\"warning\",\"msg\":\"log buffers dropped: stdout too slow\",\"dropped\":" +
            std::to_string(dropped) + "}\n";
        write_all(note);
      }
      write_all(out);
      lock.lock();
    }
  }

  static void write_all(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(STDOUT_FILENO, data.data() + off, data.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  std::string buffer_;  // guarded by base_sink's mutex
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::string> queue_;
  uint64_t dropped_ = 0;
  bool stop_ = false;
  std::thread writer_;
};

std::shared_ptr<spdlog::logger> logger() {
  std::lock_guard lock(g_init_mutex);
  if (!g_logger) {
    g_logger = std::make_shared<spdlog::logger>("kargo", std::make_shared<BufferedStdoutSink>());
    g_logger->set_pattern("%v");
    g_logger->set_level(spdlog::level::trace);
    g_logger->flush_on(spdlog::level::err);
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
  if (!l) return;
  l->flush();
  // Dropping the last reference joins the writer thread after it wrote everything queued.
  g_fast_logger.store(nullptr, std::memory_order_release);
  spdlog::shutdown();
  {
    std::lock_guard lock(g_init_mutex);
    g_logger.reset();
  }
  l.reset();
}

bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view msg, Fields fields) {
  if (!enabled(level)) return;
  thread_local std::string line;  // keeps its capacity: no allocation per line
  line.clear();
  line += "{\"ts\":\"";
  append_timestamp_millis(line, std::chrono::system_clock::now());
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
            char buf[64];
            auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
            line.append(buf, r.ec == std::errc() ? r.ptr : buf);
          } else {
            char buf[24];
            auto r = std::to_chars(buf, buf + sizeof buf, v);
            line.append(buf, r.ptr);
          }
        },
        f.value);
  }
  line += '}';
  static const spdlog::level::level_enum kMap[] = {spdlog::level::debug, spdlog::level::info,
                                                   spdlog::level::warn, spdlog::level::err,
                                                   spdlog::level::critical};
  fast_logger()->log(kMap[static_cast<int>(level)], spdlog::string_view_t(line.data(), line.size()));
}

RequestScope::RequestScope(std::string_view request_id) : previous_(t_request_id) {
  t_request_id = request_id;
}
RequestScope::~RequestScope() { t_request_id = previous_; }

std::string_view current_request_id() { return t_request_id; }

}  // namespace kargo::log
