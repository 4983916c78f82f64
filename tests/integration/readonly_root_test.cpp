// A read-only root file system (Kubernetes readOnlyRootFilesystem, systemd ProtectSystem=strict)
// with only TMPDIR writable: the xlsx writer (libxlsxwriter needs files for the workbook's parts)
// writes there and nowhere else, and leaves nothing behind. A TMPDIR that cannot be written makes
// start-up warn and an xlsx generation fail with a logged reason, never a crash.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <filesystem>

#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A real read-only file system (an empty tmpfs mounted ro), so the test holds for root too,
// whom directory permissions do not stop. Unmounted at the end.
class ReadOnlyMount {
 public:
  ReadOnlyMount() { mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_RDONLY, "size=1m") == 0; }
  ~ReadOnlyMount() {
    if (mounted_) ::umount(dir_.path().c_str());
  }
  bool mounted() const { return mounted_; }
  const std::string& path() const { return dir_.path(); }

 private:
  TempDir dir_;
  bool mounted_ = false;
};

std::string make_campaign(const HttpClient& http, const std::string& token) {
  auto res = http.post_json("/api/campaigns",
                            {{"name", unique_name("ro-root")},
                             {"advertiser_id", "adv_ro"},
                             {"budget", 100},
                             {"start_date", "2030-01-01"},
                             {"end_date", "2030-01-31"}},
                            bearer(token));
  if (res.status != 201) throw std::runtime_error("campaign create failed: " + res.describe());
  return res.json()["data"]["id"];
}

size_t entries(const std::string& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

TEST(ReadOnlyRoot, XlsxSheetsNeedOnlyAWritableTmpdir) {
  ReadOnlyMount root;
  if (!root.mounted()) GTEST_SKIP() << "mounting a read-only tmpfs needs root (CAP_SYS_ADMIN)";
  TempDir tmp;
  auto admin = Credentials::unique("admin");
  // The process's working directory is the read-only file system: nothing may be written there.
  ServerProcess server({.env = {{"TMPDIR", tmp.path()}}, .admin = admin, .workdir = root.path()});
  HttpClient http(server.port());
  auto token = login(http, admin);
  auto res = http.post_json("/api/bulk/generate-sheet", {{"campaign_ids", {make_campaign(http, token)}}},
                            bearer(token));
  ASSERT_EQ(res.status, 201) << res.describe();
  auto file = http.get(res.json()["data"]["download_url"].get<std::string>(), bearer(token));
  ASSERT_EQ(file.status, 200) << file.describe();
  EXPECT_EQ(file.body.substr(0, 2), "PK") << "an xlsx is a zip";
  EXPECT_EQ(entries(tmp.path()), 0u) << "the writer's temporary files are removed";
  EXPECT_EQ(entries(root.path()), 0u);
}

TEST(ReadOnlyRoot, UnwritableTmpdirWarnsAtStartAndFailsTheXlsxWithAReason) {
  ReadOnlyMount root;
  if (!root.mounted()) GTEST_SKIP() << "mounting a read-only tmpfs needs root (CAP_SYS_ADMIN)";
  auto admin = Credentials::unique("admin");
  ServerProcess server({.env = {{"TMPDIR", root.path()}}, .admin = admin});
  EXPECT_TRUE(server.wait_for_log(
      [](const json& l) { return json_string(l, "msg") == "temporary directory not writable"; },
      std::chrono::seconds(5)))
      << server.stdout_text();
  HttpClient http(server.port());
  auto token = login(http, admin);
  auto campaign = make_campaign(http, token);
  auto xlsx = http.post_json("/api/bulk/generate-sheet", {{"campaign_ids", {campaign}}}, bearer(token));
  EXPECT_EQ(xlsx.status, 500) << xlsx.describe();
  EXPECT_EQ(xlsx.json()["error"]["code"], "INTERNAL_ERROR");
  EXPECT_TRUE(server.wait_for_log(
      [&](const json& l) { return l.dump().find("cannot create a temporary file in " + root.path()) != std::string::npos; },
      std::chrono::seconds(5)))
      << "the log names the directory";
  // csv zips are built in memory: they still work.
  auto csv = http.post_json("/api/bulk/generate-sheet", {{"campaign_ids", {campaign}}, {"format", "csv"}},
                            bearer(token));
  EXPECT_EQ(csv.status, 201) << csv.describe();
  EXPECT_TRUE(server.running());
}

}  // namespace
}  // namespace kargo::itest
