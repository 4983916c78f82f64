// Contract section 1: `kargo-dsp migrate` and start-up configuration errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

std::vector<std::string> non_empty_lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

TEST(Migrate, UpTwiceIsIdempotent) {
  FreshDatabase db;
  auto first = run_cli({"migrate", "up"}, {{"DATABASE_URL", db.url()}});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_EQ(first.out.find("schema is up to date"), std::string::npos) << first.out;
  auto second = run_cli({"migrate", "up"}, {{"DATABASE_URL", db.url()}});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("schema is up to date"), std::string::npos) << second.out;
}

TEST(Migrate, TwoConcurrentUpsBothSucceedAndApplyOnce) {
  FreshDatabase db;
  auto run = [&] { return run_cli({"migrate", "up"}, {{"DATABASE_URL", db.url()}}); };
  auto a = std::async(std::launch::async, run);
  auto b = std::async(std::launch::async, run);
  auto ra = a.get();
  auto rb = b.get();
  EXPECT_EQ(ra.exit_code, 0) << ra.out << ra.err;
  EXPECT_EQ(rb.exit_code, 0) << rb.out << rb.err;
  int up_to_date = (ra.out.find("schema is up to date") != std::string::npos) +
                   (rb.out.find("schema is up to date") != std::string::npos);
  EXPECT_EQ(up_to_date, 1) << "exactly one of them applied the migrations:\n"
                           << ra.out << "\n---\n"
                           << rb.out;

  auto status = run_cli({"migrate", "status"}, {{"DATABASE_URL", db.url()}});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("applied 0001_foundation.sql"), std::string::npos) << status.out;
  EXPECT_EQ(status.out.find("pending"), std::string::npos) << status.out;
}

TEST(Migrate, StatusListsFoundationAsApplied) {
  auto r = run_cli({"migrate", "status"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  bool found = false;
  for (const auto& line : non_empty_lines(r.out)) {
    if (line.rfind("applied 0001_foundation.sql", 0) == 0) found = true;
  }
  EXPECT_TRUE(found) << r.out;
}

TEST(Migrate, StatusOnEmptyDatabaseListsFoundationAsPendingAndServerIsNotReady) {
  FreshDatabase db;
  auto r = run_cli({"migrate", "status"}, {{"DATABASE_URL", db.url()}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("pending 0001_foundation.sql"), std::string::npos) << r.out;
  // "ready when PostgreSQL answers and migrations are current".
  ServerProcess server({.env = {{"DATABASE_URL", db.url()}}});
  auto ready = HttpClient(server.port()).get("/health/ready");
  EXPECT_EQ(ready.status, 503) << ready.describe();
  EXPECT_EQ(ready.json()["status"], "not_ready");
}

// Starts `kargo-dsp serve` with `env` and expects it to refuse: exit code 2 within 10 s and
// exactly one stderr line, naming `variable`.
void expect_startup_refused(const EnvOverrides& env, const std::string& variable) {
  ServerProcess server({.env = env, .wait_ready = false});
  auto code = server.wait(std::chrono::seconds(10));
  ASSERT_TRUE(code.has_value()) << "kargo-dsp started anyway; stdout:\n" << server.stdout_text();
  EXPECT_EQ(*code, 2) << server.stdout_text() << server.stderr_text();
  auto lines = non_empty_lines(server.stderr_text());
  ASSERT_EQ(lines.size(), 1u) << "one line on stderr, got:\n" << server.stderr_text();
  EXPECT_NE(lines[0].find(variable), std::string::npos) << lines[0];
}

TEST(Config, MissingSecretKeyInProductionExitsWith2NamingIt) {
  expect_startup_refused({{"SECRET_KEY", std::nullopt}, {"ENVIRONMENT", "production"}}, "SECRET_KEY");
}

TEST(Config, NonNumericPortExitsWith2NamingIt) { expect_startup_refused({{"PORT", "abc"}}, "PORT"); }

TEST(Config, MalformedSettingsExitWith2NamingTheVariable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"PORT", "70000"},
      {"IO_THREADS", "0"},
      {"SECRET_KEY", "too-short"},
      {"DATABASE_URL", "mysql://kargo@127.0.0.1/kargo"},
      {"DATABASE_POOL_SIZE", "0"},
      {"REDIS_URL", "http://127.0.0.1:6379"},
      {"RATE_LIMIT_PER_MINUTE", "-5"},
      {"RATE_LIMIT_BURST", "lots"},
      {"MAX_BODY_BYTES", "1MB"},
      {"JWT_EXPIRE_MINUTES", "0"},
      {"ADMIN_PASSWORD", "short"},
      {"LOG_LEVEL", "loud"},
      {"ENVIRONMENT", "moon"},
      {"CORS_ALLOWED_ORIGINS", "*"},
      {"CORS_ALLOWED_ORIGINS", "ui.example"},
      {"AMAZON_DSP_BASE_URL", "not a url"},
      {"UPSTREAM_TIMEOUT_MS", "soon"},
      {"WEBHOOK_ALLOW_PRIVATE", "maybe"},
  };
  for (const auto& [name, value] : cases) {
    SCOPED_TRACE(name + "=" + value);
    expect_startup_refused({{name, value}, {"ADMIN_USERNAME", "admin_" + unique_name("cfg")}}, name);
  }
}

TEST(Config, MalformedHostExitsWith2NamingIt) {
  expect_startup_refused({{"HOST", "not-an-address"}}, "HOST");
}

TEST(Config, MalformedAdminUsernameExitsWith2NamingIt) {
  // ADMIN_USERNAME must be a valid username (letters, digits, . _ - @); a service that starts
  // and then never creates its admin is worse than one that refuses to start.
  expect_startup_refused({{"ADMIN_USERNAME", "bad name!"}, {"ADMIN_PASSWORD", "long-enough-password"}},
                         "ADMIN_USERNAME");
}

TEST(Config, DotEnvInWorkingDirectoryIsRead) {
  TempDir dir;
  std::ofstream(dir.file(".env")) << "# comment\nPORT=abc\n";
  auto r = run_cli({"serve"}, {{"PORT", std::nullopt}}, std::nullopt, std::chrono::seconds(20), dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("PORT"), std::string::npos) << r.err;
}

TEST(Config, EnvironmentWinsOverDotEnv) {
  // PORT comes from the environment (the test's free port), JWT_EXPIRE_MINUTES only from .env.
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = {{"JWT_EXPIRE_MINUTES", std::nullopt}},
                        .admin = admin,
                        .dotenv = "PORT=abc\nJWT_EXPIRE_MINUTES=7\n"});
  HttpClient http(server.port());
  auto res = http.post_json("/api/auth/token", {{"username", admin.username}, {"password", admin.password}});
  ASSERT_EQ(res.status, 200) << res.describe();
  EXPECT_EQ(res.json()["data"]["expires_in"], 420);
}

