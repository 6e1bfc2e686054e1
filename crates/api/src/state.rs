//! What handlers share: configuration, metrics, and the services behind the routes.
//!
//! `server` builds one [`AppState`] at startup and hands it to [`crate::build`]. Each district
//! has one `Arc<dyn …Service>` field here; handlers reach it through axum's `State<AppState>`.

use std::sync::Arc;

use kassa_cart::CartService;
use kassa_catalog::CatalogService;
use kassa_identity::IdentityService;

use crate::metrics::Metrics;

/// Shared by every request; cloning copies a few `Arc`s.
#[derive(Clone)]
pub struct AppState {
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
}

/// The district services behind the routes, for [`AppState::new`].
#[derive(Clone)]
pub struct Services {
    pub identity: Arc<dyn IdentityService>,
    pub catalog: Arc<dyn CatalogService>,
    pub cart: Arc<dyn CartService>,
}

impl AppState {
    /// A state with fresh metrics.
    pub fn new(config: ApiConfig, readiness: Arc<dyn Readiness>, services: Services) -> AppState {
        AppState {
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            readiness,
            identity: services.identity,
            catalog: services.catalog,
            cart: services.cart,
        }
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
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            body_limit_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            page_size_max: 100,
            access_token_ttl_secs: kassa_identity::token::ACCESS_TOKEN_TTL_SECS_DEFAULT,
            refresh_token_ttl_secs: kassa_identity::token::REFRESH_TOKEN_TTL_SECS_DEFAULT,
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
