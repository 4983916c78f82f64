#include "kargo/domain/webhook.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "kargo/core/digest.hpp"

namespace kargo::domain {
namespace {

constexpr std::string_view kStandardPrefix = "whsec_";
constexpr std::array<int, 9> kBackoff{1, 6, 24, 120, 360, 720, 1440, 2880, 5760};

}  // namespace

const std::vector<std::string>& webhook_events() {
  static const std::vector<std::string> events{
      "campaign.created", "campaign.updated",     "campaign.deleted",           "creative.processed",
      "bulk.sheet.generated", "report.generated", "integration.sync.completed", "error.critical"};
  return events;
}

bool is_webhook_event(std::string_view event) {
  const auto& all = webhook_events();
  return std::find(all.begin(), all.end(), event) != all.end();
}

std::string webhook_signature(std::string_view secret, std::string_view body) {
  return "sha256=" + hex_encode(hmac_sha256(secret, body));
}

std::optional<std::string> standard_signing_key(std::string_view secret) {
  if (secret.substr(0, kStandardPrefix.size()) != kStandardPrefix) return std::string(secret);
  auto key = base64_decode(secret.substr(kStandardPrefix.size()));
  if (!key || key->empty()) return std::nullopt;
  return key;
}

std::string standard_signature(std::string_view secret, std::string_view delivery_id, int64_t timestamp,
                               std::string_view body) {
  std::string signed_text;
  signed_text.reserve(delivery_id.size() + body.size() + 24);
  signed_text.append(delivery_id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  // A secret whose key does not decode cannot be stored (422 at create), so value() holds.
  return "v1," + base64_encode(hmac_sha256(standard_signing_key(secret).value_or(std::string(secret)), signed_text));
}

std::chrono::milliseconds retry_delay(int attempts_made, std::chrono::milliseconds base, double jitter) {
  const size_t step = static_cast<size_t>(std::clamp(attempts_made, 1, static_cast<int>(kBackoff.size()))) - 1;
  const double spread = 0.8 + 0.4 * std::clamp(jitter, 0.0, 1.0);
  return std::chrono::milliseconds(
      std::llround(static_cast<double>(base.count()) * kBackoff[step] * spread));
}

}  // namespace kargo::domain
