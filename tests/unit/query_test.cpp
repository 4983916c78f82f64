#include "kargo/http/query.hpp"

#include <gtest/gtest.h>

using namespace kargo;

namespace {
http::Request with_query(std::vector<std::pair<std::string, std::string>> query) {
  http::Request r;
  r.query = std::move(query);
  return r;
}
}  // namespace

TEST(QueryText, Utf8ValuesPass) {
  EXPECT_FALSE(http::query_text_error(with_query({})).has_value());
  EXPECT_FALSE(
      http::query_text_error(with_query({{"q", "caf\xc3\xa9"}, {"limit", "20"}, {"flag", ""}})).has_value());
}

TEST(QueryText, EveryParameterWithANulOrInvalidUtf8IsNamedOnce) {
  auto error = http::query_text_error(with_query({{"q", std::string("\0", 1)},
                                                  {"limit", "20"},
                                                  {"advertiser_id", "\xff"},
                                                  {"q", std::string("again\0", 6)}}));
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->http_status(), 422);
  EXPECT_STREQ(error->code().name, "VALIDATION_ERROR");
  EXPECT_EQ(error->details(), (std::vector<FieldError>{{"q", "must not contain NUL characters"},
                                                       {"advertiser_id", "must be UTF-8 text"}}));
}
