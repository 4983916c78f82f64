// upstream_client_bench: closed-loop load through the service's own outbound HTTP stack, to compare
// with wrk against the same sandbox route (scripts/bench.sh).
//
//   upstream_client_bench URL [--concurrency 64] [--duration 10] [--warmup 1]
//                             [--mode client|channel|kargo|both|all] [--threads 1] [--timeout-ms 10000]
//
// N callers each keep one call in flight for D seconds (after a warm-up that opens the
// connections), through HttpClient::send (client), UpstreamChannel::call (channel: retries off,
// breaker and metrics on, the channel's own cost) and/or KargoClient::fetch_snippet (kargo: the
// whole snippet path of the service, allow-list and redirect check included; the URL's host is
// the allow-list). `both` is client + channel, `all` adds kargo. One line per mode, key=value,
// for scripts:
//
//   mode=client concurrency=64 duration_s=10 requests=81234 errors=0 rps=8123.4 p50_ms=7.61 p99_ms=14.2
//   connections=64
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "kargo/core/metrics.hpp"
#include "kargo/upstream/channel.hpp"
#include "kargo/upstream/http_client.hpp"
#include "kargo/upstream/kargo_client.hpp"

using namespace kargo;
using namespace kargo::upstream;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string url;
  unsigned concurrency = 64;
  double duration_s = 10;
  double warmup_s = 1;
  std::string mode = "both";
  unsigned threads = 1;
  unsigned timeout_ms = 10000;
};

[[noreturn]] void usage(const char* why) {
  std::cerr << "error: " << why
            << "\nusage: upstream_client_bench URL [--concurrency N] [--duration S] [--warmup S]"
               " [--mode client|channel|kargo|both|all] [--threads N] [--timeout-ms MS]\n";
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + arg).c_str());
      return argv[++i];
    };
    try {
      if (arg == "--concurrency") {
        a.concurrency = static_cast<unsigned>(std::stoul(value()));
      } else if (arg == "--duration") {
        a.duration_s = std::stod(value());
      } else if (arg == "--warmup") {
        a.warmup_s = std::stod(value());
      } else if (arg == "--mode") {
        a.mode = value();
      } else if (arg == "--threads") {
        a.threads = static_cast<unsigned>(std::stoul(value()));
      } else if (arg == "--timeout-ms") {
        a.timeout_ms = static_cast<unsigned>(std::stoul(value()));
      } else if (!arg.empty() && arg[0] != '-' && a.url.empty()) {
        a.url = arg;
      } else {
        usage(("unknown argument " + arg).c_str());
      }
    } catch (const std::logic_error&) {
      usage(("bad value for " + arg).c_str());
    }
  }
  if (a.url.empty()) usage("URL is required");
  if (!parse_url(a.url)) usage("URL must be an absolute http(s) URL");
  if (a.concurrency == 0 || a.duration_s <= 0) usage("concurrency and duration must be positive");
  if (a.mode != "client" && a.mode != "channel" && a.mode != "kargo" && a.mode != "both" && a.mode != "all") {
    usage("mode is client, channel, kargo, both or all");
  }
  return a;
}

// Keeps `concurrency` calls in flight until told to stop; records the latency of every call
// that both started after the warm-up and finished before the end.
class Driver {
 public:
  using Issue = std::function<void(std::function<void(bool ok)>)>;

  Driver(Issue issue, const Args& args) : issue_(std::move(issue)), args_(args) {}

