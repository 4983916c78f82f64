// The webhook rules without I/O (domain/webhook): events, both signatures, the retry schedule.
#include "kargo/domain/webhook.hpp"

#include <gtest/gtest.h>

#include "kargo/core/digest.hpp"

using namespace kargo;
using namespace std::chrono;

TEST(WebhookRules, KnowsTheEventsOfTheApiAndNothingElse) {
  EXPECT_EQ(domain::webhook_events().size(), 8u);
  for (const char* e : {"campaign.created", "campaign.updated", "campaign.deleted", "creative.processed",
                        "bulk.sheet.generated", "report.generated", "integration.sync.completed",
                        "error.critical"}) {
    EXPECT_TRUE(domain::is_webhook_event(e)) << e;
  }
  for (const char* e : {"ping", "campaign.*", "*", "", "Campaign.Created", "campaign.created "}) {
    EXPECT_FALSE(domain::is_webhook_event(e)) << e;
  }
}

TEST(WebhookRules, SignatureIsTheHexHmacOfTheRawBodyWithTheSecretsBytes) {
  // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231-style known value.
  EXPECT_EQ(domain::webhook_signature("key", "The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  // Keyed with the whole secret, whsec_ prefix included (the contract's X-Webhook-Signature).
  EXPECT_EQ(domain::webhook_signature("whsec_abc", "{}"), "sha256=" + hex_encode(hmac_sha256("whsec_abc", "{}")));
}

TEST(WebhookRules, StandardSignatureMatchesTheStandardWebhooksTestVector) {
  // The example of the Standard Webhooks specification (standardwebhooks.com).
  EXPECT_EQ(domain::standard_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                       1614265330, "{\"test\": 2432232314}"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookRules, StandardKeyIsTheDecodedSecretOrItsBytes) {
  EXPECT_EQ(domain::standard_signing_key("whsec_aGVsbG8="), std::optional<std::string>("hello"));
  EXPECT_EQ(domain::standard_signing_key("a-plain-secret-of-some-length"),
            std::optional<std::string>("a-plain-secret-of-some-length"));
  EXPECT_EQ(domain::standard_signing_key("whsec_not base64!!"), std::nullopt);
  EXPECT_EQ(domain::standard_signing_key("whsec_"), std::nullopt);
  // A plain secret signs with its bytes.
  const std::string body = "{\"a\":1}";
  EXPECT_EQ(domain::standard_signature("plain-secret-0123456789", "dlv_1", 1700000000, body),
            domain::standard_signature("whsec_cGxhaW4tc2VjcmV0LTAxMjM0NTY3ODk=", "dlv_1", 1700000000, body));
}

TEST(WebhookRules, RetriesBackOffFromSecondsToHoursWithinTheJitter) {
  const milliseconds base(5000);
  // Without spread (jitter 0.5 -> factor 1.0): 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h.
  const std::vector<seconds> expected{seconds(5),    seconds(30),   minutes(2), minutes(10), minutes(30),
                                      hours(1),      hours(2),      hours(4),   hours(8)};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(domain::retry_delay(static_cast<int>(i) + 1, base, 0.5), expected[i]) << "after attempt " << i + 1;
  }
  // The first retry comes within 30 s even at the top of the spread; ten attempts span over an hour.
  EXPECT_LE(domain::retry_delay(1, base, 0.999), seconds(30));
  milliseconds total(0);
  for (int a = 1; a <= 9; ++a) total += domain::retry_delay(a, base, 0.0);
  EXPECT_GE(total, hours(1));
  // +-20 %, and past the table the last step repeats.
  EXPECT_EQ(domain::retry_delay(1, base, 0.0), milliseconds(4000));
  EXPECT_EQ(domain::retry_delay(1, base, 1.0), milliseconds(6000));
  EXPECT_EQ(domain::retry_delay(20, base, 0.5), hours(8));
  EXPECT_EQ(domain::retry_delay(0, base, 0.5), seconds(5));
}
