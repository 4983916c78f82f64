#pragma once
// The usual starting point of an integration test: a fresh `kargo-dsp serve` with its own
// bootstrap admin, on its own port, against the shared PostgreSQL and Redis.
//
//   class AuthTest : public ServerTest {};
//   TEST_F(AuthTest, Something) {
//     auto res = http().get("/api/performance/summary", bearer(admin_token()));
//   }
//
// A fixture that needs other settings overrides server_env().

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "support/helpers.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"

namespace kargo::itest {

// Two server processes on the one test database and Redis, and an admin token valid on both: for
// read-after-write checks across instances (the shared Redis cache).
struct TwoInstances {
  Credentials admin = Credentials::unique("admin");
  ServerProcess a{{.admin = admin}};
  ServerProcess b{{.admin = admin}};
  HttpClient ha{a.port()}, hb{b.port()};
  std::string token = login(ha, admin);

  // GET `target` on instance B as the admin: its envelope's data (a test failure unless 200).
  nlohmann::json data_on_b(const std::string& target) const {
    auto res = hb.get(target, bearer(token));
    EXPECT_EQ(res.status, 200) << res.describe();
    return res.status == 200 ? res.json()["data"] : nlohmann::json::object();
  }
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // Settings on top of ServerProcess's defaults.
  virtual EnvOverrides server_env() { return {}; }

  ServerProcess& server() { return *server_; }
  const HttpClient& http() const { return *http_; }
  const Credentials& admin() const { return admin_; }
  // Logs the admin in once per test.
  const std::string& admin_token();
  // The SECRET_KEY the servers sign with (exported by scripts/test.sh).
  std::string secret_key() const { return required_env("SECRET_KEY"); }

 private:
  Credentials admin_ = Credentials::unique("admin");
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> http_;
  std::optional<std::string> admin_token_;
};

}  // namespace kargo::itest
