#include "support/fixtures.hpp"

namespace kargo::itest {

void ServerTest::SetUp() {
  server_ = std::make_unique<ServerProcess>(ServerOptions{.env = server_env(), .admin = admin_});
  http_ = std::make_unique<HttpClient>(server_->port());
}

const std::string& ServerTest::admin_token() {
  if (!admin_token_) admin_token_ = login(*http_, admin_);
  return *admin_token_;
}

}  // namespace kargo::itest
