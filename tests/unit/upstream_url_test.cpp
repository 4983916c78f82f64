#include <gtest/gtest.h>

#include "kargo/upstream/url.hpp"

using namespace kargo::upstream;

TEST(UpstreamUrl, HttpAndHttpsGetTheirDefaultPorts) {
  auto a = parse_url("http://example.com");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->https);
  EXPECT_EQ(a->port, 80);
  EXPECT_FALSE(a->explicit_port);
  EXPECT_EQ(a->target, "/");
  auto b = parse_url("https://advertising-api.amazon.com/dsp/v1/campaigns");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->https);
  EXPECT_EQ(b->port, 443);
  EXPECT_EQ(b->target, "/dsp/v1/campaigns");
  EXPECT_EQ(b->authority(), "advertising-api.amazon.com");
  EXPECT_EQ(b->origin(), "https://advertising-api.amazon.com:443");
}

TEST(UpstreamUrl, ExplicitPortIsPartOfTheAuthority) {
  auto u = parse_url("http://127.0.0.1:9100/snippet/dm/1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 9100);
  EXPECT_EQ(u->authority(), "127.0.0.1:9100");
  EXPECT_TRUE(u->ip_literal());
}

TEST(UpstreamUrl, SchemeAndHostAreCaseInsensitive) {
  auto u = parse_url("HTTPS://Snippet.KARGO.com/Path/Keeps/Case");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->host, "snippet.kargo.com");
  EXPECT_EQ(u->target, "/Path/Keeps/Case");
  EXPECT_FALSE(u->ip_literal());
}

TEST(UpstreamUrl, QueryIsKeptEncodedAndTheFragmentDropped) {
  auto u = parse_url("https://h/reports?a=1&b=x%20y#section");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/reports?a=1&b=x%20y");
  EXPECT_EQ(u->str(), "https://h/reports?a=1&b=x%20y");
  auto q = parse_url("http://h?x=1");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->target, "/?x=1");
}

TEST(UpstreamUrl, Ipv6LiteralsLoseTheirBracketsButKeepThemInTheAuthority) {
  auto u = parse_url("http://[::1]:8080/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_TRUE(u->ip_literal());
  EXPECT_EQ(u->authority(), "[::1]:8080");
  EXPECT_EQ(u->origin(), "http://[::1]:8080");
}

TEST(UpstreamUrl, RefusesWhatCannotBeCalledSafely) {
  for (const char* bad :
       {"", "example.com/x", "/relative/path", "ftp://example.com/", "file:///etc/passwd",
        "https://user:secret@example.com/", "http://:80/", "http:///x", "http://h:0/", "http://h:65536/",
        "http://h:99999999/", "http://h:/x", "http://exa mple.com/", "http://h/a b",
        "https://ex%00ample.com/", "http://[v1.x]/", "javascript:alert(1)"}) {
    EXPECT_FALSE(parse_url(bad)) << bad;
  }
}

TEST(UpstreamUrl, ResolvesRedirectLocations) {
  auto base = *parse_url("https://snippet.kargo.com/snippet/dm/1?x=1");
  EXPECT_EQ(resolve_url(base, "/snippet/dm/2")->str(), "https://snippet.kargo.com/snippet/dm/2");
  EXPECT_EQ(resolve_url(base, "3")->str(), "https://snippet.kargo.com/snippet/dm/3");
  EXPECT_EQ(resolve_url(base, "../v2/4")->str(), "https://snippet.kargo.com/snippet/v2/4");
  EXPECT_EQ(resolve_url(base, "//evil.example/x")->str(), "https://evil.example/x");
  EXPECT_EQ(resolve_url(base, "http://other:8080/y")->authority(), "other:8080");
  EXPECT_FALSE(resolve_url(base, "ftp://other/"));
  EXPECT_FALSE(resolve_url(base, "http://[oops"));
}

TEST(UpstreamUrl, HostAllowListUsesHostAndPortLikeKargoSnippetHosts) {
  std::vector<std::string> allowed{"snippet.kargo.com", "127.0.0.1:9100", "[::1]:9100"};
  EXPECT_TRUE(host_allowed(*parse_url("https://snippet.kargo.com/snippet/dm/1"), allowed));
  EXPECT_TRUE(host_allowed(*parse_url("http://SNIPPET.kargo.com/x"), allowed));
  EXPECT_TRUE(host_allowed(*parse_url("https://snippet.kargo.com:443/x"), allowed));
  EXPECT_TRUE(host_allowed(*parse_url("http://127.0.0.1:9100/snippet/dm/1"), allowed));
  EXPECT_TRUE(host_allowed(*parse_url("http://[::1]:9100/x"), allowed));
  EXPECT_FALSE(host_allowed(*parse_url("https://snippet.kargo.com:8443/x"), allowed));  // other port
  EXPECT_FALSE(host_allowed(*parse_url("http://127.0.0.1/x"), allowed));
  EXPECT_FALSE(host_allowed(*parse_url("https://evil.snippet.kargo.com/x"), allowed));
  EXPECT_FALSE(host_allowed(*parse_url("https://snippet.kargo.com.evil.example/x"), allowed));
  EXPECT_FALSE(host_allowed(*parse_url("http://169.254.169.254/latest"), allowed));
  EXPECT_FALSE(host_allowed(*parse_url("https://snippet.kargo.com/x"), {}));
}
