#include "support/helpers.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace kargo::itest {

std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(std::string(name) +
                             " is not set: run the integration tests through ./scripts/test.sh, which starts "
                             "PostgreSQL and Redis and exports it");
  }
  return value;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

std::string unique_name(const std::string& prefix) {
  thread_local std::mt19937_64 gen{std::random_device{}() ^ static_cast<uint64_t>(::getpid())};
  static const char* kHex = "0123456789abcdef";
  uint64_t v = gen();
  std::string out = prefix + "_";
  for (int i = 0; i < 12; ++i) out += kHex[(v >> (i * 4)) & 15];
  return out;
}

std::string login(const HttpClient& http, const Credentials& who) {
  auto res = http.post_json("/api/auth/token", {{"username", who.username}, {"password", who.password}});
  if (res.status != 200) throw std::runtime_error("login as " + who.username + " failed: " + res.describe());
  auto token = res.json()["data"]["access_token"];
  if (!token.is_string()) throw std::runtime_error("login answered without a token: " + res.describe());
  return token.get<std::string>();
}

Credentials create_user(const HttpClient& http, const std::string& admin_token, const std::string& role) {
  auto who = Credentials::unique(role);
  auto res = http.post_json("/api/auth/users",
                            {{"username", who.username}, {"password", who.password}, {"role", role}},
                            bearer(admin_token));
  if (res.status != 201) throw std::runtime_error("creating " + role + " user failed: " + res.describe());
  return who;
}

std::set<std::string> invalid_fields(const HttpResponse& res) {
  std::set<std::string> out;
  EXPECT_EQ(res.status, 422) << res.describe();
  if (res.status != 422) return out;
  auto doc = res.json();
  for (const auto& d : doc["error"]["details"]) out.insert(d["field"].get<std::string>());
  return out;
}

