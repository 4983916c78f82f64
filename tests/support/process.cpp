#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "support/helpers.hpp"
#include "support/http_client.hpp"

extern char** environ;

namespace kargo::itest {
namespace {

std::vector<std::string> build_environment(const EnvOverrides& overrides) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [name, value] : overrides) {
    if (value) {
      env[name] = *value;
    } else {
      env.erase(name);
    }
  }
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::runtime_error("program not found in PATH: " + name);
}

int open_or_throw(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  return fd;
}

std::string tail(const std::string& text, size_t max_chars) {
  return text.size() <= max_chars ? text : "..." + text.substr(text.size() - max_chars);
}

bool test_has_failed() { return ::testing::Test::HasFailure(); }

}  // namespace

Credentials Credentials::unique(const std::string& prefix) {
  return {unique_name(prefix), "pw-" + unique_name("secret")};
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/kargo-it-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + pattern);
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

ChildProcess::ChildProcess(const Spec& spec) {
  // Everything the child needs is prepared before fork(): after it only async-signal-safe
  // calls are allowed (the test binary has threads).
  std::vector<std::string> env = build_environment(spec.env);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  args[0] = find_program(args[0]);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int in = open_or_throw(spec.stdin_path.value_or("/dev/null"), O_RDONLY);
  int out = open_or_throw(spec.stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
  int err = open_or_throw(spec.stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
  pid_t parent = ::getpid();
  const char* workdir = spec.workdir.c_str();

  pid_ = ::fork();
  if (pid_ == 0) {
    // Dies with the test binary, so a crashed test cannot orphan a server.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    if (::chdir(workdir) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(in);
  ::close(out);
  ::close(err);
  if (pid_ < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(fork_errno));
}

ChildProcess::~ChildProcess() { kill(); }

bool ChildProcess::running() {
  if (status_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

void ChildProcess::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  wait_until([this] { return !running(); }, timeout, std::chrono::milliseconds(5));
  return status_;
}

void ChildProcess::kill() {
  if (pid_ <= 0 || !running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

CommandResult run_command(const std::vector<std::string>& argv, const EnvOverrides& env,
                          const std::optional<std::string>& stdin_text, std::chrono::milliseconds timeout,
                          const std::optional<std::string>& workdir) {
  TempDir dir;
  // Commands may run as another user (runuser for pg_ctl) and must be able to enter their cwd.
  std::filesystem::permissions(dir.path(), std::filesystem::perms(0755));
  ChildProcess::Spec spec{
      argv, env, workdir.value_or(dir.path()), dir.file("stdout"), dir.file("stderr"), std::nullopt};
  if (stdin_text) {
    std::ofstream(dir.file("stdin"), std::ios::binary) << *stdin_text;
    spec.stdin_path = dir.file("stdin");
  }
  ChildProcess child(spec);
  auto code = child.wait(timeout);
  if (!code) {
    child.kill();
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    throw std::runtime_error("`" + cmd + "` did not finish within " + std::to_string(timeout.count()) +
                             " ms; stderr: " + read_file(dir.file("stderr")));
  }
  return {*code, read_file(dir.file("stdout")), read_file(dir.file("stderr"))};
}

CommandResult run_cli(const std::vector<std::string>& args, const EnvOverrides& env,
                      const std::optional<std::string>& stdin_text, std::chrono::milliseconds timeout,
                      const std::optional<std::string>& workdir) {
  std::vector<std::string> argv{KARGO_BIN_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env, stdin_text, timeout, workdir);
}

ServerProcess::ServerProcess(ServerOptions options) : options_(std::move(options)) {
  // Fail with a clear message when the suite was not started by scripts/test.sh.
  for (const char* name : {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}) {
    if (!options_.env.count(name)) required_env(name);
  }
  if (options_.dotenv) std::ofstream(dir_.file(".env")) << *options_.dotenv;
  launch();
}

ServerProcess::~ServerProcess() {
  if (test_has_failed()) {
    // What the server said is usually the fastest way to understand a failure.
    std::cerr << "---- kargo-dsp " << options_.mode << " on port " << port_ << ": stdout (tail) ----\n"
              << tail(stdout_text(), 6000) << "\n---- stderr (tail) ----\n"
              << tail(stderr_text(), 3000) << "\n----\n";
  }
  if (child_) child_->kill();
}

void ServerProcess::launch() {
  constexpr int kAttempts = 4;
  for (int attempt = 1;; ++attempt) {
    port_ = free_port();
    EnvOverrides env{
        {"HOST", "127.0.0.1"},
        {"IO_THREADS", "2"},
        {"DATABASE_POOL_SIZE", "4"},
        // Tests running in parallel share Redis and the 127.0.0.1 bucket; only tests about
        // rate limiting lower this (and then use their own Redis).
        {"RATE_LIMIT_PER_MINUTE", "1000000"},
        {"LOG_LEVEL", "info"},
        {"SYNC_INTERVAL_SECONDS", "0"},
        {"REPORT_INTERVAL_SECONDS", "0"},
    };
    env[options_.mode == "worker" ? "WORKER_PORT" : "PORT"] = std::to_string(port_);
    if (options_.admin) {
      env["ADMIN_USERNAME"] = options_.admin->username;
      env["ADMIN_PASSWORD"] = options_.admin->password;
    }
    for (const auto& [name, value] : options_.env) env[name] = value;

    child_.reset();
    child_ = std::make_unique<ChildProcess>(ChildProcess::Spec{{KARGO_BIN_PATH, options_.mode},
                                                               env,
                                                               options_.workdir.value_or(dir_.path()),
                                                               dir_.file("stdout.log"),
                                                               dir_.file("stderr.log"),
                                                               std::nullopt});
    if (!options_.wait_ready) return;

    auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    HttpClient probe(port_, std::chrono::seconds(2));
    bool live = wait_until(
        [&] {
          if (!child_->running()) return true;
          try {
            return probe.get("/health/live").status == 200;
          } catch (const std::exception&) {
            return false;
          }
        },
        options_.start_timeout, std::chrono::milliseconds(20));
    if (!child_->running()) {
      std::string out = stdout_text() + stderr_text();
      // Another process took the port between free_port() and bind(): try another one.
      if (attempt < kAttempts && out.find("cannot listen") != std::string::npos) continue;
      throw std::runtime_error("kargo-dsp " + options_.mode + " exited with code " +
                               std::to_string(child_->wait(std::chrono::milliseconds(0)).value_or(-1)) +
                               " before /health/live answered:\n" + tail(out, 4000));
    }
    if (!live) {
      throw std::runtime_error("kargo-dsp " + options_.mode + " on port " + std::to_string(port_) +
                               " did not answer /health/live 200 within " +
                               std::to_string(options_.start_timeout.count()) + " ms");
    }
    if (options_.admin) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      const std::string& name = options_.admin->username;
      bool ready = wait_for_log(
          [&](const nlohmann::json& line) {
            return json_string(line, "msg") == "bootstrap admin ready" &&
                   json_string(line, "username") == name;
          },
          std::max(left, std::chrono::milliseconds(1000)));
      if (!ready) throw std::runtime_error("bootstrap admin '" + name + "' was not reported ready in time");
    }
    return;
  }
}

int ServerProcess::stop(std::chrono::milliseconds timeout) {
  terminate();
  auto code = wait(timeout);
  if (!code) {
    kill();
    throw std::runtime_error("kargo-dsp did not exit within " + std::to_string(timeout.count()) +
                             " ms of SIGTERM; killed it");
  }
  return *code;
}

std::string ServerProcess::stdout_text() const { return read_file(dir_.file("stdout.log")); }
std::string ServerProcess::stderr_text() const { return read_file(dir_.file("stderr.log")); }

std::vector<nlohmann::json> ServerProcess::log_lines() const {
  std::vector<nlohmann::json> out;
  std::stringstream in(stdout_text());
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    out.push_back(doc.is_discarded() ? nlohmann::json(line) : std::move(doc));
  }
  return out;
}

bool ServerProcess::wait_for_log(const std::function<bool(const nlohmann::json&)>& pred,
                                 std::chrono::milliseconds timeout) const {
  return wait_until(
      [&] {
        for (const auto& line : log_lines()) {
          if (pred(line)) return true;
        }
        return false;
      },
      timeout);
}

RedisServer::RedisServer() {
  for (int attempt = 1;; ++attempt) {
    port_ = free_port();
    launch();
    if (wait_until([this] { return !child_->running() || ping(); }, std::chrono::seconds(10)) && ping())
      return;
    if (attempt == 4)
      throw std::runtime_error("redis-server did not start: " + read_file(dir_.file("redis.log")));
  }
}

RedisServer::~RedisServer() {
  if (child_) child_->kill();
}

void RedisServer::launch() {
  child_.reset();
  child_ = std::make_unique<ChildProcess>(
      ChildProcess::Spec{{"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save",
                          "", "--appendonly", "no", "--dir", dir_.path(), "--daemonize", "no"},
                         {},
                         dir_.path(),
                         dir_.file("redis.log"),
                         dir_.file("redis.err"),
                         std::nullopt});
}

void RedisServer::kill() { child_->kill(); }
void RedisServer::pause() { child_->signal(SIGSTOP); }
void RedisServer::resume() { child_->signal(SIGCONT); }

void RedisServer::restart() {
  child_->kill();
  // Same port: the server under test reconnects to the address it was given.
  bool up = wait_until(
      [this] {
        if (!child_->running()) launch();
        return ping();
      },
      std::chrono::seconds(15), std::chrono::milliseconds(100));
  if (!up) throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_));
}

bool RedisServer::ping() const {
  try {
    RawConnection conn(port_);
    return conn.send("PING\r\n") && conn.read_until("+PONG", std::chrono::seconds(1));
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace kargo::itest
