//! Settings, parsed once at start-up into typed structs.
//!
//! Layers, later wins: the built-in `config/default.toml` (compiled in, so the binary runs with
//! no files at all), then `<config dir>/<KASSA_ENV>.toml` if present (`KASSA_ENV` defaults to
//! `local`), then environment variables `KASSA__<SECTION>__<KEY>`. An environment value is read
//! as the type the key already has (a port stays an integer); a key with no default is a string.
//! Every error names the offending key, e.g. `server.port (from KASSA__SERVER__PORT): …`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kassa_idempotency::IdempotencyConfig;
use kassa_identity::{
    IdentityConfig, JwtSecret, PasswordParams, RefundCap, ThrottleLimit, ThrottleLimits,
};
use kassa_inventory::{InventoryConfig, LocationId, RESERVATION_TTL_MAX, RESERVATION_TTL_MIN};
use kassa_kernel::{Currency, Money};
use kassa_orders::CaptureMode;
use kassa_payments::connectors::stripe::StripeConfig;
use kassa_payments::SandboxConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use toml::{Table, Value};

const DEFAULTS: &str = include_str!("../../../config/default.toml");
const ENV_PREFIX: &str = "KASSA__";

/// The most lines a cart may be configured to hold: every cart read prices all its SKUs in one
/// catalog lookup, which takes at most `kassa_catalog::OFFER_SKUS_MAX` SKUs (500, far below
/// `u32::MAX`, so the conversion is exact).
const CART_LINES_MAX_LIMIT: u32 = kassa_catalog::OFFER_SKUS_MAX as u32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub identity: IdentitySettings,
    pub catalog: CatalogSettings,
    pub cart: CartSettings,
    pub idempotency: IdempotencySettings,
    pub inventory: InventorySettings,
    pub orders: OrdersSettings,
    pub payments: PaymentsSettings,
    pub workers: WorkerSettings,
    pub webhooks: WebhookSettings,
    pub notifications: NotificationSettings,
    pub events: EventSettings,
    pub log: LogSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub body_limit_bytes: usize,
    pub request_timeout_ms: u64,
    pub page_size_max: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub data_dir: PathBuf,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    /// SQLite: write transactions that may wait for a district's writer; more get a 503.
    pub write_queue_max: usize,
    /// SQLite: most write transactions made durable by one group commit (one fsync).
    pub group_commit_max: usize,
    pub migrate_on_start: bool,
}

/// Accounts, sessions and abuse limits (`[identity]`); what each value means and why it has its
/// default is in config/default.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    /// Signs access tokens; at least [`kassa_identity::token::JWT_SECRET_LEN_MIN`] bytes.
    /// `None`: each process makes a random one (see [`IdentitySettings::config`]).
    #[serde(default)]
    pub jwt_secret: Option<SecretString>,
    /// The secret before `jwt_secret`, still accepted during a key rotation.
    #[serde(default)]
    pub jwt_previous_secret: Option<SecretString>,
    pub access_token_ttl_secs: u32,
    pub refresh_token_ttl_secs: u32,
    pub password: PasswordSettings,
    pub throttle: ThrottleSettings,
    /// The most a support member may refund at once, per currency: entries
    /// `"<currency>:<minor units>"` (`"USD:5000"` is 50.00 USD). A TOML list, or one string of
    /// comma-separated entries (which is what `KASSA__IDENTITY__SUPPORT_REFUND_CAP` gives). A
    /// currency without an entry is capped at zero. See [`IdentitySettings::refund_cap`].
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub support_refund_cap: Vec<String>,
}

/// argon2id cost of new password hashes, and how many are computed at once.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub hashes_in_flight_max: usize,
}

/// The three fixed-window abuse limits.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    pub sign_in_account_attempts_max: u32,
    pub sign_in_account_window_secs: u32,
    pub sign_in_address_attempts_max: u32,
    pub sign_in_address_window_secs: u32,
    pub register_address_attempts_max: u32,
    pub register_address_window_secs: u32,
}

impl IdentitySettings {
    /// Identity's configuration. Without `jwt_secret` a random secret is generated, so tokens
    /// do not survive a restart or work on another node; `kassa serve` warns about it.
    pub fn config(&self) -> Result<IdentityConfig, SettingsError> {
        let jwt_secret = match &self.jwt_secret {
            Some(secret) => parse_jwt_secret("identity.jwt_secret", secret)?,
            None => JwtSecret::generate().map_err(|err| {
                SettingsError(format!(
                    "setting identity.jwt_secret: not set, and no random one could be made: {err}"
                ))
            })?,
        };
        let jwt_previous_secret = self
            .jwt_previous_secret
            .as_ref()
            .map(|secret| parse_jwt_secret("identity.jwt_previous_secret", secret))
            .transpose()?;
        let p = self.password;
        let password = PasswordParams::new(p.memory_kib, p.iterations, p.parallelism)
            .map_err(|err| SettingsError(format!("setting identity.password: {err}")))?;
        let t = self.throttle;
        Ok(IdentityConfig {
            password,
            hashes_in_flight_max: p.hashes_in_flight_max,
            access_token_ttl_secs: self.access_token_ttl_secs,
            refresh_token_ttl_secs: self.refresh_token_ttl_secs,
            jwt_secret,
            jwt_previous_secret,
            throttle: ThrottleLimits {
                sign_in_account: limit(
                    t.sign_in_account_attempts_max,
                    t.sign_in_account_window_secs,
                ),
                sign_in_address: limit(
                    t.sign_in_address_attempts_max,
                    t.sign_in_address_window_secs,
                ),
                register_address: limit(
                    t.register_address_attempts_max,
                    t.register_address_window_secs,
                ),
            },
        })
    }

    /// Support's refund cap from `support_refund_cap`; the error names the key and the entry.
    pub fn refund_cap(&self) -> Result<RefundCap, SettingsError> {
        let caps = self
            .support_refund_cap
            .iter()
            .map(|entry| parse_cap(entry))
            .collect::<Result<Vec<Money>, String>>()
            .map_err(|err| SettingsError(format!("setting identity.support_refund_cap: {err}")))?;
        Ok(RefundCap::new(caps))
    }