std::string json_string(const nlohmann::json& obj, const std::string& key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string base64url(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string b64(text);
  for (auto& c : b64) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (b64.size() % 4 != 0) b64 += '=';
  std::string out(b64.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t pad = b64.size() - b64.find_last_not_of('=') - 1;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string sign_jwt(const nlohmann::json& header, const nlohmann::json& payload, std::string_view key) {
  std::string input = base64url(header.dump()) + "." + base64url(payload.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + base64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string make_token(const std::string& subject, const std::string& role, std::string_view key,
                       std::chrono::seconds ttl) {
  int64_t now = now_epoch();
  return sign_jwt({{"alg", "HS256"}, {"typ", "JWT"}},
                  {{"sub", subject}, {"role", role}, {"iat", now}, {"exp", now + ttl.count()}}, key);
}

nlohmann::json jwt_payload(const std::string& token) {
  auto first = token.find('.');
  auto second = token.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos)
    throw std::runtime_error("not a JWT: " + token);
  auto text = base64url_decode(token.substr(first + 1, second - first - 1));
  if (!text) throw std::runtime_error("JWT payload is not base64url: " + token);
  return nlohmann::json::parse(*text);
}

int64_t now_epoch() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_iso8601_utc(const std::string& text) {
  static const std::regex kPattern(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$)");
  return std::regex_match(text, kPattern);
}

bool is_generated_request_id(const std::string& text) {
  static const std::regex kPattern("^req_[0-9a-f]{16}$");
  return std::regex_match(text, kPattern);
}

std::vector<Sample> parse_prometheus(const std::string& text) {
  std::vector<Sample> out;
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t pos = line.find_first_of("{ ");
    if (pos == std::string::npos) continue;
    s.name = line.substr(0, pos);
    if (line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        auto eq = line.find('=', pos);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        std::string name = line.substr(pos, eq - pos);
        std::string value;
        size_t i = eq + 2;
        for (; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
        }
        s.labels[name] = value;
        pos = i + 1;
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
      pos = line.find(' ', pos);
      if (pos == std::string::npos) continue;
    }
    std::stringstream rest(line.substr(pos + 1));
    std::string number;
    rest >> number;
    try {
      s.value = std::stod(number);
    } catch (const std::exception&) {
      continue;
    }
    out.push_back(std::move(s));
  }
  return out;
}

double metric_sum(const std::vector<Sample>& samples, std::string_view name,
                  const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      match = match && it != s.labels.end() && it->second == v;
    }
    if (match) sum += s.value;
  }
  return sum;
}

bool has_metric(const std::vector<Sample>& samples, std::string_view name) {
  for (const auto& s : samples) {
    if (s.name == name) return true;
  }
  return false;
}

std::string PgUrl::with_database(const std::string& db) const {
  return "postgresql://" + user + ":" + password + "@" + host + ":" + std::to_string(port) + "/" + db;
}

PgUrl parse_pg_url(const std::string& url) {
  static const std::regex kPattern(R"(^postgres(ql)?://([^:@/]+)(:([^@/]*))?@([^:/]+)(:(\d+))?/([^?]+).*$)");
  std::smatch m;
  if (!std::regex_match(url, m, kPattern)) throw std::runtime_error("cannot parse PostgreSQL URL: " + url);
  PgUrl out;
  out.user = m[2];
  out.password = m[4];
  out.host = m[5];
  if (m[7].matched) out.port = static_cast<uint16_t>(std::stoi(m[7]));
  out.database = m[8];
  return out;
}

namespace {

std::string psql(const std::string& url, const std::string& sql) {
  auto r = run_command({"/usr/lib/postgresql/15/bin/psql", url, "-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql});
  if (r.exit_code != 0) throw std::runtime_error("SQL failed: " + r.err + "\n" + sql);
  return r.out;
}

}  // namespace

std::string run_sql(const std::string& sql) { return psql(required_env("DATABASE_URL"), sql); }

FreshDatabase::FreshDatabase()
    : server_(parse_pg_url(required_env("DATABASE_URL"))), name_(unique_name("db")) {
  auto r = psql_admin(server_, "CREATE DATABASE " + name_ + " OWNER " + server_.user);
  if (r.exit_code != 0) throw std::runtime_error("CREATE DATABASE failed: " + r.err);
}

FreshDatabase::~FreshDatabase() { psql_admin(server_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"); }

void FreshDatabase::migrate() const {
  auto r = run_cli({"migrate", "up"}, {{"DATABASE_URL", url()}});
  if (r.exit_code != 0) throw std::runtime_error("migrate up failed: " + r.out + r.err);
}

std::string FreshDatabase::sql(const std::string& sql) const { return psql(url(), sql); }

CommandResult psql_admin(const PgUrl& server, const std::string& sql) {
  return run_command({"/usr/lib/postgresql/15/bin/psql", "-h", server.host, "-p", std::to_string(server.port),
                      "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql},
                     {{"PGCONNECT_TIMEOUT", "5"}}, std::nullopt, std::chrono::seconds(30));
}

namespace {

CommandResult pg_ctl(std::vector<std::string> args) {
  std::vector<std::string> argv;
  if (::geteuid() == 0) argv = {"runuser", "-u", required_env("KARGO_PG_USER"), "--"};
  argv.push_back("/usr/lib/postgresql/15/bin/pg_ctl");
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_command(argv, {}, std::nullopt, std::chrono::seconds(60));
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error(cmd + "failed (" + std::to_string(r.exit_code) + "): " + r.out + r.err);
  }
  return r;
}

}  // namespace

void restart_pg_stop() {
  pg_ctl({"-D", required_env("KARGO_TEST_RESTART_PGDATA"), "-m", "fast", "-w", "-t", "30", "stop"});
}

void restart_pg_start() {
  auto url = parse_pg_url(required_env("KARGO_TEST_RESTART_DATABASE_URL"));
  std::string data = required_env("KARGO_TEST_RESTART_PGDATA");
  // Same options as scripts/lib.sh pg_start, so the server comes back on the same port.
  pg_ctl({"-D", data, "-o", "-p " + std::to_string(url.port), "-l", data + "/server.log", "-w", "-t", "30",
          "start"});
}

}  // namespace kargo::itest
