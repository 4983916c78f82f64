#pragma once
// Webhook rules without I/O (docs/WEBHOOKS.md): the events a webhook can subscribe to, the two
// signatures of a delivery, and the retry schedule.
//
//   auto sig = domain::webhook_signature(secret, body);                     // "sha256=<hex>"
//   auto std = domain::standard_signature(secret, delivery_id, ts, body);   // "v1,<base64>"
//   auto wait = domain::retry_delay(attempts_made, base, jitter01);

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kargo::domain {

// The events of the API, in documentation order. "ping" is sent only by POST .../ping.
const std::vector<std::string>& webhook_events();
bool is_webhook_event(std::string_view event);

// X-Webhook-Signature: "sha256=" + hex HMAC-SHA256 keyed with the secret's bytes, over the body.
std::string webhook_signature(std::string_view secret, std::string_view body);
// The key of the Standard Webhooks signature: the base64-decoded part after "whsec_" when the
// secret has that prefix, else the secret's bytes. nullopt when the part after "whsec_" is not
// base64 (such a secret is refused when the webhook is created).
std::optional<std::string> standard_signing_key(std::string_view secret);
// webhook-signature: "v1," + base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>").
std::string standard_signature(std::string_view secret, std::string_view delivery_id, int64_t timestamp,
                               std::string_view body);

// The wait after `attempts_made` failed attempts (1 -> before the second attempt): `base` times
// 1, 6, 24, 120, 360, 720, 1440, 2880, 5760 (with the default base of 5 s: 5 s, 30 s, 2 min,
// 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, so ten attempts over 16 h), each spread by up to +-20 %
// with `jitter` in [0, 1) so that receivers coming back are not hit by every sender at once.
std::chrono::milliseconds retry_delay(int attempts_made, std::chrono::milliseconds base, double jitter);

}  // namespace kargo::domain
