//! How the Stripe connector is set up; `server` builds a [`StripeConfig`] from its settings.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

/// Stripe's production API.
pub const STRIPE_BASE_URL_DEFAULT: &str = "https://api.stripe.com";
/// Bound on one HTTP exchange with Stripe. Stripe's own libraries allow 80 s; a shopper waits
/// behind an authorization, and an unanswered call is not lost (it is asked again with the same
/// key), so much less.
pub const STRIPE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Bound on opening a connection. Nothing was sent when it fails, so a retry is always safe.
pub const STRIPE_CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(3);
/// Retries after the first try, for answers that say "not performed, try again".
pub const STRIPE_MAX_RETRIES_DEFAULT: u32 = 2;
/// First backoff delay; each retry doubles it, jitter takes up to half of it away.
pub const STRIPE_RETRY_BASE_DEFAULT: Duration = Duration::from_millis(200);
/// Longest backoff delay between two tries, before `Retry-After` is considered.
pub const STRIPE_RETRY_DELAY_MAX_DEFAULT: Duration = Duration::from_secs(2);
/// Bound on one gateway call, retries and waits included. Kept below the service's call
/// timeout (`GATEWAY_CALL_TIMEOUT_DEFAULT`, 30 s) so the connector, which knows whether a
/// request was sent, decides how a call ended, not the service's backstop.
pub const STRIPE_CALL_DEADLINE_DEFAULT: Duration = Duration::from_secs(25);
/// Stripe's libraries reject signatures older than 300 s (payments-facts §1).
pub const STRIPE_WEBHOOK_TOLERANCE_DEFAULT: Duration = Duration::from_secs(300);

/// Consecutive failures (timeouts, 5xx, 429, connection errors) that open the breaker.
pub const BREAKER_FAILURE_THRESHOLD_DEFAULT: u32 = 5;
/// Failures further apart than this are not consecutive trouble: the count starts again.
pub const BREAKER_FAILURE_WINDOW_DEFAULT: Duration = Duration::from_secs(30);
/// How long an open breaker fails calls fast before it lets one probe through.
pub const BREAKER_COOL_DOWN_DEFAULT: Duration = Duration::from_secs(15);

/// The Stripe connector's settings. `Debug` never shows the secret key or the webhook secrets.
#[derive(Clone)]
pub struct StripeConfig {
    /// Without a trailing slash; tests point it at a local fake.
    pub base_url: String,
    /// `sk_live_…` / `sk_test_…` (or a restricted `rk_…` key), sent as a Bearer token.
    pub secret_key: SecretString,
    /// The endpoint signing secrets (`whsec_…`) a webhook may be signed with. Several while a
    /// secret is being rolled: Stripe signs with each active one (payments-facts §1).
    pub webhook_secrets: Vec<SecretString>,
    /// How far a webhook's signing time may be from now, either way.
    pub webhook_tolerance: Duration,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_retries: u32,
    pub retry_base: Duration,
    pub retry_delay_max: Duration,
    pub call_deadline: Duration,
    pub breaker: BreakerConfig,
}

impl StripeConfig {
    /// The defaults above, against Stripe's production API, with no webhook secret.
    pub fn new(secret_key: SecretString) -> StripeConfig {
        StripeConfig {
            base_url: STRIPE_BASE_URL_DEFAULT.to_owned(),
            secret_key,
            webhook_secrets: Vec::new(),
            webhook_tolerance: STRIPE_WEBHOOK_TOLERANCE_DEFAULT,
            timeout: STRIPE_TIMEOUT_DEFAULT,
            connect_timeout: STRIPE_CONNECT_TIMEOUT_DEFAULT,
            max_retries: STRIPE_MAX_RETRIES_DEFAULT,
            retry_base: STRIPE_RETRY_BASE_DEFAULT,
            retry_delay_max: STRIPE_RETRY_DELAY_MAX_DEFAULT,
            call_deadline: STRIPE_CALL_DEADLINE_DEFAULT,
            breaker: BreakerConfig::default(),
        }
    }
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("base_url", &self.base_url)
            .field("secret_key", &"[redacted]")
            .field(
                "webhook_secrets",
                &format_args!("[{} redacted]", self.webhook_secrets.len()),
            )
            .field("webhook_tolerance", &self.webhook_tolerance)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_base", &self.retry_base)
            .field("retry_delay_max", &self.retry_delay_max)
            .field("call_deadline", &self.call_deadline)
            .field("breaker", &self.breaker)
            .finish()
    }
}

/// When the circuit breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub failure_window: Duration,
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> BreakerConfig {
        BreakerConfig {
            failure_threshold: BREAKER_FAILURE_THRESHOLD_DEFAULT,
            failure_window: BREAKER_FAILURE_WINDOW_DEFAULT,
            cool_down: BREAKER_COOL_DOWN_DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_settings_but_no_secret() {
        let mut config = StripeConfig::new(SecretString::from("sk_test_do_not_print"));
        config.webhook_secrets = vec![SecretString::from("whsec_do_not_print")];
        let shown = format!("{config:?}");
        assert!(!shown.contains("do_not_print"), "{shown}");
        assert!(shown.contains("api.stripe.com"), "{shown}");
        assert!(shown.contains("[1 redacted]"), "{shown}");
    }

    #[test]
    fn the_deadline_leaves_the_service_backstop_the_last_word() {
        assert!(STRIPE_CALL_DEADLINE_DEFAULT < crate::service::GATEWAY_CALL_TIMEOUT_DEFAULT);
        assert!(STRIPE_TIMEOUT_DEFAULT <= STRIPE_CALL_DEADLINE_DEFAULT);
    }
}
