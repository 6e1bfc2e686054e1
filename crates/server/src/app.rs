//! Wiring: open each district's database, build its service, hand them to the HTTP layer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kassa_api::{ApiConfig, AppState, Readiness, RouteTable, Services};
use kassa_cart::{CartLimits, CartService, Carts};
use kassa_catalog::{store::CatalogStore, Catalog, CatalogService};
use kassa_db::{Backend, Db, PoolSettings};
use kassa_identity::{store::IdentityStore, Identity, IdentityService};
use kassa_kernel::Clock;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Settings;

/// How often `serve` deletes throttle counters whose window has ended. The table only grows
/// by one row per email or address attempting in a window, so every few minutes keeps it
/// small without being work worth measuring.
const THROTTLE_PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Every district's database and service, wired once.
#[derive(Clone)]
pub struct Districts {
    pub identity_db: Db,
    pub catalog_db: Db,
    pub cart_db: Db,
    pub identity: Arc<dyn IdentityService>,
    pub catalog: Arc<dyn CatalogService>,
    pub cart: Arc<dyn CartService>,
}

impl Districts {
    /// Opens every district's database (and migrates it when `migrate` is true).
    pub async fn open(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        migrate: bool,
    ) -> anyhow::Result<Districts> {
        let backend =
            Backend::from_url(&settings.database.url, settings.database.data_dir.clone())?;
        let pool = PoolSettings {
            max_connections: settings.database.max_connections,
            acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
            ..PoolSettings::default()
        };
        let identity_db = Db::connect(&backend, "identity", &pool).await?;
        let catalog_db = Db::connect(&backend, "catalog", &pool).await?;
        let cart_db = Db::connect(&backend, "cart", &pool).await?;
        let identity_store = IdentityStore::new(identity_db.clone());
        let catalog_store = CatalogStore::new(catalog_db.clone());
        let cart_store = kassa_cart::store::CartStore::new(cart_db.clone());
        if migrate {
            // Dependency order: a district migrates after the districts it uses; identity uses
            // none.
            identity_store.migrate().await?;
            catalog_store.migrate().await?;
            cart_store.migrate().await?;
        }
        let identity_config = settings.identity.config()?;
        let identity: Arc<dyn IdentityService> = Arc::new(Identity::new(
            identity_store,
            clock.clone(),
            identity_config,
        ));
        let catalog: Arc<dyn CatalogService> = Arc::new(Catalog::new(catalog_store, clock.clone()));
        let limits = CartLimits {
            lines_max: settings.cart.lines_max,
        };
        let cart: Arc<dyn CartService> =
            Arc::new(Carts::new(cart_store, catalog.clone(), clock, limits));
        Ok(Districts {
            identity_db,
            catalog_db,
            cart_db,
            identity,
            catalog,
            cart,
        })
    }

    pub async fn close(&self) {
        self.identity_db.close().await;
        self.catalog_db.close().await;
        self.cart_db.close().await;
    }
}

/// `/readyz` passes when every district's database answers.
struct DatabasesReady(Vec<Db>);

#[async_trait]
impl Readiness for DatabasesReady {
    async fn check(&self) -> Result<(), String> {
        for db in &self.0 {
            db.ping()
                .await
                .map_err(|err| format!("{} database: {err}", db.district()))?;
        }
        Ok(())
    }
}

/// A bound, wired kassa server, ready to run.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// Every (method, path) the router serves; the API tests compare it with the OpenAPI
    /// document.
    route_table: RouteTable,
    districts: Districts,
    shutdown_grace: Duration,
}

impl Application {
    /// Opens the databases, wires the services and binds the listener (port 0 picks a free
    /// port, as the tests do).
    pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let districts =
            Districts::open(settings, clock, settings.database.migrate_on_start).await?;
        if settings.identity.jwt_secret.is_none() {
            tracing::warn!(
                "identity.jwt_secret is not set: access tokens are signed with a random key made \
                 at start-up, so they will not survive a restart or work on another node; set \
                 KASSA__IDENTITY__JWT_SECRET"
            );
        }
        let config = ApiConfig {
            body_limit_bytes: settings.http.body_limit_bytes,
            request_timeout_ms: settings.http.request_timeout_ms,
            page_size_max: settings.http.page_size_max,
            access_token_ttl_secs: settings.identity.access_token_ttl_secs,
            refresh_token_ttl_secs: settings.identity.refresh_token_ttl_secs,
        };
        let readiness = Arc::new(DatabasesReady(vec![
            districts.identity_db.clone(),
            districts.catalog_db.clone(),
            districts.cart_db.clone(),
        ]));
        let services = Services {
            identity: districts.identity.clone(),
            catalog: districts.catalog.clone(),
            cart: districts.cart.clone(),
        };
        let state = AppState::new(config, readiness, services);
        let (router, route_table) = kassa_api::build(state);
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).await?;
        Ok(Application {
            listener,
            router,
            route_table,
            districts,
            shutdown_grace: Duration::from_secs(settings.server.shutdown_grace_secs),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn route_table(&self) -> &RouteTable {
        &self.route_table
    }

    pub fn districts(&self) -> &Districts {
        &self.districts
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// (at most the grace period) and closes the databases. Meanwhile a background task purges
    /// ended throttle windows every [`THROTTLE_PURGE_INTERVAL`].
    pub async fn run_until<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let Application {
            listener,
            router,
            districts,
            route_table: _,
            shutdown_grace,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut drained = stop_rx.clone();
        let purge = tokio::spawn(purge_throttle_windows(
            districts.identity.clone(),
            stop_rx.clone(),
        ));
        // The peer address reaches handlers as `ConnectInfo`: the client address of the
        // throttles and the audit log (no proxy header is trusted).
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(listener, service).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutdown requested; draining in-flight requests");
            let _ = stop_tx.send(true);
        });
        let server = tokio::spawn(async move { server.await });
        // Wait for the signal, then give the drain at most the grace period.
        let _ = drained.wait_for(|stopped| *stopped).await;
        match tokio::time::timeout(shutdown_grace, server).await {
            Ok(joined) => joined??,
            Err(_) => tracing::warn!(
                grace_secs = shutdown_grace.as_secs(),
                "in-flight requests did not finish within the grace period"
            ),
        }
        // The purge task stops at the signal too; an error here is only its panic.
        if let Err(err) = purge.await {
            tracing::error!(error = %err, "the throttle purge task failed");
        }
        districts.close().await;
        Ok(())
    }
}

/// Deletes ended throttle windows every [`THROTTLE_PURGE_INTERVAL`] until `stop` turns true.
/// A failed purge is logged and tried again next time: the windows are ended either way, so
/// nothing depends on them being gone.
async fn purge_throttle_windows(
    identity: Arc<dyn IdentityService>,
    mut stop: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval_at(
        tokio::time::Instant::now() + THROTTLE_PURGE_INTERVAL,
        THROTTLE_PURGE_INTERVAL,
    );
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            _ = interval.tick() => {}
        }
        match identity.purge_expired_throttle_windows().await {
            Ok(purged) => tracing::debug!(purged, "ended throttle windows purged"),
            Err(err) => tracing::warn!(error = ?err, "ended throttle windows could not be purged"),
        }
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
