#pragma once
// Child processes of the integration tests: the real kargo-dsp binary (as a server or a CLI
// command) and private redis-server instances. Every child gets PR_SET_PDEATHSIG, so even a
// crashing test binary leaves no process behind, and every owner kills its child in its
// destructor.
//
//   ServerProcess server({.env = {{"RATE_LIMIT_PER_MINUTE", "5"}}, .admin = Credentials::unique("admin")});
//   HttpClient http(server.port());
//   ...
//   EXPECT_EQ(server.stop(), 0);  // SIGTERM, wait, exit code
//
//   auto r = run_cli({"migrate", "status"});
//   EXPECT_EQ(r.exit_code, 0) << r.err;

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kargo::itest {

// Variables to set (value) or remove (nullopt) on top of the inherited environment.
using EnvOverrides = std::map<std::string, std::optional<std::string>>;

struct Credentials {
  std::string username;
  std::string password;
  // A username no other test (or earlier run against the same database) uses.
  static Credentials unique(const std::string& prefix);
};

// A TCP port on 127.0.0.1 nobody listened on a moment ago (bound to port 0, then released).
uint16_t free_port();

// A private directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path);

// A child process whose stdout and stderr go to files. Kills (SIGKILL) and reaps it on
// destruction if it is still running.
class ChildProcess {
 public:
  struct Spec {
    std::vector<std::string> argv;  // argv[0] is the program path
    EnvOverrides env;
    std::string workdir;
    std::string stdout_path;
    std::string stderr_path;
    std::optional<std::string> stdin_path;  // /dev/null when absent
  };

  explicit ChildProcess(const Spec& spec);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Exit code, or 128 + signal number when a signal ended it; nullopt if still running at the
  // deadline.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  void kill();  // SIGKILL and reap

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv (argv[0] looked up in PATH when it has no '/') to completion in a fresh temp
// directory; throws, failing the calling test, if it does not finish within `timeout`.
// `workdir` replaces the temp directory (e.g. to hold a .env file).
CommandResult run_command(const std::vector<std::string>& argv, const EnvOverrides& env = {},
                          const std::optional<std::string>& stdin_text = std::nullopt,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60),
                          const std::optional<std::string>& workdir = std::nullopt);

// `kargo-dsp args...` through run_command (the temp directory means no stray .env is read).
CommandResult run_cli(const std::vector<std::string>& args, const EnvOverrides& env = {},
                      const std::optional<std::string>& stdin_text = std::nullopt,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60),
                      const std::optional<std::string>& workdir = std::nullopt);

struct ServerOptions {
  std::string mode = "serve";  // or "worker" (listens on WORKER_PORT)
  EnvOverrides env = {};
  // Bootstrap admin (ADMIN_USERNAME / ADMIN_PASSWORD); start-up waits until it exists.
  std::optional<Credentials> admin = std::nullopt;
  // Contents of a .env file in the server's working directory.
  std::optional<std::string> dotenv = std::nullopt;
  // The working directory (default: a fresh temp directory, which holds the .env file and logs).
  std::optional<std::string> workdir = std::nullopt;
  // Wait for /health/live (and the admin) before the constructor returns.
  bool wait_ready = true;
  std::chrono::milliseconds start_timeout = std::chrono::seconds(20);
};

// `kargo-dsp serve|worker` on a free port of 127.0.0.1 with the inherited environment plus
// test defaults (a rate limit high enough never to interfere, IO_THREADS=2, a small pool) plus
// the options' overrides.
class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return child_->pid(); }
  bool running() { return child_->running(); }
  const std::optional<Credentials>& admin() const { return options_.admin; }

  // Sends SIGTERM without waiting.
  void terminate() { child_->signal(SIGTERM); }
  std::optional<int> wait(std::chrono::milliseconds timeout) { return child_->wait(timeout); }
  // SIGTERM, then waits; returns the exit code. Past the deadline it kills the process and
  // throws, failing the test.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(25));
  void kill() { child_->kill(); }

  std::string stdout_text() const;
  std::string stderr_text() const;
  // Every stdout line parsed as JSON (a line that is not JSON becomes a JSON string holding it).
  std::vector<nlohmann::json> log_lines() const;
  // Waits until some stdout line satisfies `pred`.
  bool wait_for_log(const std::function<bool(const nlohmann::json&)>& pred,
                    std::chrono::milliseconds timeout) const;

 private:
  void launch();

  ServerOptions options_;
  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> child_;
};

// A private redis-server for tests that stop Redis or must not share rate-limit buckets with
// tests running in parallel.
class RedisServer {
 public:
  RedisServer();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  void kill();     // SIGKILL, as a crash would
  void restart();  // on the same port
  // SIGSTOP / SIGCONT: Redis still accepts TCP connections but never answers (a hung server).
  void pause();
  void resume();
  bool ping() const;

 private:
  void launch();
  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> child_;
};

}  // namespace kargo::itest
