// /docs: Swagger UI and its files compiled into the binary, the plain reference, the document, and
// how they are cached and compressed. tests/browser/docs_ui_test.py drives the page in Chromium.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "kargo/upstream/gzip.hpp"
#include "support/fixtures.hpp"

namespace kargo::itest {
namespace {

class DocsTest : public ServerTest {
 protected:
  // The same-origin URLs the /docs page loads (<script src>, <link href>), as written in it.
  std::vector<std::string> linked_files() {
    auto page = http().get("/docs");
    EXPECT_EQ(page.status, 200) << page.describe();
    std::vector<std::string> out;
    static const std::regex kLink(R"re((?:src|href)="(docs/[^"]+)")re");
    for (std::sregex_iterator it(page.body.begin(), page.body.end(), kLink), end; it != end; ++it) {
      out.push_back('/' + (*it)[1].str());
    }
    return out;
  }
};

std::string vendored(const std::string& name) {
  return read_file(std::string(KARGO_SOURCE_DIR) + "/third_party/swagger-ui-dist/" + name);
}

TEST_F(DocsTest, DocsIsSwaggerUiUnderAStrictContentSecurityPolicyWithANoScriptFallback) {
  auto page = http().get("/docs");
  ASSERT_EQ(page.status, 200) << page.describe();
  EXPECT_EQ(page.header("content-type").value_or(""), "text/html; charset=utf-8");
  auto policy = page.header("content-security-policy").value_or("");
  EXPECT_NE(policy.find("default-src 'self'"), std::string::npos) << policy;
  EXPECT_NE(policy.find("script-src 'self';"), std::string::npos) << policy;
  EXPECT_EQ(policy.find("unsafe-"), std::string::npos) << policy;
  EXPECT_EQ(page.body.find("<script>"), std::string::npos) << "no inline script: " << page.body;
  EXPECT_NE(page.body.find("<noscript>"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("href=\"docs/reference\""), std::string::npos) << page.body;
  EXPECT_EQ(page.body.find("://"), std::string::npos) << "only relative URLs: " << page.body;

  std::set<std::string> paths;
  for (const auto& url : linked_files()) paths.insert(url.substr(0, url.find('?')));
  EXPECT_EQ(paths, (std::set<std::string>{"/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js",
                                          "/docs/swagger-ui.css", "/docs/favicon-32x32.png",
                                          "/docs/favicon-16x16.png", "/docs/reference", "/docs/openapi.yaml",
                                          "/docs/openapi.json"}));
}

TEST_F(DocsTest, SwaggerUiFilesAreTheVendoredOnesWithTheirContentTypes) {
  struct File {
    std::string name, content_type;
  };
  for (const auto& [name, content_type] :
       {File{"swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
        File{"swagger-ui.css", "text/css; charset=utf-8"}, File{"favicon-32x32.png", "image/png"},
        File{"favicon-16x16.png", "image/png"}}) {
    SCOPED_TRACE(name);
    auto res = http().get("/docs/" + name);
    ASSERT_EQ(res.status, 200) << res.describe();
    EXPECT_EQ(res.header("content-type").value_or(""), content_type);
    EXPECT_FALSE(res.has_header("content-encoding")) << "no Accept-Encoding, no gzip";
    EXPECT_EQ(res.body, vendored(name)) << "byte for byte, binary files included";
  }
  auto initializer = http().get("/docs/swagger-initializer.js");
  ASSERT_EQ(initializer.status, 200) << initializer.describe();
  EXPECT_NE(initializer.body.find("url: \"docs/openapi.json\""), std::string::npos) << initializer.body;
  EXPECT_NE(initializer.body.find("validatorUrl: null"), std::string::npos) << initializer.body;
  EXPECT_EQ(http().get("/docs/swagger-ui.css.map").status, 404);
}

TEST_F(DocsTest, LargeDocumentsAreGzippedWhenTheClientAcceptsIt) {
  for (const char* target : {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/openapi.json",
                             "/docs/openapi.yaml", "/docs/reference"}) {
    SCOPED_TRACE(target);
    auto plain = http().get(target);
    auto gzipped = http().get(target, {{"Accept-Encoding", "br, gzip;q=0.8"}});
    ASSERT_EQ(plain.status, 200) << plain.describe();
    ASSERT_EQ(gzipped.status, 200) << gzipped.describe();
    EXPECT_EQ(gzipped.header("content-encoding").value_or(""), "gzip");
    EXPECT_EQ(gzipped.header("vary").value_or(""), "Accept-Encoding");
    EXPECT_EQ(plain.header("vary").value_or(""), "Accept-Encoding");
    EXPECT_LT(gzipped.body.size() * 3, plain.body.size()) << "compressed at least 3:1";
    EXPECT_EQ(upstream::gunzip(gzipped.body, 64u << 20), plain.body);
    EXPECT_NE(gzipped.header("etag"), plain.header("etag")) << "a strong ETag per representation";
    // gzip refused explicitly, even with "*" allowing anything else.
    auto refused = http().get(target, {{"Accept-Encoding", "gzip;q=0, *"}});
    EXPECT_FALSE(refused.has_header("content-encoding"));
    EXPECT_EQ(refused.body, plain.body);
  }
}

TEST_F(DocsTest, IfNoneMatchWithTheCurrentEtagIs304WithoutABody) {
  for (const auto& target : linked_files()) {
    SCOPED_TRACE(target);
    auto first = http().get(target);
    ASSERT_EQ(first.status, 200) << first.describe();
    auto etag = first.header("etag");
    ASSERT_TRUE(etag && std::regex_match(*etag, std::regex(R"("[0-9a-f]{16}")"))) << etag.value_or("none");
    auto again = http().get(target, {{"If-None-Match", "\"0000000000000000\", W/" + *etag}});
    EXPECT_EQ(again.status, 304) << again.describe();
    EXPECT_TRUE(again.body.empty());
    EXPECT_EQ(again.header("etag"), etag);
    EXPECT_EQ(http().get(target, {{"If-None-Match", "\"0000000000000000\""}}).status, 200);
  }
}

TEST_F(DocsTest, FilesLinkedWithTheirVersionAreCachedForAYearOtherwiseRevalidated) {
  int versioned = 0;
  for (const auto& url : linked_files()) {
    SCOPED_TRACE(url);
    auto res = http().get(url);
    ASSERT_EQ(res.status, 200) << res.describe();
    auto question = url.find("?v=");
    if (question == std::string::npos) {
      EXPECT_EQ(res.header("cache-control").value_or(""), "no-cache");
      continue;
    }
    ++versioned;
    EXPECT_EQ(res.header("cache-control").value_or(""), "public, max-age=31536000, immutable");
    // The version is the content's: the ETag says the same.
    std::string version = url.substr(question + 3);
    EXPECT_EQ(res.header("etag").value_or(""), '"' + version + '"');
    auto unversioned = http().get(url.substr(0, question));
    EXPECT_EQ(unversioned.header("cache-control").value_or(""), "no-cache");
    auto stale = http().get(url.substr(0, question) + "?v=0123456789abcdef");
    EXPECT_EQ(stale.header("cache-control").value_or(""), "no-cache");
  }
  EXPECT_EQ(versioned, 5);
  EXPECT_EQ(http().get("/docs").header("cache-control").value_or(""), "no-cache");
}

TEST_F(DocsTest, ReferencePageListsEveryOperationWithoutScripts) {
  auto res = http().get("/docs/reference");
  ASSERT_EQ(res.status, 200) << res.describe();
  EXPECT_EQ(res.header("content-type").value_or(""), "text/html; charset=utf-8");
  auto policy = res.header("content-security-policy").value_or("");
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos) << policy;
  EXPECT_EQ(res.body.find("<script"), std::string::npos);
  auto spec = http().get("/docs/openapi.json").json();
  static const std::set<std::string> kMethods{"get",   "put",     "post", "delete",
                                              "patch", "options", "head", "trace"};
  int operations = 0;
  for (const auto& [path, item] : spec["paths"].items()) {
    for (const auto& [method, _] : item.items()) {
      if (!kMethods.count(method)) continue;
      ++operations;
      std::string shown = "<span class=\"m " + method + "\">" + method + "</span> <code>" + path + "</code>";
      EXPECT_NE(res.body.find(shown), std::string::npos) << method << " " << path;
    }
  }
  EXPECT_GE(operations, 40);
  // Code spans of the descriptions, e.g. a placeholder that Markdown would otherwise take for HTML.
  EXPECT_NE(res.body.find("<code>&lt;id&gt;</code>"), std::string::npos);
}

TEST_F(DocsTest, ServersEntryIsRelativeSoTryItOutWorksBehindAProxy) {
  auto spec = http().get("/docs/openapi.json").json();
  ASSERT_TRUE(spec["servers"].is_array()) << spec["servers"];
  ASSERT_EQ(spec["servers"].size(), 1u) << spec["servers"];
  EXPECT_EQ(spec["servers"][0]["url"], "/");
  auto yaml = http().get("/docs/openapi.yaml");
  EXPECT_NE(yaml.body.find("servers:\n  - url: /\n"), std::string::npos);
}

// HEAD is GET without the body, on every GET route: the same status and head (Content-Length of
// the GET answer), no body bytes, so the next answer on the connection starts right after it.
TEST_F(DocsTest, HeadGetsTheHeadOfTheGetAnswerAndNoBody) {
  auto get = http().get("/docs/reference");
  ASSERT_EQ(get.status, 200) << get.describe();
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.send(
      "HEAD /docs/reference HTTP/1.1\r\nHost: t\r\n\r\n"
      "HEAD /api/campaigns HTTP/1.1\r\nHost: t\r\n\r\n"
      "HEAD /api/auth/token HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(conn.wait_closed(std::chrono::seconds(5))) << conn.received();
  const std::string& got = conn.received();
  std::vector<std::string> heads;
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    auto end = got.find("\r\n\r\n", pos);
    ASSERT_NE(end, std::string::npos) << got;
    heads.push_back(got.substr(pos, end + 4 - pos));
    pos = end + 4;
  }
  EXPECT_EQ(heads[0].rfind("HTTP/1.1 200 ", 0), 0u) << heads[0];
  EXPECT_NE(heads[0].find("\r\nContent-Length: " + std::to_string(get.body.size()) + "\r\n"), std::string::npos)
      << heads[0];
  EXPECT_NE(heads[0].find("\r\nContent-Type: text/html"), std::string::npos) << heads[0];
  // A GET route that needs a token answers HEAD as it answers GET: 401.
  EXPECT_EQ(heads[1].rfind("HTTP/1.1 401 ", 0), 0u) << heads[1];
  // A route without GET: 405, as for GET.
  EXPECT_EQ(heads[2].rfind("HTTP/1.1 405 ", 0), 0u) << heads[2];
  EXPECT_NE(heads[2].find("\r\nAllow: POST\r\n"), std::string::npos) << heads[2];
  // The answer to the GET follows the third head at once, whole.
  std::string rest = got.substr(pos);
  EXPECT_EQ(rest.rfind("HTTP/1.1 200 ", 0), 0u) << rest;
  EXPECT_NE(rest.find("\"status\""), std::string::npos) << rest;
}

}  // namespace
}  // namespace kargo::itest