    /// Checks everything [`IdentitySettings::config`] would refuse, except generating a
    /// secret, plus the ranges identity relies on.
    fn validate(&self) -> Result<(), SettingsError> {
        self.refund_cap()?;
        for (key, secret) in [
            ("identity.jwt_secret", &self.jwt_secret),
            ("identity.jwt_previous_secret", &self.jwt_previous_secret),
        ] {
            if let Some(secret) = secret {
                parse_jwt_secret(key, secret)?;
            }
        }
        let p = self.password;
        PasswordParams::new(p.memory_kib, p.iterations, p.parallelism)
            .map_err(|err| SettingsError(format!("setting identity.password: {err}")))?;
        let t = self.throttle;
        let positive = [
            ("identity.access_token_ttl_secs", self.access_token_ttl_secs),
            (
                "identity.refresh_token_ttl_secs",
                self.refresh_token_ttl_secs,
            ),
            (
                "identity.password.hashes_in_flight_max",
                u32::from(p.hashes_in_flight_max > 0),
            ),
            (
                "identity.throttle.sign_in_account_attempts_max",
                t.sign_in_account_attempts_max,
            ),
            (
                "identity.throttle.sign_in_account_window_secs",
                t.sign_in_account_window_secs,
            ),
            (
                "identity.throttle.sign_in_address_attempts_max",
                t.sign_in_address_attempts_max,
            ),
            (
                "identity.throttle.sign_in_address_window_secs",
                t.sign_in_address_window_secs,
            ),
            (
                "identity.throttle.register_address_attempts_max",
                t.register_address_attempts_max,
            ),
            (
                "identity.throttle.register_address_window_secs",
                t.register_address_window_secs,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(SettingsError(format!("setting {key}: must be at least 1")));
            }
        }
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs {
            return Err(SettingsError(
                "setting identity.refresh_token_ttl_secs: must not be shorter than \
                 identity.access_token_ttl_secs"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// A configured signing secret; the error names `key` and never the secret.
fn parse_jwt_secret(key: &str, secret: &SecretString) -> Result<JwtSecret, SettingsError> {
    secret
        .expose_secret()
        .parse::<JwtSecret>()
        .map_err(|err| SettingsError(format!("setting {key}: {err}")))
}

/// One refund cap entry, `"USD:5000"`: a supported currency code and a non-negative amount in
/// its minor units.
fn parse_cap(entry: &str) -> Result<Money, String> {
    let (code, amount) = entry
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("'{entry}' is not <currency>:<minor units>, e.g. USD:5000"))?;
    let currency: Currency = code
        .trim()
        .parse()
        .map_err(|err| format!("'{entry}': {err}"))?;
    let minor: i64 = amount
        .trim()
        .parse()
        .ok()
        .filter(|minor| *minor >= 0)
        .ok_or_else(|| format!("'{entry}': the amount must be a whole number of minor units"))?;
    Ok(Money::new(minor, currency))
}

/// A list of strings from a TOML list, or from one string of comma-separated items: an
/// environment variable can only give the latter. Blank items are dropped.
fn list_or_comma_separated<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        Joined(String),
    }
    let items = match ListOrString::deserialize(deserializer)? {
        ListOrString::List(items) => items,
        ListOrString::Joined(joined) => joined.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}

fn limit(attempts_max: u32, window_secs: u32) -> ThrottleLimit {
    ThrottleLimit {
        attempts_max,
        window_secs,
    }
}

/// How long `Idempotency-Key` records live (`[idempotency]`); why the defaults are what they
/// are is in config/default.toml.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencySettings {
    /// How long a key is remembered after its first request.
    pub ttl_hours: u32,
    /// How long a running request holds its key before a retry may take it over.
    pub lease_secs: u32,
}

impl IdempotencySettings {
    pub fn config(&self) -> IdempotencyConfig {
        IdempotencyConfig {
            ttl: Duration::from_secs(u64::from(self.ttl_hours) * 3_600),
            lease: Duration::from_secs(u64::from(self.lease_secs)),
        }
    }

    /// A lease shorter than the request timeout would let a retry run while the first request
    /// is still running; a TTL no longer than the lease would forget a key still in use.
    fn validate(&self, request_timeout_ms: u64) -> Result<(), SettingsError> {
        if self.ttl_hours == 0 {
            return Err(SettingsError(
                "setting idempotency.ttl_hours: must be at least 1".into(),
            ));
        }
        if u64::from(self.lease_secs) * 1_000 <= request_timeout_ms {
            return Err(SettingsError(format!(
                "setting idempotency.lease_secs: must be longer than http.request_timeout_ms \
                 ({request_timeout_ms} ms), got {} s",
                self.lease_secs
            )));
        }
        if u64::from(self.lease_secs) >= u64::from(self.ttl_hours) * 3_600 {
            return Err(SettingsError(
                "setting idempotency.lease_secs: must be shorter than idempotency.ttl_hours".into(),
            ));
        }
        Ok(())
    }
}

/// The longest `catalog.cache_ttl_ms` may be: how stale a public catalog read may get.
const CATALOG_CACHE_TTL_MAX_MS: u64 = 60_000;

/// The read cache in front of the public catalog (`[catalog]`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    /// How long a public catalog read may be served from memory; 0 disables the cache.
    pub cache_ttl_ms: u64,
    /// Most answers the cache holds at once.
    pub cache_entries_max: usize,
    /// How often the node reads the catalog's recent events to clear its cache after a write
    /// on another node; 0 turns that off.
    pub cache_refresh_ms: u64,
}

impl CatalogSettings {
    pub fn cache_config(&self) -> kassa_catalog::CacheConfig {
        kassa_catalog::CacheConfig {
            ttl: Duration::from_millis(self.cache_ttl_ms),
            max_entries: self.cache_entries_max,
        }
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if self.cache_ttl_ms > CATALOG_CACHE_TTL_MAX_MS {
            return Err(SettingsError(format!(
                "setting catalog.cache_ttl_ms: must be from 0 to {CATALOG_CACHE_TTL_MAX_MS}, got {}",
                self.cache_ttl_ms
            )));
        }
        if self.cache_refresh_ms > CATALOG_CACHE_TTL_MAX_MS {
            return Err(SettingsError(format!(
                "setting catalog.cache_refresh_ms: must be from 0 to {CATALOG_CACHE_TTL_MAX_MS}, got {}",
                self.cache_refresh_ms
            )));
        }
        if self.cache_ttl_ms > 0 && self.cache_entries_max == 0 {
            return Err(SettingsError(
                "setting catalog.cache_entries_max: must be at least 1 while the cache is on"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Stock reservations (`[inventory]`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventorySettings {
    /// How long a checkout's reservation holds its units before the sweeper frees them.
    pub reservation_ttl_secs: u64,
}

impl InventorySettings {
    pub fn config(&self) -> InventoryConfig {
        InventoryConfig {
            reservation_ttl: Duration::from_secs(self.reservation_ttl_secs),
            reservation_location: LocationId::DEFAULT,
        }
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let ttl = Duration::from_secs(self.reservation_ttl_secs);
        if ttl < RESERVATION_TTL_MIN || ttl > RESERVATION_TTL_MAX {
            return Err(SettingsError(format!(
                "setting inventory.reservation_ttl_secs: must be from {} to {}, got {}",
                RESERVATION_TTL_MIN.as_secs(),
                RESERVATION_TTL_MAX.as_secs(),
                self.reservation_ttl_secs
            )));
        }
        Ok(())
    }
}

/// The checkout saga (`[orders]`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersSettings {
    pub capture: CaptureSetting,
    /// How long one saga driver owns an order before recovery may take it over.
    pub saga_lease_secs: u64,
}

/// When payments are captured: `"on_confirmation"` or `"on_fulfilment"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureSetting {
    OnConfirmation,
    OnFulfilment,
}

impl From<CaptureSetting> for CaptureMode {
    fn from(setting: CaptureSetting) -> CaptureMode {
        match setting {
            CaptureSetting::OnConfirmation => CaptureMode::OnConfirmation,
            CaptureSetting::OnFulfilment => CaptureMode::OnFulfilment,
        }
    }
}

/// The payment gateway (`[payments]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsSettings {
    pub gateway: GatewaySetting,
    /// Latency the sandbox adds to every call, to look like a gateway across a network.
    pub sandbox_latency_ms: u64,
    /// Bound on each gateway call; past it the outcome is unknown and resolved later.
    pub call_timeout_ms: u64,
    /// How often the reconciliation job settles operations whose outcome is unknown.
    pub reconcile_interval_secs: u64,
    /// Most payments one reconciliation pass resolves.
    pub reconcile_batch: u32,
    pub stripe: StripeSettings,
}

/// Which gateway takes payments: the in-memory sandbox, or Stripe (`[payments.stripe]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewaySetting {
    Sandbox,
    Stripe,
}

/// The Stripe connector (`[payments.stripe]`), read when `payments.gateway = "stripe"`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    /// Stripe's API, or a local stand-in (`http://127.0.0.1:8420` for localstripe).
    pub base_url: String,
    /// `sk_live_…` / `sk_test_…` (or a restricted `rk_…` key). Set it through
    /// `KASSA__PAYMENTS__STRIPE__SECRET_KEY`, not in a file.
    pub secret_key: Option<SecretString>,
    /// The endpoint's signing secrets (`whsec_…`), comma-separated: two while one is rolled.
    pub webhook_secrets: Option<SecretString>,
    /// How far a webhook's signing time may be from now.
    pub webhook_tolerance_secs: u64,
    /// Where Stripe sends the shopper back after a redirect-based 3-D Secure challenge; the
    /// storefront's page, which then calls `POST /v1/orders/{order_id}/payment/continue`.
    /// Empty: none is sent.
    pub return_url: String,
    /// Bound on one HTTP request to Stripe.
    pub timeout_ms: u64,
    /// Retries of a failed request (same idempotency key), with backoff and jitter.
    pub max_retries: u32,
    /// Consecutive failures that open the circuit breaker, and how long it stays open.
    pub breaker_failure_threshold: u32,
    pub breaker_cool_down_secs: u64,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("base_url", &self.base_url)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "webhook_secrets",
                &self.webhook_secrets.as_ref().map(|_| "[redacted]"),
            )
            .field("return_url", &self.return_url)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl PaymentsSettings {
    pub fn sandbox_config(&self) -> SandboxConfig {
        SandboxConfig {
            latency_ms: self.sandbox_latency_ms,
        }
    }

    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    /// The return URL checkout sends the gateway, when one is configured.
    pub fn return_url(&self) -> Option<String> {
        match self.gateway {
            GatewaySetting::Stripe if !self.stripe.return_url.is_empty() => {
                Some(self.stripe.return_url.clone())
            }
            _ => None,
        }
    }

    /// The Stripe connector's configuration; refuses a missing key, a bad URL or no webhook
    /// secret (Stripe's webhooks are how 3-D Secure and disputes arrive).
    pub fn stripe_config(&self) -> Result<StripeConfig, SettingsError> {
        let stripe = &self.stripe;
        let key = stripe
            .secret_key
            .as_ref()
            .filter(|key| !key.expose_secret().trim().is_empty())
            .ok_or_else(|| {
                SettingsError(
                    "setting payments.stripe.secret_key: required with payments.gateway = \"stripe\" \
                     (set KASSA__PAYMENTS__STRIPE__SECRET_KEY)"
                        .to_owned(),
                )
            })?;
        let secrets: Vec<SecretString> = stripe
            .webhook_secrets
            .as_ref()
            .map(|all| {
                all.expose_secret()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| SecretString::from(s.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        if secrets.is_empty() {
            return Err(SettingsError(
                "setting payments.stripe.webhook_secrets: at least one whsec_… secret is required \
                 with payments.gateway = \"stripe\" (set KASSA__PAYMENTS__STRIPE__WEBHOOK_SECRETS)"
                    .to_owned(),
            ));
        }
        if !(stripe.base_url.starts_with("https://") || stripe.base_url.starts_with("http://")) {
            return Err(SettingsError(format!(
                "setting payments.stripe.base_url: must be an http(s) URL, got '{}'",
                stripe.base_url
            )));
        }
        for (name, value) in [
            ("timeout_ms", stripe.timeout_ms),
            ("webhook_tolerance_secs", stripe.webhook_tolerance_secs),
            ("breaker_cool_down_secs", stripe.breaker_cool_down_secs),
            (
                "breaker_failure_threshold",
                u64::from(stripe.breaker_failure_threshold),
            ),
        ] {
            if value == 0 {
                return Err(SettingsError(format!(
                    "setting payments.stripe.{name}: must be at least 1"
                )));
            }
        }
        let mut config = StripeConfig::new(key.clone());
        config.base_url = stripe.base_url.trim_end_matches('/').to_owned();
        config.webhook_secrets = secrets;
        config.webhook_tolerance = Duration::from_secs(stripe.webhook_tolerance_secs);
        config.timeout = Duration::from_millis(stripe.timeout_ms);
        config.max_retries = stripe.max_retries;
        // One call with its retries must end before the service's backstop does: half a second
        // earlier, or at half of it for a backstop shorter than a second.
        let backstop = self.call_timeout();
        config.call_deadline = backstop
            .saturating_sub(Duration::from_millis(500))
            .max(backstop / 2);
        config.breaker.failure_threshold = stripe.breaker_failure_threshold;
        config.breaker.cool_down = Duration::from_secs(stripe.breaker_cool_down_secs);
        Ok(config)
    }
}

/// The background loops of `serve` (`[workers]`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// How often expired reservations and the checkouts holding them are swept.
    pub sweep_interval_ms: u64,
    /// How often interrupted checkouts are recovered (once at start-up as well).
    pub recovery_interval_secs: u64,
    /// How often each outbox's relay publishes what its district recorded.
    pub relay_interval_ms: u64,
    /// How long published events stay in their outbox before they are pruned.
    pub outbox_retention_hours: u64,
}

/// Which transport carries the shopper's emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// Kept in the dev mailbox (`GET /v1/admin/mailbox`); nothing leaves the process.
    Mailbox,
    Smtp,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTlsSetting {
    None,
    Starttls,
    Tls,
}

/// Shopper notifications (`[notifications]`); each value is explained in config/default.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    pub shop_name: String,
    pub from: String,
    pub max_attempts: u32,
    pub send_interval_ms: u64,
    pub transport: MailTransport,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTlsSetting,
    #[serde(default)]
    pub smtp_username: Option<String>,
    #[serde(default)]
    pub smtp_password: Option<SecretString>,
    pub smtp_timeout_ms: u64,
}

impl NotificationSettings {
    pub fn config(&self) -> kassa_notify::NotifyConfig {
        let transport = match self.transport {
            MailTransport::Mailbox => kassa_notify::TransportConfig::Mailbox,
            MailTransport::Smtp => kassa_notify::TransportConfig::Smtp(kassa_notify::SmtpConfig {
                host: self.smtp_host.clone(),
                port: self.smtp_port,
                tls: match self.smtp_tls {
                    SmtpTlsSetting::None => kassa_notify::SmtpTls::None,
                    SmtpTlsSetting::Starttls => kassa_notify::SmtpTls::Starttls,
                    SmtpTlsSetting::Tls => kassa_notify::SmtpTls::Tls,
                },
                username: self.smtp_username.clone(),
                password: self.smtp_password.clone(),
                from: None,
                timeout: Duration::from_millis(self.smtp_timeout_ms),
            }),
        };
        kassa_notify::NotifyConfig {
            shop_name: self.shop_name.clone(),
            from: self.from.clone(),
            max_attempts: self.max_attempts,
            transport,
            ..kassa_notify::NotifyConfig::default()
        }
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if self.send_interval_ms == 0 {
            return Err(SettingsError(
                "setting notifications.send_interval_ms: must be at least 1".into(),
            ));
        }
        if self.transport == MailTransport::Smtp && self.smtp_host.trim().is_empty() {
            return Err(SettingsError(
                "setting notifications.smtp_host: must be set when transport is \"smtp\"".into(),
            ));
        }
        if self.smtp_username.is_some() != self.smtp_password.is_some() {
            return Err(SettingsError(
                "settings notifications.smtp_username and smtp_password: set both or neither"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Which bus the outbox relays publish to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// In the process: each published event is handed to kassa's consumers directly.
    InProcess,
    /// NATS JetStream at `events.nats_url`.
    Nats,
}

/// The event bus (`[events]`); see config/default.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    pub bus: BusKind,
    pub nats_url: String,
    pub nats_stream: String,
    pub nats_subject_prefix: String,
}

impl EventSettings {
    pub fn nats_config(&self) -> kassa_nats::NatsConfig {
        kassa_nats::NatsConfig {
            url: self.nats_url.clone(),
            stream: self.nats_stream.clone(),
            subject_prefix: self.nats_subject_prefix.clone(),
            ..kassa_nats::NatsConfig::default()
        }
    }
}

/// Longest `webhooks.timeout_ms`: a minute is past any receiver worth waiting for, and every
/// attempt holds one of the few sending slots that long.
const WEBHOOK_TIMEOUT_MAX_MS: u64 = 60_000;

/// Most of a receiver's answer `webhooks.response_body_max_bytes` may keep per attempt: 64 KiB
/// per attempt row is already far more than an error message.
const WEBHOOK_RESPONSE_BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Most `webhooks.max_attempts`: with the schedule's 12-hour cap, 20 attempts span about 5
/// days, longer than anyone waits for an event.
const WEBHOOK_MAX_ATTEMPTS_LIMIT: u32 = 20;

/// Outbound webhooks (`[webhooks]`); what each value means and why it has its default is in
/// config/default.toml.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub timeout_ms: u64,
    pub response_body_max_bytes: usize,
    pub max_attempts: u32,
    pub allow_private_targets: bool,
    /// How often due deliveries are claimed and sent.
    pub deliver_interval_ms: u64,
}

impl WebhookSettings {
    pub fn config(&self) -> kassa_webhooks::WebhooksConfig {
        kassa_webhooks::WebhooksConfig {
            timeout: Duration::from_millis(self.timeout_ms),
            response_body_max_bytes: self.response_body_max_bytes,
            max_attempts: self.max_attempts,
            allow_private_targets: self.allow_private_targets,
            ..kassa_webhooks::WebhooksConfig::default()
        }
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=WEBHOOK_TIMEOUT_MAX_MS).contains(&self.timeout_ms) {
            return Err(SettingsError(format!(
                "setting webhooks.timeout_ms: must be from 1 to {WEBHOOK_TIMEOUT_MAX_MS}, got {}",
                self.timeout_ms
            )));
        }
        if self.response_body_max_bytes > WEBHOOK_RESPONSE_BODY_LIMIT_BYTES {
            return Err(SettingsError(format!(
                "setting webhooks.response_body_max_bytes: must be at most \
                 {WEBHOOK_RESPONSE_BODY_LIMIT_BYTES}, got {}",
                self.response_body_max_bytes
            )));
        }
        if !(1..=WEBHOOK_MAX_ATTEMPTS_LIMIT).contains(&self.max_attempts) {
            return Err(SettingsError(format!(
                "setting webhooks.max_attempts: must be from 1 to {WEBHOOK_MAX_ATTEMPTS_LIMIT}, \
                 got {}",
                self.max_attempts
            )));
        }
        if self.deliver_interval_ms == 0 {
            return Err(SettingsError(
                "setting webhooks.deliver_interval_ms: must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartSettings {
    pub lines_max: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Why the settings could not be loaded. The message always names the key or file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

impl Settings {
    /// Loads the layers from `config_dir` for environment `env` and the given variables.
    pub fn load(
        config_dir: &Path,
        env: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let mut tree = parse_toml(DEFAULTS, "built-in defaults")?;
        let env_file = config_dir.join(format!("{env}.toml"));
        if env_file.exists() {
            let text = std::fs::read_to_string(&env_file)
                .map_err(|e| SettingsError(format!("{}: {e}", env_file.display())))?;
            merge(
                &mut tree,
                parse_toml(&text, &env_file.display().to_string())?,
            );
        }
        let mut origins = Vec::new();
        for (name, raw) in vars {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(str::to_lowercase).collect();
            if keys.iter().any(String::is_empty) {
                return Err(SettingsError(format!("{name}: empty key segment")));
            }
            set_from_env(&mut tree, &keys, &raw, &name)?;
            origins.push((keys.join("."), name));
        }
        let value = Value::Table(tree);
        let settings: Settings = serde_path_to_error::deserialize(value).map_err(|err| {
            let key = err.path().to_string();
            let origin = origins
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, var)| format!(" (from {var})"))
                .unwrap_or_default();
            SettingsError(format!("setting {key}{origin}: {}", err.inner()))
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks that go beyond types: ranges that other parts of kassa rely on.
    fn validate(&self) -> Result<(), SettingsError> {
        let lines_max = self.cart.lines_max;
        if lines_max == 0 || lines_max > CART_LINES_MAX_LIMIT {
            return Err(SettingsError(format!(
                "setting cart.lines_max: must be from 1 to {CART_LINES_MAX_LIMIT}, got {lines_max}"
            )));
        }
        if self.http.page_size_max == 0 {
            return Err(SettingsError(
                "setting http.page_size_max: must be at least 1".into(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(SettingsError(
                "setting database.max_connections: must be at least 1".into(),
            ));
        }
        for (key, value) in [
            ("write_queue_max", self.database.write_queue_max),
            ("group_commit_max", self.database.group_commit_max),
        ] {
            if value == 0 {
                return Err(SettingsError(format!(
                    "setting database.{key}: must be at least 1"
                )));
            }
        }
        self.idempotency.validate(self.http.request_timeout_ms)?;
        self.catalog.validate()?;
        self.inventory.validate()?;
        self.validate_checkout()?;
        if self.payments.gateway == GatewaySetting::Stripe {
            self.payments.stripe_config()?;
        }
        self.webhooks.validate()?;
        self.notifications.validate()?;
        self.identity.validate()
    }

    /// The checkout's timing: a gateway call must end within the saga's lease (else a recovery
    /// worker could take over a checkout whose call is still running), and the loops need a
    /// positive interval.
    fn validate_checkout(&self) -> Result<(), SettingsError> {
        let positive = [
            ("payments.call_timeout_ms", self.payments.call_timeout_ms),
            (
                "payments.reconcile_interval_secs",
                self.payments.reconcile_interval_secs,
            ),
            (
                "payments.reconcile_batch",
                u64::from(self.payments.reconcile_batch),
            ),
            ("orders.saga_lease_secs", self.orders.saga_lease_secs),
            ("workers.sweep_interval_ms", self.workers.sweep_interval_ms),
            (
                "workers.recovery_interval_secs",
                self.workers.recovery_interval_secs,
            ),
            ("workers.relay_interval_ms", self.workers.relay_interval_ms),
            (
                "workers.outbox_retention_hours",
                self.workers.outbox_retention_hours,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(SettingsError(format!("setting {key}: must be at least 1")));
            }
        }
        if self.orders.saga_lease_secs.saturating_mul(1_000) <= self.payments.call_timeout_ms {
            return Err(SettingsError(format!(
                "setting orders.saga_lease_secs: must be longer than payments.call_timeout_ms \
                 ({} ms), got {} s",
                self.payments.call_timeout_ms, self.orders.saga_lease_secs
            )));
        }
        Ok(())
    }

    /// Loads from the process environment: `KASSA_ENV`, `KASSA_CONFIG_DIR` (default `config`),
    /// and every `KASSA__…` variable.
    pub fn from_env() -> Result<Settings, SettingsError> {
        let env = std::env::var("KASSA_ENV").unwrap_or_else(|_| "local".to_owned());
        let dir = std::env::var("KASSA_CONFIG_DIR").unwrap_or_else(|_| "config".to_owned());
        Settings::load(Path::new(&dir), &env, std::env::vars())
    }
}

fn parse_toml(text: &str, origin: &str) -> Result<Table, SettingsError> {
    text.parse::<Table>()
        .map_err(|e| SettingsError(format!("{origin}: {e}")))
}

fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets `keys` in `tree` from an environment string, typed like the value already there.
fn set_from_env(
    tree: &mut Table,
    keys: &[String],
    raw: &str,
    var: &str,
) -> Result<(), SettingsError> {
    let (last, parents) = keys
        .split_last()
        .ok_or_else(|| SettingsError(format!("{var}: no key")))?;
    let mut table = tree;
    for key in parents {
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        table = match entry {
            Value::Table(t) => t,
            _ => {
                return Err(SettingsError(format!(
                    "{var}: {} is not a section",
                    keys.join(".")
                )))
            }
        };
    }
    let typed = match table.get(last) {
        Some(Value::Integer(_)) => raw.trim().parse::<i64>().map(Value::Integer).map_err(|_| {
            SettingsError(format!(
                "setting {} (from {var}): expected an integer, got '{raw}'",
                keys.join(".")
            ))
        })?,
        Some(Value::Boolean(_)) => match raw.trim() {
            "true" | "1" => Value::Boolean(true),
            "false" | "0" => Value::Boolean(false),
            _ => {
                return Err(SettingsError(format!(
                    "setting {} (from {var}): expected true or false, got '{raw}'",
                    keys.join(".")
                )))
            }
        },
        Some(Value::Table(_)) => {
            return Err(SettingsError(format!(
                "{var}: {} is a section, not a value",
                keys.join(".")
            )))
        }
        _ => Value::String(raw.to_owned()),
    };
    table.insert(last.clone(), typed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A 40-byte signing secret.
    const SECRET: &str = "0123456789abcdef0123456789abcdef-s3cr3t!";

    fn no_dir() -> PathBuf {
        PathBuf::from("/nonexistent-kassa-config")
    }

    #[test]
    fn the_built_in_defaults_need_no_files() {
        let s = Settings::load(&no_dir(), "local", vars(&[])).unwrap();
        assert_eq!(s.server.host, "127.0.0.1");
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.database.url, "");
        assert_eq!(s.database.data_dir, PathBuf::from("./data"));
        assert!(s.identity.jwt_secret.is_none());
        assert_eq!(s.identity.access_token_ttl_secs, 900);
        assert_eq!(s.identity.refresh_token_ttl_secs, 2_592_000);
    }

    #[test]
    fn environment_variables_override_with_the_type_of_the_key() {
        let s = Settings::load(
            &no_dir(),
            "local",
            vars(&[
                ("KASSA__SERVER__PORT", "9090"),
                ("KASSA__IDENTITY__JWT_SECRET", SECRET),
                ("KASSA__DATABASE__MIGRATE_ON_START", "false"),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.port, 9090);
        assert_eq!(s.identity.jwt_secret.unwrap().expose_secret(), SECRET);
        assert!(!s.database.migrate_on_start);
    }

    #[test]
    fn the_write_queue_and_group_commit_take_one_and_refuse_zero() {
        for key in ["WRITE_QUEUE_MAX", "GROUP_COMMIT_MAX"] {
            let var = format!("KASSA__DATABASE__{key}");
            assert!(Settings::load(&no_dir(), "local", vars(&[(&var, "1")])).is_ok());
            let err = Settings::load(&no_dir(), "local", vars(&[(&var, "0")]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&key.to_lowercase()), "{err}");
        }
    }

    #[test]
    fn a_bad_environment_value_names_the_key_and_variable() {
        let err = Settings::load(
            &no_dir(),
            "local",
            vars(&[("KASSA__SERVER__PORT", "eighty")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("server.port"), "{err}");
        assert!(err.contains("KASSA__SERVER__PORT"), "{err}");
    }

    #[test]
    fn an_out_of_range_value_names_the_key() {
        let err = Settings::load(
            &no_dir(),
            "local",
            vars(&[("KASSA__SERVER__PORT", "70000")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("server.port"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let err = Settings::load(&no_dir(), "local", vars(&[("KASSA__SERVER__PROT", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn the_environment_file_overrides_the_defaults_and_the_variables_override_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("staging.toml"),
            "[server]\nport = 7000\n[log]\nformat = \"pretty\"\n",
        )
        .unwrap();
        let s = Settings::load(dir.path(), "staging", vars(&[])).unwrap();
        assert_eq!(s.server.port, 7000);
        assert_eq!(s.log.format, LogFormat::Pretty);
        let s = Settings::load(
            dir.path(),
            "staging",
            vars(&[("KASSA__SERVER__PORT", "7001")]),
        )
        .unwrap();
        assert_eq!(s.server.port, 7001);
    }

    #[test]
    fn a_cart_line_limit_past_what_one_catalog_lookup_can_price_is_refused() {
        let ok = Settings::load(
            &no_dir(),
            "local",
            vars(&[("KASSA__CART__LINES_MAX", "500")]),
        );
        assert_eq!(ok.unwrap().cart.lines_max, 500);
        for bad in ["501", "0"] {
            let err = Settings::load(&no_dir(), "local", vars(&[("KASSA__CART__LINES_MAX", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("cart.lines_max"), "{err}");
        }
    }

    #[test]
    fn the_catalog_cache_defaults_to_one_second_and_refuses_a_longer_ttl_than_a_minute() {
        let s = Settings::load(&no_dir(), "local", vars(&[])).unwrap();
        assert_eq!(
            s.catalog.cache_config(),
            kassa_catalog::CacheConfig::default()
        );
        let off = Settings::load(
            &no_dir(),
            "local",
            vars(&[("KASSA__CATALOG__CACHE_TTL_MS", "0")]),
        );
        assert_eq!(off.unwrap().catalog.cache_ttl_ms, 0);
        for (var, value, key) in [
            (
                "KASSA__CATALOG__CACHE_TTL_MS",
                "60001",
                "catalog.cache_ttl_ms",
            ),
            (
                "KASSA__CATALOG__CACHE_ENTRIES_MAX",
                "0",
                "catalog.cache_entries_max",
            ),
        ] {
            let err = Settings::load(&no_dir(), "local", vars(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{var}={value}: {err}");
        }
    }

    #[test]
    fn idempotency_records_live_24_hours_with_a_60_second_lease_by_default() {
        let s = Settings::load(&no_dir(), "local", vars(&[])).unwrap();
        let config = s.idempotency.config();
        assert_eq!(config.ttl, Duration::from_secs(24 * 3_600));
        assert_eq!(config.lease, Duration::from_secs(60));
        assert_eq!(config, kassa_idempotency::IdempotencyConfig::default());
    }

    #[test]
    fn an_idempotency_lease_not_outlasting_a_request_or_a_zero_ttl_is_refused_by_name() {
        for (var, value, key) in [
            (
                "KASSA__IDEMPOTENCY__TTL_HOURS",
                "0",
                "idempotency.ttl_hours",
            ),
            (
                "KASSA__IDEMPOTENCY__LEASE_SECS",
                "10",
                "idempotency.lease_secs",
            ),
            (
                "KASSA__IDEMPOTENCY__LEASE_SECS",
                "86400",
                "idempotency.lease_secs",
            ),
        ] {
            let err = Settings::load(&no_dir(), "local", vars(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{var}={value}: {err}");
        }
        let ok = Settings::load(
            &no_dir(),
            "local",
            vars(&[("KASSA__IDEMPOTENCY__LEASE_SECS", "11")]),
        );
        assert_eq!(ok.unwrap().idempotency.lease_secs, 11);
    }

    #[test]
    fn the_checkout_defaults_are_the_documented_ones() {
        let s = Settings::load(&no_dir(), "local", vars(&[])).unwrap();
        assert_eq!(s.inventory.config(), InventoryConfig::default());
        assert_eq!(s.orders.capture, CaptureSetting::OnConfirmation);
        assert_eq!(s.orders.saga_lease_secs, 60);
        assert_eq!(s.payments.gateway, GatewaySetting::Sandbox);
        assert_eq!(s.payments.sandbox_config(), SandboxConfig::default());
        assert_eq!(s.payments.call_timeout(), Duration::from_secs(10));
        assert_eq!(s.workers.sweep_interval_ms, 1_000);
        assert_eq!(s.workers.recovery_interval_secs, 30);
        let cap = s.identity.refund_cap().unwrap();
        assert_eq!(
            cap.support_max(Currency::Usd),
            Some(Money::new(5_000, Currency::Usd))
        );
        assert_eq!(cap.support_max(Currency::Gbp), None);
    }

    #[test]
    fn the_refund_cap_comes_from_a_list_or_a_comma_separated_variable() {
        let s = Settings::load(
            &no_dir(),
            "local",
            vars(&[("KASSA__IDENTITY__SUPPORT_REFUND_CAP", "GBP:2500, JPY:3000")]),
        )
        .unwrap();
        let cap = s.identity.refund_cap().unwrap();
        assert_eq!(
            cap.support_max(Currency::Jpy),
            Some(Money::new(3_000, Currency::Jpy))
        );
        assert_eq!(cap.support_max(Currency::Usd), None);
        for bad in ["USD", "usd:100", "USD:-1", "USD:1.50"] {
            let err = Settings::load(
                &no_dir(),
                "local",
                vars(&[("KASSA__IDENTITY__SUPPORT_REFUND_CAP", bad)]),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("identity.support_refund_cap"), "{bad}: {err}");
        }
    }

    #[test]
    fn checkout_timings_out_of_range_are_refused_by_name() {
        for (var, value, key) in [
            (
                "KASSA__INVENTORY__RESERVATION_TTL_SECS",
                "0",
                "inventory.reservation_ttl_secs",
            ),
            (
                "KASSA__INVENTORY__RESERVATION_TTL_SECS",
                "86401",
                "inventory.reservation_ttl_secs",
            ),
            (
                "KASSA__ORDERS__SAGA_LEASE_SECS",
                "10",
                "orders.saga_lease_secs",
            ),
            (
                "KASSA__PAYMENTS__CALL_TIMEOUT_MS",
                "0",
                "payments.call_timeout_ms",
            ),
            (
                "KASSA__WORKERS__SWEEP_INTERVAL_MS",
                "0",
                "workers.sweep_interval_ms",
            ),
            ("KASSA__ORDERS__CAPTURE", "later", "orders.capture"),
            ("KASSA__PAYMENTS__GATEWAY", "paypal", "payments.gateway"),
            (
                "KASSA__PAYMENTS__RECONCILE_INTERVAL_SECS",
                "0",
                "payments.reconcile_interval_secs",
            ),
        ] {
            let err = Settings::load(&no_dir(), "local", vars(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{var}={value}: {err}");
        }
        let s = Settings::load(
            &no_dir(),
            "local",
            vars(&[("KASSA__ORDERS__CAPTURE", "on_fulfilment")]),
        )
        .unwrap();
        assert_eq!(
            CaptureMode::from(s.orders.capture),
            CaptureMode::OnFulfilment
        );
    }

    #[test]
    fn the_webhook_defaults_are_the_documented_ones_and_bad_values_are_refused_by_name() {
        let s = Settings::load(&no_dir(), "local", vars(&[])).unwrap();
        let config = s.webhooks.config();
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.response_body_max_bytes, 4_096);
        assert_eq!(config.max_attempts, 10);
        assert!(!config.allow_private_targets);
        assert_eq!(s.webhooks.deliver_interval_ms, 500);
        for (var, value, key) in [
            ("KASSA__WEBHOOKS__TIMEOUT_MS", "0", "webhooks.timeout_ms"),
            (
                "KASSA__WEBHOOKS__TIMEOUT_MS",
                "60001",
                "webhooks.timeout_ms",
            ),
            (
                "KASSA__WEBHOOKS__RESPONSE_BODY_MAX_BYTES",
                "65537",
                "webhooks.response_body_max_bytes",
            ),
            (
                "KASSA__WEBHOOKS__MAX_ATTEMPTS",
                "0",
                "webhooks.max_attempts",
            ),
            (
                "KASSA__WEBHOOKS__MAX_ATTEMPTS",
                "21",
                "webhooks.max_attempts",
            ),
            (
                "KASSA__WEBHOOKS__DELIVER_INTERVAL_MS",
                "0",
                "webhooks.deliver_interval_ms",
            ),
            (
                "KASSA__WEBHOOKS__ALLOW_PRIVATE_TARGETS",
                "maybe",
                "webhooks.allow_private_targets",
            ),
        ] {
            let err = Settings::load(&no_dir(), "local", vars(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{var}={value}: {err}");
        }
        let s = Settings::load(
            &no_dir(),
            "local",
            vars(&[
                ("KASSA__WEBHOOKS__TIMEOUT_MS", "60000"),
                ("KASSA__WEBHOOKS__MAX_ATTEMPTS", "20"),
                ("KASSA__WEBHOOKS__RESPONSE_BODY_MAX_BYTES", "65536"),
                ("KASSA__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(s.webhooks.config().max_attempts, 20);
        assert!(s.webhooks.config().allow_private_targets);
    }

    #[test]
    fn a_bad_value_in_a_file_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("local.toml"), "[log]\nformat = \"xml\"\n").unwrap();
        let err = Settings::load(dir.path(), "local", vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("log.format"), "{err}");
    }

    #[test]
    fn the_jwt_secret_is_not_printed_by_debug() {
        let s = Settings::load(
            &no_dir(),
            "local",
            vars(&[("KASSA__IDENTITY__JWT_SECRET", SECRET)]),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains(SECRET));
        let config = s.identity.config().unwrap();
        assert!(!format!("{config:?}").contains(SECRET));
    }

    #[test]
    fn a_jwt_secret_shorter_than_32_bytes_is_refused_by_name_without_echoing_it() {
        let short = "s".repeat(31);
        for var in [
            "KASSA__IDENTITY__JWT_SECRET",
            "KASSA__IDENTITY__JWT_PREVIOUS_SECRET",
        ] {
            let err = Settings::load(&no_dir(), "local", vars(&[(var, &short)]))
                .unwrap_err()
                .to_string();
            let key = var
                .trim_start_matches("KASSA__")
                .to_lowercase()
                .replace("__", ".");
            assert!(err.contains(&key), "{err}");
            assert!(!err.contains(&short), "{err}");
        }
        let exact = "s".repeat(32);
        let s = Settings::load(
            &no_dir(),
            "local",
            vars(&[("KASSA__IDENTITY__JWT_SECRET", &exact)]),
        );
        assert!(s.unwrap().identity.config().is_ok());
    }

    #[test]
    fn without_a_jwt_secret_the_identity_config_gets_a_random_one() {
        let s = Settings::load(&no_dir(), "local", vars(&[])).unwrap();
        let config = s.identity.config().unwrap();
        assert_eq!(config.access_token_ttl_secs, 900);
        assert_eq!(config.password, PasswordParams::default());
        assert_eq!(config.throttle, ThrottleLimits::default());
        assert!(config.jwt_previous_secret.is_none());
    }

    #[test]
    fn identity_limits_are_checked_and_named() {
        for (var, value, key) in [
            (
                "KASSA__IDENTITY__PASSWORD__MEMORY_KIB",
                "1",
                "identity.password",
            ),
            (
                "KASSA__IDENTITY__THROTTLE__SIGN_IN_ACCOUNT_ATTEMPTS_MAX",
                "0",
                "identity.throttle.sign_in_account_attempts_max",
            ),
            (
                "KASSA__IDENTITY__ACCESS_TOKEN_TTL_SECS",
                "0",
                "identity.access_token_ttl_secs",
            ),
            (
                "KASSA__IDENTITY__REFRESH_TOKEN_TTL_SECS",
                "60",
                "identity.refresh_token_ttl_secs",
            ),
        ] {
            let err = Settings::load(&no_dir(), "local", vars(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{var}: {err}");
        }
    }

    #[test]
    fn the_removed_admin_token_is_refused_by_name() {
        let err = Settings::load(&no_dir(), "local", vars(&[("KASSA__ADMIN__TOKEN", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("admin"), "{err}");
    }

    #[test]
    fn stripe_needs_its_key_and_a_webhook_secret_from_the_environment_and_never_shows_them() {
        let stripe = ("KASSA__PAYMENTS__GATEWAY", "stripe");
        let key = (
            "KASSA__PAYMENTS__STRIPE__SECRET_KEY",
            "sk_test_settings_do_not_show",
        );
        let secrets = (
            "KASSA__PAYMENTS__STRIPE__WEBHOOK_SECRETS",
            "whsec_new_do_not_show, whsec_old_do_not_show",
        );
        let err = Settings::load(&no_dir(), "local", vars(&[stripe]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("payments.stripe.secret_key"), "{err}");
        let err = Settings::load(&no_dir(), "local", vars(&[stripe, key]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("payments.stripe.webhook_secrets"), "{err}");
        let bad_url = ("KASSA__PAYMENTS__STRIPE__BASE_URL", "api.stripe.com");
        let err = Settings::load(&no_dir(), "local", vars(&[stripe, key, secrets, bad_url]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("payments.stripe.base_url"), "{err}");

        let local = (
            "KASSA__PAYMENTS__STRIPE__BASE_URL",
            "http://127.0.0.1:8420/",
        );
        let s = Settings::load(&no_dir(), "local", vars(&[stripe, key, secrets, local])).unwrap();
        assert_eq!(s.payments.gateway, GatewaySetting::Stripe);
        let config = s.payments.stripe_config().unwrap();
        assert_eq!(config.base_url, "http://127.0.0.1:8420");
        assert_eq!(config.webhook_secrets.len(), 2);
        assert!(config.call_deadline < s.payments.call_timeout());
        assert_eq!(s.payments.return_url(), None);
        let shown = format!("{:?} {config:?}", s.payments);
        assert!(!shown.contains("do_not_show"), "{shown}");
    }
}
