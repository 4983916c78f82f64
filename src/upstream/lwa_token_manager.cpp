#include "kargo/upstream/lwa_token_manager.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <future>
#include <mutex>
#include <vector>

#include "json_answer.hpp"
#include "kargo/core/config.hpp"
#include "kargo/core/error_codes.hpp"
#include "kargo/core/log.hpp"
#include "kargo/upstream/channel.hpp"

namespace kargo::upstream {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;
constexpr const char* kLwaService = "amazon_lwa";
constexpr const char* kEndpoint = "/auth/o2/token";

std::string form_value(std::string_view v) { return boost::urls::encode(v, boost::urls::unreserved_chars); }

// What a refusal of the credentials means for the operator: the variable to check.
const char* hint_for(std::string_view error) {
  if (error == "invalid_grant") return "check AMAZON_REFRESH_TOKEN";
  return "check AMAZON_CLIENT_ID and AMAZON_CLIENT_SECRET";
}

bool credentials_refused(std::string_view error) {
  return error == "invalid_grant" || error == "invalid_client" || error == "unauthorized_client";
}

}  // namespace

LwaCredentials LwaCredentials::from_config(const Config& config) {
  LwaCredentials c;
  c.token_url = config.amazon_lwa_token_url;
  c.client_id = config.amazon_client_id.value_or("");
  c.client_secret = config.amazon_client_secret.value_or("");
  c.refresh_token = config.amazon_refresh_token.value_or("");
  c.configured = config.amazon_configured();
  return c;
}

Error amazon_not_configured() {
  return Error(codes::kExternalApi, "Amazon DSP is not configured",
               "Amazon DSP is not configured: set AMAZON_CLIENT_ID, AMAZON_CLIENT_SECRET, "
               "AMAZON_REFRESH_TOKEN and AMAZON_PROFILE_ID")
      .with_status(503);
}

struct LwaTokenManager::Impl : std::enable_shared_from_this<Impl> {
  Impl(UpstreamChannel& ch, LwaCredentials c, LwaOptions o)
      : channel(ch), credentials(std::move(c)), options(o) {}

  struct Cached {
    AccessToken token;
    SteadyClock::time_point renew_at;
  };

  void token(Callback done) {
    std::unique_lock lock(mutex);
    if (!credentials.configured) {
      lock.unlock();
      return done(amazon_not_configured());
    }
    auto now = SteadyClock::now();
    if (cached && now < cached->renew_at) {
      AccessToken copy = cached->token;
      lock.unlock();
      return done(std::move(copy));
    }
    if (rejected && now < rejected_at + options.rejection_backoff) {
      Error copy = *rejected;
      lock.unlock();
      return done(std::move(copy));
    }
    waiters.push_back(std::move(done));
    if (refreshing) return;  // joins the refresh in flight
    refreshing = true;
    lock.unlock();
    start_refresh();
  }