TEST(Config, DevelopmentRunsWithARandomKeyPerStart) {
  // Without SECRET_KEY, each development process signs with its own key: a token from one
  // is refused by the other.
  auto admin = Credentials::unique("admin");
  EnvOverrides dev = {{"SECRET_KEY", std::nullopt}, {"ENVIRONMENT", "development"}};
  ServerProcess first({.env = dev, .admin = admin});
  ServerProcess second({.env = dev, .admin = admin});
  auto token = login(HttpClient(first.port()), admin);
  EXPECT_EQ(HttpClient(first.port()).get("/api/performance/summary", bearer(token)).status, 200);
  EXPECT_EQ(HttpClient(second.port()).get("/api/performance/summary", bearer(token)).status, 401);
}

TEST(Config, PortAlreadyInUseFailsStartup) {
  ServerProcess first;
  auto r = run_cli({"serve"}, {{"PORT", std::to_string(first.port())}, {"HOST", "127.0.0.1"}}, std::nullopt,
                   std::chrono::seconds(20));
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find(std::to_string(first.port())), std::string::npos) << r.out << r.err;
}

// --- create-user next to ./scripts/run.sh: the settings it keeps in .local/run.env ---

constexpr const char* kRunEnvKey = "run-env-secret-key-0123456789abcdef-01234567";
// What a second shell next to run.sh has: no SECRET_KEY in the environment, production defaults.
const EnvOverrides kSecondShell = {{"SECRET_KEY", std::nullopt}, {"ENVIRONMENT", std::nullopt}};

