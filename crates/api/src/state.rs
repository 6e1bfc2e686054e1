//! What handlers share: configuration, metrics, and the services behind the routes.
//!
//! `server` builds one [`AppState`] at startup and hands it to [`crate::build`]. Each district
//! has one `Arc<dyn …Service>` field here; handlers reach it through axum's `State<AppState>`.

use std::sync::Arc;

use kassa_cart::CartService;
use kassa_catalog::CatalogService;
use kassa_idempotency::IdempotencyService;
use kassa_identity::{IdentityService, RefundCap};
use kassa_inventory::InventoryService;
use kassa_notify::NotificationService;
use kassa_orders::OrderService;
use kassa_payments::gateway::WebhookVerifier;
use kassa_payments::{PaymentService, SandboxGateway};
use kassa_webhooks::WebhookService;

use crate::metrics::OpsGauges;

use crate::metrics::Metrics;

/// Shared by every request. axum clones the state for every extractor and middleware that
/// takes it, so it is one `Arc`: a clone is one atomic increment, not one per service.
/// Dereferences to [`SharedState`], whose fields handlers read (`state.catalog`).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct SharedState {
    pub config: Arc<ApiConfig>,
    pub metrics: Arc<Metrics>,
    /// Asked by `GET /readyz` whether this instance should receive traffic.
    pub readiness: Arc<dyn Readiness>,
    /// Accounts, sessions, staff and the audit log (`routes::identity`, [`crate::auth`],
    /// [`crate::audit`]).
    pub identity: Arc<dyn IdentityService>,
    /// Products, variants, prices and categories (`routes::catalog`).
    pub catalog: Arc<dyn CatalogService>,
    /// Carts, shipping options and tax rates (`routes::carts`).
    pub cart: Arc<dyn CartService>,
    /// Idempotency-Key records of the routes that opted in ([`crate::idempotency`]).
    pub idempotency: Arc<dyn IdempotencyService>,
    /// Stock levels, locations and adjustments (`routes::inventory`).
    pub inventory: Arc<dyn InventoryService>,
    /// Payments and refunds, read by the staff order routes (`routes::orders`).
    pub payments: Arc<dyn PaymentService>,
    /// Checkout and orders (`routes::orders`).
    pub orders: Arc<dyn OrderService>,
    /// Outbound webhook endpoints and their deliveries (`routes::webhooks`).
    pub webhooks: Arc<dyn WebhookService>,
    /// The shopper's emails, read by staff as the mailbox (`routes::mailbox`).
    pub notifications: Arc<dyn NotificationService>,
    /// Gauges `/metrics` reads from the districts when scraped (outbox lag, deliveries, mail).
    pub ops: Arc<dyn OpsGauges>,
    /// The sandbox gateway's books, when the sandbox is the configured gateway: the 3-D Secure
    /// challenge route (`routes::sandbox`) completes challenges in it. `None` with a real
    /// gateway, and the route then answers 404.
    pub sandbox: Option<SandboxGateway>,
    /// Checks the configured gateway's webhooks (`POST /v1/webhooks/stripe`); `None` when the
    /// gateway sends none (the sandbox), and the route then answers 404.
    pub gateway_webhooks: Option<Arc<dyn WebhookVerifier>>,
}

/// The district services behind the routes, for [`AppState::new`].
#[derive(Clone)]
pub struct Services {
    pub identity: Arc<dyn IdentityService>,
    pub catalog: Arc<dyn CatalogService>,
    pub cart: Arc<dyn CartService>,
    pub idempotency: Arc<dyn IdempotencyService>,
    pub inventory: Arc<dyn InventoryService>,
    pub payments: Arc<dyn PaymentService>,
    pub orders: Arc<dyn OrderService>,
    pub webhooks: Arc<dyn WebhookService>,
    pub notifications: Arc<dyn NotificationService>,
    pub ops: Arc<dyn OpsGauges>,
    pub sandbox: Option<SandboxGateway>,
    /// Checks the configured gateway's webhooks; `None` when it sends none (the sandbox).
    pub gateway_webhooks: Option<Arc<dyn WebhookVerifier>>,
}

impl AppState {
    /// A state with fresh metrics.
    pub fn new(config: ApiConfig, readiness: Arc<dyn Readiness>, services: Services) -> AppState {
        AppState(Arc::new(SharedState {
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            readiness,
            identity: services.identity,
            catalog: services.catalog,
            cart: services.cart,
            idempotency: services.idempotency,
            inventory: services.inventory,
            payments: services.payments,
            orders: services.orders,
            webhooks: services.webhooks,
            notifications: services.notifications,
            ops: services.ops,
            sandbox: services.sandbox,
            gateway_webhooks: services.gateway_webhooks,
        }))
    }
}

/// The HTTP layer's settings; `server` fills them from its configuration files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Largest request body read, in bytes; above it the answer is 413. Our largest legitimate
    /// body is a cart or product update of a few KiB, so 64 KiB leaves room while keeping a
    /// flood of large bodies from buffering much memory.
    pub body_limit_bytes: usize,
    /// Longest a request may run, in milliseconds, before it is abandoned with a 503
    /// `request_timeout`. Ten seconds is above any healthy request, including a checkout that
    /// waits on a gateway with its own shorter timeout, and below the point where clients and
    /// load balancers give up on their own and retry blindly.
    pub request_timeout_ms: u64,
    /// Most items one list request returns; `limit` above it is a 422. Bounds the work and the
    /// response size of one request.
    pub page_size_max: u32,
    /// The access token lifetime identity was configured with, answered as `expires_in` with
    /// every token pair. `server` fills both lifetimes from the same settings it gives identity.
    pub access_token_ttl_secs: u32,
    /// The refresh token lifetime, answered as `refresh_expires_in`.
    pub refresh_token_ttl_secs: u32,
    /// The most a support member may refund at once, per currency; the refund route answers
    /// 403 `refund_cap_exceeded` above it. Owners and managers are not capped. `server` fills it
    /// from `identity.support_refund_cap`.
    pub refund_cap: RefundCap,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            body_limit_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            page_size_max: 100,
            access_token_ttl_secs: kassa_identity::token::ACCESS_TOKEN_TTL_SECS_DEFAULT,
            refresh_token_ttl_secs: kassa_identity::token::REFRESH_TOKEN_TTL_SECS_DEFAULT,
            refund_cap: RefundCap::default(),
        }
    }
}

/// Whether this instance can serve traffic: its database answers, its migrations ran, and so on.
/// `server` implements it over what it wired; tests use a fake.
#[async_trait::async_trait]
pub trait Readiness: Send + Sync {
    /// `Err` carries a reason for the log; it is not shown to the caller.
    async fn check(&self) -> Result<(), String>;
}