  void start_refresh() {
    std::string body = "grant_type=refresh_token&refresh_token=" + form_value(credentials.refresh_token) +
                       "&client_id=" + form_value(credentials.client_id) +
                       "&client_secret=" + form_value(credentials.client_secret);
    UpstreamCall call{
        .endpoint = kEndpoint,
        .request = {.method = "POST",
                    .url = credentials.token_url,
                    .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                                {"Accept", "application/json"}},
                    .body = std::move(body),
                    .max_response_bytes = 64u << 10},
        // Asking for a token twice is harmless: the refresh grant changes nothing at LWA.
        .idempotency = Idempotency::kIdempotent,
    };
    auto requested = SteadyClock::now();
    channel.call(std::move(call), [self = shared_from_this(), requested](UpstreamResult r) {
      self->finish(self->interpret(std::move(r), requested));
    });
  }

  // What one refresh produced: the token to cache, or the error for every waiter.
  struct Outcome {
    TokenResult result;
    std::optional<Cached> fresh;
    bool refused = false;  // LWA refused the credentials themselves
  };

  Outcome interpret(UpstreamResult r, SteadyClock::time_point requested) {
    if (!r.ok()) return {r.error()};
    const HttpResponse& res = r.response();
    detail::JsonAnswer in(kLwaService, "POST /auth/o2/token");
    try {
      if (res.status == 200) {
        auto doc = in.parse(res);
        if (!doc.is_object()) in.malformed("the body is not a JSON object");
        std::string access = in.string(doc, "access_token");
        if (access.empty()) in.malformed("access_token is empty");
        int64_t expires_in = in.integer(doc, "expires_in");
        if (expires_in <= 0 || expires_in > 366 * 86400) in.malformed("expires_in is out of range");
        if (auto type = in.optional_string(doc, "token_type")) {
          std::string lower;
          for (char c : *type) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (lower != "bearer") in.malformed("token_type is not bearer");
        }
        // The lifetime counts from when we asked, not from when the answer arrived: a slow answer
        // must not make us use a token past its real expiry.
        std::chrono::milliseconds lifetime = std::chrono::seconds(expires_in);
        auto margin = std::min(options.renew_margin, lifetime / 2);
        Cached fresh{{std::move(access), SystemClock::now() - (SteadyClock::now() - requested) +
                                             std::chrono::duration_cast<SystemClock::duration>(lifetime)},
                     requested + lifetime - margin};
        return {fresh.token, fresh};
      }
      // RFC 6749 section 5.2 error bodies.
      auto doc = detail::JsonAnswer::try_object(res.body);
      std::string code = doc && (*doc)["error"].is_string() ? (*doc)["error"].get<std::string>() : "";
      std::string description = doc && (*doc)["error_description"].is_string()
                                    ? detail::excerpt((*doc)["error_description"].get<std::string>(), 200)
                                    : "";
      if ((res.status == 400 || res.status == 401) && credentials_refused(code)) {
        std::string external = "Amazon credentials rejected: " + code +
                               (description.empty() ? "" : " (" + description + ")") + "; " + hint_for(code);
        return {Error(codes::kExternalApi, external, external).with_status(503), std::nullopt, true};
      }
      if (res.status >= 400 && res.status < 500) {
        std::string external = "Login with Amazon refused the token request: HTTP " +
                               std::to_string(res.status) + (code.empty() ? "" : " " + code);
        return {Error(codes::kExternalApi, external, external + ": " + detail::excerpt(res.body))};
      }
      return {status_error(kLwaService, res)};
    } catch (const Error& e) {
      return {e};
    }
  }

  void finish(Outcome outcome) {
    std::vector<Callback> ready;
    TokenResult result = outcome.result;
    {
      std::lock_guard lock(mutex);
      refreshing = false;
      ready.swap(waiters);
      if (!outcome.fresh && !outcome.refused && cached && SystemClock::now() < cached->token.expires_at) {
        // The early renewal failed (LWA down, throttled) but the old token has not expired yet:
        // keep using it. The next caller tries the renewal again (one at a time, and the
        // amazon_lwa circuit stops a storm).
        log::warn("Login with Amazon token renewal failed; using the current token until it expires",
                  {{"error", std::get<Error>(outcome.result).external_message()}});
        result = cached->token;
      } else if (outcome.fresh) {
        cached = outcome.fresh;
        if (rejected) log::info("Login with Amazon accepts the credentials again");
        rejected.reset();
      } else if (outcome.refused) {
        bool first = !rejected;
        rejected = std::get<Error>(result);
        rejected_at = SteadyClock::now();
        cached.reset();
        // Once per change of state: the log says it clearly without repeating it per request.
        if (first) {
          log::error(
              "Login with Amazon rejected the configured credentials; Amazon calls fail until the "
              "configuration is fixed",
              {{"error", rejected->external_message()}});
        }
      }
    }
    for (auto& done : ready) {
      try {
        done(result);
      } catch (const std::exception& e) {
        log::error("token callback threw", {{"error", e.what()}});
      }
    }
  }

  UpstreamChannel& channel;
  const LwaCredentials credentials;
  const LwaOptions options;
  mutable std::mutex mutex;
  std::optional<Cached> cached;
  bool refreshing = false;
  std::vector<Callback> waiters;
  std::optional<Error> rejected;
  SteadyClock::time_point rejected_at{};
};

LwaTokenManager::LwaTokenManager(UpstreamChannel& channel, LwaCredentials credentials, LwaOptions options)
    : impl_(std::make_shared<Impl>(channel, std::move(credentials), options)) {
  channel.declare_endpoint(kEndpoint);
}

LwaTokenManager::~LwaTokenManager() = default;

void LwaTokenManager::token(Callback done) { impl_->token(std::move(done)); }

TokenResult LwaTokenManager::token_sync() {
  {
    std::lock_guard lock(impl_->mutex);
    bool cached = impl_->cached && SteadyClock::now() < impl_->cached->renew_at;
    if (!cached && impl_->credentials.configured && impl_->channel.on_client_thread()) {
      return Error(codes::kInternal, "internal error",
                   "LwaTokenManager::token_sync on an upstream client thread (it would deadlock)");
    }
  }
  std::promise<TokenResult> promise;
  auto future = promise.get_future();
  impl_->token([&promise](TokenResult r) { promise.set_value(std::move(r)); });
  return future.get();
}

void LwaTokenManager::invalidate(const std::string& token) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->cached && impl_->cached->token.value == token) impl_->cached.reset();
}

bool LwaTokenManager::configured() const { return impl_->credentials.configured; }

std::optional<std::chrono::system_clock::time_point> LwaTokenManager::token_expires_at() const {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->cached) return std::nullopt;
  return impl_->cached->token.expires_at;
}

std::optional<Error> LwaTokenManager::rejection() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->rejected;
}

}  // namespace kargo::upstream
