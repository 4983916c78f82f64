#include "kargo/http/router.hpp"

#include <gtest/gtest.h>

using namespace kargo::http;

namespace {
Handler noop() {
  return [](Request&) { return Response{}; };
}
}  // namespace

TEST(Router, MatchesTemplateAndExtractsParams) {
  Router r;
  r.add("GET", "/api/campaigns/{id}", {}, noop());
  auto m = r.match("GET", "/api/campaigns/camp_1");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route->path, "/api/campaigns/{id}");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "id");
  EXPECT_EQ(m.params[0].second, "camp_1");
}

TEST(Router, LiteralSegmentWinsOverParameter) {
  Router r;
  r.add("GET", "/api/creatives/{id}", {}, noop());
  r.add("POST", "/api/creatives/process", {}, noop());
  auto m = r.match("POST", "/api/creatives/process");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(m.route->path, "/api/creatives/process");
  auto g = r.match("GET", "/api/creatives/crv_1");
  ASSERT_EQ(g.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(g.route->path, "/api/creatives/{id}");
}

TEST(Router, KnownPathWithWrongMethodIs405WithAllow) {
  Router r;
  r.add("GET", "/api/campaigns", {}, noop());
  r.add("POST", "/api/campaigns", {}, noop());
  auto m = r.match("DELETE", "/api/campaigns");
  EXPECT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, POST");
  EXPECT_EQ(m.path_template, "/api/campaigns");
}

TEST(Router, UnknownPathIs404) {
  Router r;
  r.add("GET", "/api/campaigns", {}, noop());
  EXPECT_EQ(r.match("GET", "/api/nope").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(r.match("GET", "/api/campaigns/x/y").kind, RouteMatch::Kind::kNotFound);
}

TEST(Router, TrailingAndRepeatedSlashesAreIgnored) {
  Router r;
  r.add("GET", "/health/live", {}, noop());
  EXPECT_EQ(r.match("GET", "/health/live/").kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(r.match("GET", "//health//live").kind, RouteMatch::Kind::kFound);
}

TEST(Router, RootPathMatches) {
  Router r;
  r.add("GET", "/", {}, noop());
  EXPECT_EQ(r.match("GET", "/").kind, RouteMatch::Kind::kFound);
}

TEST(Router, RejectsDuplicateRoutes) {
  Router r;
  r.add("GET", "/a/{id}", {}, noop());
  EXPECT_THROW(r.add("GET", "/a/{other}", {}, noop()), std::logic_error);
}