  void run() {
    start_ = Clock::now();
    measure_from_ =
        start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args_.warmup_s));
    measure_to_ = measure_from_ + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(args_.duration_s));
    in_flight_ = args_.concurrency;
    for (unsigned i = 0; i < args_.concurrency; ++i) next();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return in_flight_ == 0; });
  }

  void report(const std::string& mode, uint64_t connections) {
    std::sort(latencies_ms_.begin(), latencies_ms_.end());
    auto pct = [&](double q) {
      if (latencies_ms_.empty()) return 0.0;
      auto idx = static_cast<size_t>(q * static_cast<double>(latencies_ms_.size() - 1));
      return latencies_ms_[idx];
    };
    std::printf(
        "mode=%s concurrency=%u duration_s=%.1f requests=%zu errors=%llu rps=%.1f p50_ms=%.2f p99_ms=%.2f "
        "connections=%llu\n",
        mode.c_str(), args_.concurrency, args_.duration_s, latencies_ms_.size(),
        static_cast<unsigned long long>(errors_),
        static_cast<double>(latencies_ms_.size()) / args_.duration_s, pct(0.50), pct(0.99),
        static_cast<unsigned long long>(connections));
    std::fflush(stdout);
  }

 private:
  void next() {
    auto started = Clock::now();
    if (started >= measure_to_) {
      std::lock_guard lock(mutex_);
      if (--in_flight_ == 0) done_.notify_all();
      return;
    }
    issue_([this, started](bool ok) {
      auto ended = Clock::now();
      if (started >= measure_from_ && ended <= measure_to_) {
        std::lock_guard lock(mutex_);
        if (ok) {
          latencies_ms_.push_back(std::chrono::duration<double, std::milli>(ended - started).count());
        } else {
          ++errors_;
        }
      }
      next();
    });
  }

  Issue issue_;
  const Args& args_;
  Clock::time_point start_, measure_from_, measure_to_;
  std::mutex mutex_;
  std::condition_variable done_;
  unsigned in_flight_ = 0;
  std::vector<double> latencies_ms_;
  uint64_t errors_ = 0;
};

HttpClientOptions client_options(const Args& args) {
  HttpClientOptions o;
  o.timeout = std::chrono::milliseconds(args.timeout_ms);
  o.io_threads = args.threads;
  o.max_idle_per_host = std::max<std::size_t>(64, args.concurrency);
  return o;
}

void bench_client(const Args& args) {
  HttpClient client(client_options(args));
  Driver driver(
      [&](std::function<void(bool)> done) {
        client.send({.url = args.url},
                    [done = std::move(done)](HttpResult r) { done(r.ok() && r.response().status < 400); });
      },
      args);
  driver.run();
  driver.report("client", client.connections_opened());
}

void bench_channel(const Args& args) {
  HttpClient client(client_options(args));
  Metrics metrics;
  ChannelOptions options{.service = "bench"};
  options.retry.max_retries = 0;  // measure the path, not the upstream's failures
  UpstreamChannel channel(client, metrics, options);
  Driver driver(
      [&](std::function<void(bool)> done) {
        channel.call(
            {.endpoint = "/bench", .request = {.url = args.url}},
            [done = std::move(done)](UpstreamResult r) { done(r.ok() && r.response().status < 400); });
      },
      args);
  driver.run();
  driver.report("channel", client.connections_opened());
}

void bench_kargo(const Args& args) {
  HttpClient client(client_options(args));
  Metrics metrics;
  ChannelOptions options{.service = "kargo"};
  options.retry.max_retries = 0;
  UpstreamChannel channel(client, metrics, options);
  KargoOptions kargo_options;
  kargo_options.snippet_hosts = {parse_url(args.url)->authority()};
  KargoClient kargo(channel, kargo_options);
  Driver driver(
      [&](std::function<void(bool)> done) {
        kargo.fetch_snippet(args.url, {}, [done = std::move(done)](SnippetResult r) {
          done(std::holds_alternative<Snippet>(r));
        });
      },
      args);
  driver.run();
  driver.report("kargo", client.connections_opened());
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse(argc, argv);
  bool all = args.mode == "all";
  if (args.mode == "client" || args.mode == "both" || all) bench_client(args);
  if (args.mode == "channel" || args.mode == "both" || all) bench_channel(args);
  if (args.mode == "kargo" || all) bench_kargo(args);
  return 0;
}
