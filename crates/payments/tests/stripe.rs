//! Contract tests of the Stripe connector, against material nobody on the project wrote
//! (shared/reference/stripe: Stripe's OpenAPI subset, its example objects, signature vectors
//! made with Stripe's library) and a fake Stripe on 127.0.0.1. One test binary:
//!
//! - `requests`: every request the connector sends validates against the OpenAPI subset, and
//!   the validator refuses what Stripe would refuse.
//! - `reference`: Stripe's example objects parse into the connector's types; the signature
//!   vectors behave as they say.
//! - `flows`: authorize, capture, void, refund and retrieve against the fake, declines, 3-D
//!   Secure, retries with the same key, timeouts, 429, the circuit breaker, secrets.
//! - `service`: the payments service over the Stripe connector, on a fresh database (SQLite,
//!   or PostgreSQL when TEST_DATABASE_URL is set).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "stripe/fake.rs"]
mod fake;
#[path = "stripe/flows.rs"]
mod flows;
#[path = "stripe/openapi.rs"]
mod openapi;
#[path = "stripe/reference.rs"]
mod reference;
#[path = "stripe/requests.rs"]
mod requests;
#[path = "stripe/service.rs"]
mod service;
#[path = "stripe/webhooks.rs"]
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use kassa_kernel::{Currency, ManualClock, Money, Timestamp};
use kassa_payments::connectors::stripe::{BreakerConfig, StripeConfig, StripeGateway};
use kassa_payments::gateway::AuthorizeRequest;
use kassa_payments::{IdempotencyKey, OrderRef, PaymentId, PaymentMethodToken};
use secrecy::SecretString;

use fake::FakeStripe;

/// The fake accepts only this key; tests check it never shows up where it should not.
pub const SECRET_KEY: &str = "sk_test_kassaContract4242DoNotPrintMe";
pub const WEBHOOK_SECRET: &str = "whsec_test_secret";
const START_MS: i64 = 1_795_000_000_000;

/// Settings for tests: short waits, three failures open the breaker for 30 s.
pub fn config(base_url: &str) -> StripeConfig {
    let mut config = StripeConfig::new(SecretString::from(SECRET_KEY));
    config.base_url = base_url.to_owned();
    config.webhook_secrets = vec![SecretString::from(WEBHOOK_SECRET)];
    config.timeout = Duration::from_secs(2);
    config.connect_timeout = Duration::from_secs(1);
    config.max_retries = 2;
    config.retry_base = Duration::from_millis(5);
    config.retry_delay_max = Duration::from_millis(20);
    config.call_deadline = Duration::from_secs(8);
    config.breaker = BreakerConfig {
        failure_threshold: 3,
        failure_window: Duration::from_secs(60),
        cool_down: Duration::from_secs(30),
    };
    config
}

pub struct Setup {
    pub fake: FakeStripe,
    pub gateway: StripeGateway,
    pub clock: ManualClock,
}

pub async fn setup() -> Setup {
    setup_with(|_| {}).await
}

pub async fn setup_with(change: impl FnOnce(&mut StripeConfig)) -> Setup {
    let fake = FakeStripe::start().await;
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    let mut config = config(&fake.base_url);
    change(&mut config);
    let gateway = StripeGateway::new(config, Arc::new(clock.clone())).unwrap();
    Setup {
        fake,
        gateway,
        clock,
    }
}

pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::Eur)
}

/// An authorization of `amount` with `payment_method`, under a fresh payment's key.
pub fn authorize_request(
    amount: Money,
    payment_method: &str,
    return_url: Option<&str>,
) -> AuthorizeRequest {
    AuthorizeRequest {
        amount,
        payment_method: PaymentMethodToken::parse(payment_method).unwrap(),
        idempotency_key: IdempotencyKey::authorize(PaymentId::new()),
        order_ref: OrderRef::parse(format!("ord_{}", PaymentId::new().as_uuid().simple())).unwrap(),
        return_url: return_url.map(str::to_owned),
    }
}
