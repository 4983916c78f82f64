#include "kargo/core/validator.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

using namespace kargo;
using nlohmann::json;

namespace {
std::vector<FieldError> errors_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.http_status(), 422);
    EXPECT_STREQ(e.code().name, "VALIDATION_ERROR");
    return e.details();
  }
  return {};
}
}  // namespace

TEST(Validator, CollectsEveryBadFieldAtOnce) {
  json body = {{"name", ""}, {"budget", -5}, {"role", "root"}};
  auto errs = errors_of([&] {
    Validator v(body);
    v.string("name", {.required = true, .min_length = 1, .max_length = 255});
    v.number("budget", {.required = true, .exclusive_min = 0});
    v.enumeration("role", {"viewer", "editor"}, {.required = true});
    v.string("missing", {.required = true});
    v.check();
  });
  ASSERT_EQ(errs.size(), 4u);
  EXPECT_EQ(errs[0], (FieldError{"name", "must not be empty"}));
  EXPECT_EQ(errs[1], (FieldError{"budget", "must be > 0"}));
  EXPECT_EQ(errs[2].field, "role");
  EXPECT_EQ(errs[3], (FieldError{"missing", "is required"}));
}

TEST(Validator, WrongTypesAreReportedPerField) {
  json body = {{"name", 5}, {"budget", "100"}, {"active", "yes"}, {"tags", "x"}};
  auto errs = errors_of([&] {
    Validator v(body);
    v.string("name");
    v.number("budget");
    v.boolean("active");
    v.array("tags");
    v.check();
  });
  ASSERT_EQ(errs.size(), 4u);
  EXPECT_EQ(errs[0].message, "must be a string, got a number");
  EXPECT_EQ(errs[1].message, "must be a number, got a string");
  EXPECT_EQ(errs[2].message, "must be a boolean, got a string");
  EXPECT_EQ(errs[3].message, "must be an array, got a string");
}

TEST(Validator, NullCountsAsAbsent) {
  json body = {{"name", nullptr}};
  Validator v(body);
  EXPECT_FALSE(v.string("name"));
  EXPECT_TRUE(v.ok());
  EXPECT_FALSE(v.string("name", {.required = true}));
  EXPECT_FALSE(v.ok());
}

TEST(Validator, LengthCountsCodePointsNotBytes) {
  json body = {{"name", "\xC3\xA9\xC3\xA9\xC3\xA9"}};  // three é
  Validator v(body);
  EXPECT_TRUE(v.string("name", {.max_length = 3}));
  EXPECT_TRUE(v.ok());
}

TEST(Validator, NestedFieldsArePrefixed) {
  json body = {{"targeting", {{"viewability_threshold", 150}}}};
  auto errs = errors_of([&] {
    Validator v(body);
    Validator t = v.nested(body["targeting"], "targeting");
    t.number("viewability_threshold", {.min = 0, .max = 100});
    v.check();
  });
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "targeting.viewability_threshold");
  EXPECT_EQ(errs[0].message, "must be <= 100");
}

TEST(Validator, StringArraysReportTheBadIndex) {
  json body = {{"ids", {"a", 3, ""}}};
  auto errs = errors_of([&] {
    Validator v(body);
    v.string_array("ids", {.min_length = 1});
    v.check();
  });
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0].field, "ids[1]");
  EXPECT_EQ(errs[1].field, "ids[2]");
}

TEST(Validator, IntegersRejectFractionsAndRange) {
  json body = {{"a", 1.5}, {"b", 7}, {"c", 2.0}};
  Validator v(body);
  EXPECT_FALSE(v.integer("a"));
  EXPECT_FALSE(v.integer("b", {.min = 1, .max = 5}));
  EXPECT_EQ(v.integer("c"), 2);
  ASSERT_EQ(v.errors().size(), 2u);
  EXPECT_EQ(v.errors()[1].message, "must be >= 1 and <= 5");
}

TEST(Validator, NonObjectBodyIsOneError) {
  json body = json::array();
  Validator v(body);
  EXPECT_FALSE(v.string("x", {.required = true}));
  ASSERT_EQ(v.errors().size(), 1u);
  EXPECT_EQ(v.errors()[0].field, "body");
}

TEST(TextProblem, AcceptsUtf8TextWithoutNul) {
  for (std::string_view ok : {"", "plain", "caf\xc3\xa9", "\xf0\x9f\x98\x80 emoji", "tab\tand\nnewline"}) {
    EXPECT_EQ(text_problem(ok), std::nullopt) << ok;
  }
}

TEST(TextProblem, RefusesNulAnywhere) {
  for (std::string_view nul : {std::string_view("\0", 1), std::string_view("a\0", 2),
                               std::string_view("\0b", 2), std::string_view("a\0b", 3)}) {
    EXPECT_EQ(text_problem(nul).value_or("accepted"), "must not contain NUL characters");
  }
}

TEST(TextProblem, RefusesMalformedUtf8) {
  // A lone 0xFF, Latin-1, a truncated sequence, an overlong NUL, a UTF-16 surrogate, past U+10FFFF.
  for (std::string_view bad : {"\xff", "caf\xe9", "\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
    EXPECT_EQ(text_problem(bad).value_or("accepted"), "must be UTF-8 text");
  }
}