// A working directory holding the .local/run.env run.sh writes (and optionally a .env).
struct RunShCheckout {
  TempDir dir;
  explicit RunShCheckout(const std::string& run_env, const std::string& dotenv = "") {
    std::filesystem::create_directories(dir.file(".local"));
    std::ofstream(dir.file(".local/run.env")) << run_env;
    if (!dotenv.empty()) std::ofstream(dir.file(".env")) << dotenv;
  }
};

CommandResult create_user_in(const std::string& workdir, std::vector<std::string> args,
                             const std::string& password = "a-long-enough-password") {
  return run_cli(args, kSecondShell, password + "\n", std::chrono::seconds(30), workdir);
}

TEST(CreateUser, ReadsTheSettingsRunShKeepsInDotLocalRunEnv) {
  RunShCheckout repo(std::string("SECRET_KEY=") + kRunEnvKey +
                     "\nADMIN_USERNAME=admin\nADMIN_PASSWORD=run-sh-generated-password\n");
  std::string name = unique_name("runenv");
  auto r = create_user_in(repo.dir.path(), {"create-user", name, "viewer"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("created user " + name), std::string::npos) << r.out;
  auto again = create_user_in(repo.dir.path(), {"create-user", name, "viewer"});
  EXPECT_EQ(again.exit_code, 1) << again.out << again.err;
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << "the first one was stored: " << again.err;
}

TEST(CreateUser, DotEnvWinsOverDotLocalRunEnv) {
  // run.env's SECRET_KEY is too short: the one in .env is the one read.
  RunShCheckout repo("SECRET_KEY=short\n", std::string("SECRET_KEY=") + kRunEnvKey + "\n");
  auto r = create_user_in(repo.dir.path(), {"create-user", unique_name("dotenv"), "viewer"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(CreateUser, EnvFileNamesTheSettingsFromAnyDirectoryBeforeOrAfterTheCommand) {
  RunShCheckout repo(std::string("SECRET_KEY=") + kRunEnvKey + "\n");
  TempDir elsewhere;
  std::string run_env = repo.dir.file(".local/run.env");
  auto before =
      create_user_in(elsewhere.path(), {"--env-file", run_env, "create-user", unique_name("ef"), "viewer"});
  EXPECT_EQ(before.exit_code, 0) << before.out << before.err;
  auto between =
      create_user_in(elsewhere.path(), {"create-user", "--env-file", run_env, unique_name("ef"), "viewer"});
  EXPECT_EQ(between.exit_code, 0) << between.out << between.err;
  auto after =
      create_user_in(elsewhere.path(), {"create-user", unique_name("ef"), "viewer", "--env-file", run_env});
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
  auto missing = create_user_in(elsewhere.path(),
                                {"--env-file", elsewhere.file("nope.env"), "create-user", "x1", "viewer"});
  EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
  EXPECT_NE(missing.err.find("nope.env"), std::string::npos) << missing.err;
}

TEST(CreateUser, WithoutSecretKeySaysOnOneLineWhereItLookedAndHowToPassRunShSettings) {
  TempDir elsewhere;
  auto r = create_user_in(elsewhere.path(), {"create-user", unique_name("nokey"), "viewer"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  auto lines = non_empty_lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  for (const std::string& part :
       {std::string("SECRET_KEY"), elsewhere.file(".env"), elsewhere.file(".local/run.env"),
        std::string("./scripts/run.sh keeps its settings in"), std::string("--env-file")}) {
    EXPECT_NE(lines[0].find(part), std::string::npos) << part << " in: " << lines[0];
  }
}

TEST(CreateUser, PrintsEachValidationErrorOnce) {
  EnvOverrides env;  // scripts/test.sh's SECRET_KEY and database
  auto one = run_cli({"create-user", unique_name("short"), "viewer"}, env, std::string("short\n"));
  EXPECT_EQ(one.exit_code, 2) << one.out << one.err;
  EXPECT_EQ(non_empty_lines(one.err), std::vector<std::string>{"error: password: must be 8-256 characters"})
      << one.err;
  auto two = run_cli({"create-user", "bad name!", "viewer"}, env, std::string("short\n"));
  EXPECT_EQ(two.exit_code, 2) << two.out << two.err;
  auto lines = non_empty_lines(two.err);
  ASSERT_EQ(lines.size(), 2u) << two.err;
  EXPECT_EQ(lines[0].rfind("error: username: ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1], "error: password: must be 8-256 characters");
}

}  // namespace
}  // namespace kargo::itest
