//! Wiring: open each district's database, build its service, hand them to the HTTP layer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kassa_api::{ApiConfig, AppState, Readiness, RouteTable};
use kassa_cart::{CartLimits, CartService, Carts};
use kassa_catalog::{store::CatalogStore, Catalog, CatalogService};
use kassa_db::{Backend, Db, PoolSettings};
use kassa_kernel::Clock;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::Settings;

/// Every district's database and service, wired once.
#[derive(Clone)]
pub struct Districts {
    pub catalog_db: Db,
    pub cart_db: Db,
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
        let catalog_db = Db::connect(&backend, "catalog", &pool).await?;
        let cart_db = Db::connect(&backend, "cart", &pool).await?;
        let catalog_store = CatalogStore::new(catalog_db.clone());
        let cart_store = kassa_cart::store::CartStore::new(cart_db.clone());
        if migrate {
            // Dependency order: a district migrates after the districts it uses.
            catalog_store.migrate().await?;
            cart_store.migrate().await?;
        }
        let catalog: Arc<dyn CatalogService> = Arc::new(Catalog::new(catalog_store, clock.clone()));
        let limits = CartLimits {
            lines_max: settings.cart.lines_max,
        };
        let cart: Arc<dyn CartService> =
            Arc::new(Carts::new(cart_store, catalog.clone(), clock, limits));
        Ok(Districts {
            catalog_db,
            cart_db,
            catalog,
            cart,
        })
    }

    pub async fn close(&self) {
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
        let config = ApiConfig {
            body_limit_bytes: settings.http.body_limit_bytes,
            request_timeout_ms: settings.http.request_timeout_ms,
            page_size_max: settings.http.page_size_max,
            admin_token: settings
                .admin
                .token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
        };
        if config.admin_token.is_none() {
            tracing::warn!("admin.token is not set: every /v1/admin request will be refused");
        }
        let readiness = Arc::new(DatabasesReady(vec![
            districts.catalog_db.clone(),
            districts.cart_db.clone(),
        ]));
        let state = AppState::new(
            config,
            readiness,
            districts.catalog.clone(),
            districts.cart.clone(),
        );
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
    /// (at most the grace period) and closes the databases.
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
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut drained = stop_rx.clone();
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
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
        districts.close().await;
        Ok(())
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
