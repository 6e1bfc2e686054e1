//! Wiring: open each district's database, build its service, hand them to the HTTP layer, and
//! run the background loops (throttle and idempotency purges, the reservation sweeper, checkout
//! recovery, the outbox relays, webhook delivery) while serving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kassa_api::{ApiConfig, AppState, Readiness, RouteTable, Services};
use kassa_cart::{CartLimits, CartService, Carts};
use kassa_catalog::{store::CatalogStore, CacheWatcher, CachedCatalog, Catalog, CatalogService};
use kassa_db::{Backend, Db, PoolSettings};
use kassa_events::{Bus, Consumer, InProcessBus, Relay};
use kassa_idempotency::{
    store::IdempotencyStore, Idempotency, IdempotencyService, PURGE_BATCH_MAX,
};
use kassa_identity::{store::IdentityStore, Identity, IdentityService};
use kassa_inventory::{store::InventoryStore, Inventory, InventoryService, EXPIRE_BATCH_MAX};
use kassa_kernel::{Clock, Timestamp};
use kassa_nats::JetStreamBus;
use kassa_notify::{
    NotificationConsumer, NotificationService, Notifications, NotifyStore, OrderLookup, Sender,
};
use kassa_orders::{OrderService, OrdersConfig, SagaFaults};
use kassa_payments::connectors::stripe::StripeGateway;
use kassa_payments::gateway::WebhookVerifier;
use kassa_payments::store::PaymentStore;
use kassa_payments::{PaymentGateway, PaymentService, Payments, SandboxGateway};
use kassa_webhooks::store::WebhookStore;
use kassa_webhooks::{WebhookService, Webhooks};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::settings::{BusKind, GatewaySetting};
use crate::Settings;

/// How often `serve` deletes throttle counters whose window has ended. The table only grows
/// by one row per email or address attempting in a window, so every few minutes keeps it
/// small without being work worth measuring.
const THROTTLE_PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// How often `serve` deletes idempotency records past their TTL (24 hours by default). An
/// expired record already counts as absent, so purging only reclaims space; every few minutes
/// keeps each purge a few short batches.
const IDEMPOTENCY_PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Most purge batches per round: 100 × [`PURGE_BATCH_MAX`] records, far more than ten minutes
/// of keyed requests, so one round keeps up; a larger backlog waits for the next round.
const IDEMPOTENCY_PURGE_BATCHES_MAX: u32 = 100;

/// Most checkouts one sweep cancels per call of the orders sweeper; it is called again while
/// calls come back full (up to [`SWEEP_ROUNDS_MAX`]). Each is a short transaction plus a void
/// at the gateway, so a batch stays well under a second's work.
const ORDERS_EXPIRE_BATCH_MAX: u32 = 100;

/// Most full batches one sweep works through per district before yielding to the next tick:
/// bounds one sweep's length when a large backlog lapsed at once (after downtime, say).
const SWEEP_ROUNDS_MAX: u32 = 10;

/// What tests may swap in when building the application; `Hooks::default()` is production.
#[derive(Clone, Default)]
pub struct Hooks {
    /// The sandbox gateway to pay with instead of a fresh one. Passing the same gateway to a
    /// second build simulates a gateway that outlives a restarted kassa (its books survive).
    pub sandbox: Option<SandboxGateway>,
    /// Asked after each checkout saga step whether to stop there as a crash would.
    pub saga_faults: Option<Arc<dyn SagaFaults>>,
    /// Wraps the inventory service every other part of the application uses: how a test puts
    /// a store that misbehaves on purpose (one that sells more than it was given) behind the
    /// real HTTP API, to prove that a check catches it.
    pub wrap_inventory: Option<InventoryWrapper>,
    /// Consumers subscribed to the in-process bus besides kassa's own.
    pub consumers: Vec<Arc<dyn Consumer>>,
}

/// See [`Hooks::wrap_inventory`].
pub type InventoryWrapper =
    Arc<dyn Fn(Arc<dyn InventoryService>) -> Arc<dyn InventoryService> + Send + Sync>;

/// Every district's database and service, wired once.
#[derive(Clone)]
pub struct Districts {
    pub identity_db: Db,
    pub catalog_db: Db,
    pub cart_db: Db,
    pub idempotency_db: Db,
    pub inventory_db: Db,
    pub payments_db: Db,
    pub orders_db: Db,
    pub webhooks_db: Db,
    pub notifications_db: Db,
    pub identity: Arc<dyn IdentityService>,
    pub catalog: Arc<dyn CatalogService>,
    /// The node's catalog read cache (also `catalog`), kept fresh by the catalog's events.
    pub catalog_cache: Arc<CachedCatalog>,
    pub cart: Arc<dyn CartService>,
    pub idempotency: Arc<dyn IdempotencyService>,
    pub inventory: Arc<dyn InventoryService>,
    pub payments: Arc<dyn PaymentService>,
    pub orders: Arc<dyn OrderService>,
    /// Outbound webhooks: its consumer is subscribed to [`Districts::bus`], and `serve` runs
    /// its `deliver_due` every `webhooks.deliver_interval_ms`.
    pub webhooks: Arc<dyn WebhookService>,
    /// The shopper's emails: its consumer turns order events into queued messages, `serve`
    /// sends them through [`Districts::mail_sender`]; staff read them (the dev mailbox).
    pub notifications: Arc<dyn NotificationService>,
    pub mail_sender: Arc<Sender>,
    /// Where the outbox relays publish every district's events: the in-process bus (kassa's
    /// consumers are subscribed to it) or NATS JetStream ([`Districts::nats`]).
    pub bus: Arc<dyn Bus>,
    /// Set when `events.bus = "nats"`: `serve` runs a durable JetStream consumer for each of
    /// [`Districts::consumers`].
    pub nats: Option<JetStreamBus>,
    /// kassa's own consumers (webhooks, notifications) and the test hooks' ones.
    pub consumers: Vec<Arc<dyn Consumer>>,
    /// The gateway payments use, when it is the sandbox: the challenge route completes 3-D
    /// Secure in it, and tests read its books.
    pub sandbox: Option<SandboxGateway>,
    /// The gateway's webhook checker, when it sends webhooks (Stripe).
    pub gateway_webhooks: Option<Arc<dyn WebhookVerifier>>,
}

/// The configured gateway, the sandbox's books when it is the sandbox, and the webhook checker
/// when the gateway sends webhooks.
type GatewayParts = (
    Arc<dyn PaymentGateway>,
    Option<SandboxGateway>,
    Option<Arc<dyn WebhookVerifier>>,
);

impl Districts {
    /// One relay per district outbox, publishing to [`Districts::bus`].
    pub fn relays(&self, clock: Arc<dyn Clock>) -> Vec<Relay> {
        let bus: Arc<dyn Bus> = self.bus.clone();
        [
            (
                &self.orders_db,
                kassa_orders::events::OUTBOX_TABLE,
                "orders",
            ),
            (
                &self.inventory_db,
                kassa_inventory::events::OUTBOX_TABLE,
                "inventory",
            ),
            (
                &self.payments_db,
                kassa_payments::events::OUTBOX,
                "payments",
            ),
            (
                &self.catalog_db,
                kassa_catalog::events::OUTBOX_TABLE,
                "catalog",
            ),
        ]
        .into_iter()
        .map(|(db, table, source)| {
            Relay::new(db.clone(), table, source, bus.clone(), clock.clone())
        })
        .collect()
    }

    /// Opens every district's database (and migrates it when `migrate` is true).
    pub async fn open(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        migrate: bool,
    ) -> anyhow::Result<Districts> {
        Districts::open_with(settings, clock, migrate, Hooks::default()).await
    }

    /// [`Districts::open`] with test hooks.
    pub async fn open_with(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        migrate: bool,
        hooks: Hooks,
    ) -> anyhow::Result<Districts> {
        let backend =
            Backend::from_url(&settings.database.url, settings.database.data_dir.clone())?;
        let pool = PoolSettings {
            max_connections: settings.database.max_connections,
            acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
            write_queue_max: settings.database.write_queue_max,
            group_commit_max: settings.database.group_commit_max,
            ..PoolSettings::default()
        };
        let identity_db = Db::connect(&backend, "identity", &pool).await?;
        let catalog_db = Db::connect(&backend, "catalog", &pool).await?;
        let cart_db = Db::connect(&backend, "cart", &pool).await?;
        let idempotency_db = Db::connect(&backend, "idempotency", &pool).await?;
        let inventory_db = Db::connect(&backend, "inventory", &pool).await?;
        let payments_db = Db::connect(&backend, "payments", &pool).await?;
        let orders_db = Db::connect(&backend, "orders", &pool).await?;
        let webhooks_db = Db::connect(&backend, "webhooks", &pool).await?;
        let notifications_db = Db::connect(&backend, "notifications", &pool).await?;
        let identity_store = IdentityStore::new(identity_db.clone());
        let catalog_store = CatalogStore::new(catalog_db.clone());
        let cart_store = kassa_cart::store::CartStore::new(cart_db.clone());
        let idempotency_store = IdempotencyStore::new(idempotency_db.clone());
        let inventory_store = InventoryStore::new(inventory_db.clone());
        let payments_store = PaymentStore::new(payments_db.clone());
        let orders_store = kassa_orders::store::OrderStore::new(orders_db.clone());
        let webhooks_store = WebhookStore::new(webhooks_db.clone());
        let notify_store = NotifyStore::new(notifications_db.clone());
        if migrate {
            // Dependency order: a district migrates after the districts it uses; identity uses
            // none.
            identity_store.migrate().await?;
            catalog_store.migrate().await?;
            cart_store.migrate().await?;
            // Uses no other district.
            idempotency_store.migrate().await?;
            // Inventory and payments use no other district; orders uses cart, inventory and
            // payments, so it comes last.
            inventory_store.migrate().await?;
            payments_store.migrate().await?;
            orders_store.migrate().await?;
            // Reads the others' events from the bus only; after orders, the last producer.
            webhooks_store.migrate().await?;
            // Reads orders through its service trait and their events from the bus.
            notify_store.migrate().await?;
        }
        let idempotency: Arc<dyn IdempotencyService> = Arc::new(Idempotency::new(
            idempotency_store,
            clock.clone(),
            settings.idempotency.config(),
        ));
        let identity_config = settings.identity.config()?;
        let identity: Arc<dyn IdentityService> = Arc::new(Identity::new(
            identity_store,
            clock.clone(),
            identity_config,
        ));
        // Public reads are cached for `catalog.cache_ttl_ms`; offers (what the cart and checkout
        // price with) pass through to the store.
        let catalog_cache = Arc::new(CachedCatalog::new(
            Arc::new(Catalog::new(catalog_store, clock.clone())),
            clock.clone(),
            settings.catalog.cache_config(),
        ));
        let catalog: Arc<dyn CatalogService> = catalog_cache.clone();
        let limits = CartLimits {
            lines_max: settings.cart.lines_max,
        };
        let cart: Arc<dyn CartService> = Arc::new(Carts::new(
            cart_store,
            catalog.clone(),
            clock.clone(),
            limits,
        ));
        let mut inventory: Arc<dyn InventoryService> = Arc::new(Inventory::new(
            inventory_store,
            clock.clone(),
            settings.inventory.config(),
        ));
        if let Some(wrap) = &hooks.wrap_inventory {
            inventory = wrap(inventory);
        }
        // The gateway: the sandbox (the test hooks may hand in one that outlives this build),
        // or Stripe, whose webhooks the API verifies with the same connector.
        let (gateway, sandbox, gateway_webhooks): GatewayParts = match settings.payments.gateway {
            GatewaySetting::Sandbox => {
                let sandbox = hooks
                    .sandbox
                    .unwrap_or_else(|| SandboxGateway::new(settings.payments.sandbox_config()));
                (Arc::new(sandbox.clone()), Some(sandbox), None)
            }
            GatewaySetting::Stripe => {
                let stripe = StripeGateway::new(settings.payments.stripe_config()?, clock.clone())
                    .map_err(|err| anyhow::anyhow!("payments.stripe: {err}"))?;
                tracing::info!(base_url = %stripe.config().base_url, "payments through Stripe");
                (Arc::new(stripe.clone()), None, Some(Arc::new(stripe)))
            }
        };
        let payments: Arc<dyn PaymentService> = Arc::new(
            Payments::new(payments_store, gateway, clock.clone())
                .with_call_timeout(settings.payments.call_timeout())
                .with_return_url(settings.payments.return_url()),
        );
        let orders_config = OrdersConfig {
            capture: settings.orders.capture.into(),
            saga_lease: Duration::from_secs(settings.orders.saga_lease_secs),
            // A second checkout of the same cart waits for the first's outcome, but must answer
            // before the request timeout cuts it off: at most half of it.
            follow_wait: OrdersConfig::default()
                .follow_wait
                .min(Duration::from_millis(settings.http.request_timeout_ms / 2)),
            faults: hooks.saga_faults,
        };
        let orders: Arc<dyn OrderService> = Arc::new(kassa_orders::Orders::new(
            orders_store.clone(),
            cart.clone(),
            inventory.clone(),
            payments.clone(),
            clock.clone(),
            orders_config,
        ));
        let webhooks = Webhooks::new(webhooks_store, clock.clone(), settings.webhooks.config())?;
        let notify_config = settings.notifications.config();
        let lookup: Arc<dyn OrderLookup> = Arc::new(orders.clone());
        let notify_consumer =
            NotificationConsumer::new(notify_store.clone(), lookup, clock.clone(), &notify_config);
        let mail_sender = Arc::new(Sender::from_config(
            notify_store.clone(),
            clock.clone(),
            &notify_config,
        )?);
        let notifications: Arc<dyn NotificationService> =
            Arc::new(Notifications::new(notify_store));
        // Orders flags the order of a disputed payment for staff (payments' events, never its
        // tables).
        let orders_payments = kassa_orders::PaymentsConsumer::new(orders_store, clock.clone());
        let mut consumers: Vec<Arc<dyn Consumer>> = vec![
            Arc::new(webhooks.consumer()),
            Arc::new(notify_consumer),
            Arc::new(orders_payments),
        ];
        consumers.extend(hooks.consumers);
        let (bus, nats): (Arc<dyn Bus>, Option<JetStreamBus>) = match settings.events.bus {
            BusKind::InProcess => {
                let bus = InProcessBus::new();
                for consumer in &consumers {
                    bus.subscribe(consumer.clone());
                }
                (Arc::new(bus), None)
            }
            BusKind::Nats => {
                let nats = JetStreamBus::connect(settings.events.nats_config()).await?;
                (Arc::new(nats.clone()), Some(nats))
            }
        };
        Ok(Districts {
            identity_db,
            catalog_db,
            cart_db,
            idempotency_db,
            inventory_db,
            payments_db,
            orders_db,
            webhooks_db,
            notifications_db,
            identity,
            catalog,
            catalog_cache,
            cart,
            idempotency,
            inventory,
            payments,
            orders,
            webhooks: Arc::new(webhooks),
            notifications,
            mail_sender,
            bus,
            nats,
            consumers,
            sandbox,
            gateway_webhooks,
        })
    }

    /// One sweep at `now`: expires lapsed reservations (inventory), then cancels the checkouts
    /// that held them (orders, which also voids any hold at the gateway). Each works through
    /// full batches up to [`SWEEP_ROUNDS_MAX`]; a failure is logged and left to the next sweep,
    /// since a lapsed reservation stays lapsed. Returns how many reservations and orders it
    /// expired.
    pub async fn sweep(&self, now: Timestamp) -> (u32, u32) {
        let mut reservations = 0;
        for _ in 0..SWEEP_ROUNDS_MAX {
            match self.inventory.expire_due(now, EXPIRE_BATCH_MAX).await {
                Ok(expired) => {
                    reservations += expired;
                    if expired < EXPIRE_BATCH_MAX {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = ?err, "expired reservations could not be swept");
                    break;
                }
            }
        }
        let mut orders = 0;
        for _ in 0..SWEEP_ROUNDS_MAX {
            match self.orders.expire_due(now, ORDERS_EXPIRE_BATCH_MAX).await {
                Ok(expired) => {
                    orders += expired;
                    if expired < ORDERS_EXPIRE_BATCH_MAX {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = ?err, "checkouts with lapsed reservations could not be swept");
                    break;
                }
            }
        }
        if reservations > 0 || orders > 0 {
            tracing::info!(reservations, orders, "lapsed reservations swept");
        }
        (reservations, orders)
    }

    /// One recovery pass at `now`: every checkout whose saga lease lapsed (its server crashed,
    /// or a gateway call never answered) is resumed or compensated. A failure is logged and
    /// left to the next pass. Returns what the pass did, if it ran.
    pub async fn recover(&self, now: Timestamp) -> Option<kassa_orders::RecoveryReport> {
        match self.orders.recover(now).await {
            Ok(report) => {
                if report != kassa_orders::RecoveryReport::default() {
                    tracing::info!(
                        completed = report.completed,
                        compensated = report.compensated,
                        open = report.open,
                        "interrupted checkouts recovered"
                    );
                }
                Some(report)
            }
            Err(err) => {
                tracing::warn!(error = ?err, "interrupted checkouts could not be recovered");
                None
            }
        }
    }

    pub async fn close(&self) {
        self.identity_db.close().await;
        self.catalog_db.close().await;
        self.cart_db.close().await;
        self.idempotency_db.close().await;
        self.inventory_db.close().await;
        self.payments_db.close().await;
        self.orders_db.close().await;
        self.webhooks_db.close().await;
        self.notifications_db.close().await;
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
    /// The clock the districts were given; the idempotency purge asks it what has expired.
    clock: Arc<dyn Clock>,
    shutdown_grace: Duration,
    /// How often the sweeper expires lapsed reservations (`workers.sweep_interval_ms`).
    sweep_interval: Duration,
    /// How often recovery resumes interrupted checkouts (`workers.recovery_interval_secs`).
    recovery_interval: Duration,
    /// How often the catalog cache reads recent catalog events (`catalog.cache_refresh_ms`;
    /// zero: never).
    catalog_refresh: Duration,
    /// How often the outbox relays run (`workers.relay_interval_ms`).
    relay_interval: Duration,
    /// How long published events stay in their outbox (`workers.outbox_retention_hours`).
    outbox_retention: Duration,
    /// How often due webhook deliveries are sent (`webhooks.deliver_interval_ms`).
    webhook_interval: Duration,
    /// How often queued emails are sent (`notifications.send_interval_ms`).
    mail_interval: Duration,
    /// How often the payments reconciliation job runs, and how many payments a pass takes.
    reconcile_interval: Duration,
    reconcile_batch: u32,
}

impl Application {
    /// Opens the databases, wires the services and binds the listener (port 0 picks a free
    /// port, as the tests do).
    pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        Application::build_with(settings, clock, Hooks::default()).await
    }

    /// [`Application::build`] with test hooks: a sandbox gateway shared with the test (or with
    /// a previous application, to simulate a restart) and saga fault injection.
    pub async fn build_with(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        hooks: Hooks,
    ) -> anyhow::Result<Application> {
        let districts = Districts::open_with(
            settings,
            clock.clone(),
            settings.database.migrate_on_start,
            hooks,
        )
        .await?;
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
            refund_cap: settings.identity.refund_cap()?,
        };
        let readiness = Arc::new(DatabasesReady(vec![
            districts.identity_db.clone(),
            districts.catalog_db.clone(),
            districts.cart_db.clone(),
            districts.idempotency_db.clone(),
            districts.inventory_db.clone(),
            districts.payments_db.clone(),
            districts.orders_db.clone(),
            districts.webhooks_db.clone(),
            districts.notifications_db.clone(),
        ]));
        let services = Services {
            identity: districts.identity.clone(),
            catalog: districts.catalog.clone(),
            cart: districts.cart.clone(),
            idempotency: districts.idempotency.clone(),
            inventory: districts.inventory.clone(),
            payments: districts.payments.clone(),
            orders: districts.orders.clone(),
            webhooks: districts.webhooks.clone(),
            notifications: districts.notifications.clone(),
            ops: Arc::new(crate::ops::DistrictGauges {
                relays: districts.relays(clock.clone()),
                payments: districts.payments.clone(),
                webhooks: districts.webhooks.clone(),
                notifications: districts.notifications.clone(),
                clock: clock.clone(),
            }),
            sandbox: districts.sandbox.clone(),
            gateway_webhooks: districts.gateway_webhooks.clone(),
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
            clock,
            shutdown_grace: Duration::from_secs(settings.server.shutdown_grace_secs),
            sweep_interval: Duration::from_millis(settings.workers.sweep_interval_ms),
            recovery_interval: Duration::from_secs(settings.workers.recovery_interval_secs),
            catalog_refresh: Duration::from_millis(settings.catalog.cache_refresh_ms),
            relay_interval: Duration::from_millis(settings.workers.relay_interval_ms),
            outbox_retention: Duration::from_secs(
                settings
                    .workers
                    .outbox_retention_hours
                    .saturating_mul(3_600),
            ),
            webhook_interval: Duration::from_millis(settings.webhooks.deliver_interval_ms),
            mail_interval: Duration::from_millis(settings.notifications.send_interval_ms),
            reconcile_interval: Duration::from_secs(settings.payments.reconcile_interval_secs),
            reconcile_batch: settings.payments.reconcile_batch,
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
    /// (at most the grace period) and closes the databases. Meanwhile background tasks purge
    /// ended throttle windows every [`THROTTLE_PURGE_INTERVAL`] and expired idempotency records
    /// every [`IDEMPOTENCY_PURGE_INTERVAL`], the sweeper expires lapsed reservations and their
    /// checkouts every `workers.sweep_interval_ms`, and recovery resumes interrupted checkouts
    /// once at start and every `workers.recovery_interval_secs` — all at the clock's time, and
    /// all stopped at the signal like the purges.
    pub async fn run_until<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let Application {
            listener,
            router,
            districts,
            route_table: _,
            clock,
            shutdown_grace,
            sweep_interval,
            recovery_interval,
            catalog_refresh,
            relay_interval,
            outbox_retention,
            webhook_interval,
            mail_interval,
            reconcile_interval,
            reconcile_batch,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut drained = stop_rx.clone();
        let purge = tokio::spawn(purge_throttle_windows(
            districts.identity.clone(),
            stop_rx.clone(),
        ));
        let idempotency_purge = tokio::spawn(purge_idempotency_records(
            districts.idempotency.clone(),
            clock.clone(),
            stop_rx.clone(),
        ));
        let sweeper = tokio::spawn(sweep_reservations(
            districts.clone(),
            clock.clone(),
            sweep_interval,
            stop_rx.clone(),
        ));
        let relays = tokio::spawn(relay_outboxes(
            districts.relays(clock.clone()),
            clock.clone(),
            relay_interval,
            outbox_retention,
            stop_rx.clone(),
        ));
        let webhook_delivery = tokio::spawn(deliver_webhooks(
            districts.webhooks.clone(),
            clock.clone(),
            webhook_interval,
            stop_rx.clone(),
        ));
        let mail = tokio::spawn(send_mail(
            districts.mail_sender.clone(),
            clock.clone(),
            mail_interval,
            stop_rx.clone(),
        ));
        let mut nats_consumers = Vec::new();
        if let Some(nats) = &districts.nats {
            for consumer in &districts.consumers {
                nats_consumers.push(
                    nats.spawn_consumer(consumer.clone(), stop_rx.clone())
                        .await?,
                );
            }
        }
        let reconcile = tokio::spawn(reconcile_payments(
            districts.payments.clone(),
            reconcile_interval,
            reconcile_batch,
            stop_rx.clone(),
        ));
        let recovery = tokio::spawn(recover_checkouts(
            districts.clone(),
            clock,
            recovery_interval,
            stop_rx.clone(),
        ));
        let catalog_watch = (!catalog_refresh.is_zero()).then(|| {
            let watcher = CacheWatcher::new(
                CatalogStore::new(districts.catalog_db.clone()),
                districts.catalog_cache.clone(),
            );
            tokio::spawn(watch_catalog(watcher, catalog_refresh, stop_rx.clone()))
        });
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
        if let Err(err) = idempotency_purge.await {
            tracing::error!(error = %err, "the idempotency purge task failed");
        }
        // The sweeper and recovery finish the pass they are in (bounded by the gateway call
        // timeout), so no checkout is left half-compensated by the shutdown itself.
        if let Err(err) = sweeper.await {
            tracing::error!(error = %err, "the reservation sweeper failed");
        }
        if let Err(err) = recovery.await {
            tracing::error!(error = %err, "the checkout recovery task failed");
        }
        if let Err(err) = reconcile.await {
            tracing::error!(error = %err, "the payments reconciliation task failed");
        }
        if let Err(err) = relays.await {
            tracing::error!(error = %err, "the outbox relay task failed");
        }
        // Stops at the signal after the batch it is sending (each attempt has its timeout).
        if let Err(err) = webhook_delivery.await {
            tracing::error!(error = %err, "the webhook delivery task failed");
        }
        if let Err(err) = mail.await {
            tracing::error!(error = %err, "the mail sending task failed");
        }
        for consumer in nats_consumers {
            if let Err(err) = consumer.await {
                tracing::error!(error = %err, "a NATS consumer task failed");
            }
        }
        if let Some(Err(err)) = match catalog_watch {
            Some(task) => Some(task.await),
            None => None,
        } {
            tracing::error!(error = %err, "the catalog cache watcher failed");
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

/// Deletes idempotency records past their TTL every [`IDEMPOTENCY_PURGE_INTERVAL`] until `stop`
/// turns true, in batches of [`PURGE_BATCH_MAX`] while batches come back full (at most
/// [`IDEMPOTENCY_PURGE_BATCHES_MAX`] per round, so a backlog is worked off over several rounds
/// rather than holding the writer). A failed purge is logged and tried next round: expired
/// records count as absent either way.
async fn purge_idempotency_records(
    idempotency: Arc<dyn IdempotencyService>,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval_at(
        tokio::time::Instant::now() + IDEMPOTENCY_PURGE_INTERVAL,
        IDEMPOTENCY_PURGE_INTERVAL,
    );
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            _ = interval.tick() => {}
        }
        let now = clock.now();
        for _ in 0..IDEMPOTENCY_PURGE_BATCHES_MAX {
            match idempotency.purge(now, PURGE_BATCH_MAX).await {
                Ok(purged) => {
                    tracing::debug!(purged, "expired idempotency records purged");
                    if purged < u64::from(PURGE_BATCH_MAX) {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = ?err, "expired idempotency records could not be purged");
                    break;
                }
            }
        }
    }
}

/// Sweeps lapsed reservations and their checkouts every `interval` until `stop` turns true,
/// at the clock's time (so tests move it with their manual clock).
async fn sweep_reservations(
    districts: Districts,
    clock: Arc<dyn Clock>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            _ = ticks.tick() => {}
        }
        districts.sweep(clock.now()).await;
    }
}

/// How often the relays prune their outboxes, in relay passes (about once a minute at the
/// default interval).
const PRUNE_EVERY_PASSES: u32 = 300;

/// Events one prune deletes at most per outbox.
const PRUNE_BATCH: u32 = 10_000;

/// Runs every outbox relay every `interval` until `stop` turns true, and now and then prunes
/// the events published longer than `retention` ago. A failed pass is logged; its events stay
/// pending and the next pass tries them again.
async fn relay_outboxes(
    relays: Vec<Relay>,
    clock: Arc<dyn Clock>,
    interval: Duration,
    retention: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut passes: u32 = 0;
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            _ = ticks.tick() => {}
        }
        for relay in &relays {
            if let Err(err) = relay.pass().await {
                tracing::warn!(source = relay.source(), error = %err, "outbox relay pass failed");
            }
        }
        passes = passes.wrapping_add(1);
        if passes % PRUNE_EVERY_PASSES == 0 {
            let before = clock.now().plus_millis(retention_ms.saturating_neg());
            for relay in &relays {
                if let Err(err) = relay.prune(before, PRUNE_BATCH).await {
                    tracing::warn!(source = relay.source(), error = %err, "outbox prune failed");
                }
            }
        }
    }
}

/// Runs `work` every `interval` (the first time at once) until `stop` turns true; a tick missed
/// while `work` ran is not made up. The delivery workers' loop: each round's failures are
/// `work`'s to log, the next tick tries again.
async fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, mut work: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            _ = ticks.tick() => {}
        }
        work().await;
    }
}

/// Most webhook deliveries one tick claims and sends (8 at a time): a tick's work stays bounded
/// by a few timeouts even when every receiver hangs.
const WEBHOOK_DELIVER_BATCH: u32 = 64;

/// Sends due webhook deliveries every `interval` until `stop` turns true, at the clock's time.
/// A failed claim is logged and tried at the next tick; each attempt's own failure is recorded
/// on its delivery.
async fn deliver_webhooks(
    webhooks: Arc<dyn WebhookService>,
    clock: Arc<dyn Clock>,
    interval: Duration,
    stop: watch::Receiver<bool>,
) {
    every(interval, stop, || async {
        if let Err(err) = webhooks
            .deliver_due(clock.now(), WEBHOOK_DELIVER_BATCH)
            .await
        {
            tracing::warn!(error = %err, "due webhook deliveries could not be claimed");
        }
    })
    .await;
}

/// Most queued emails one tick sends.
const MAIL_SEND_BATCH: u32 = 50;

/// Sends queued emails every `interval` until `stop` turns true, at the clock's time. A failed
/// claim is logged and tried at the next tick; each send's own failure is recorded on its
/// message (retry or `failed`).
async fn send_mail(
    sender: Arc<Sender>,
    clock: Arc<dyn Clock>,
    interval: Duration,
    stop: watch::Receiver<bool>,
) {
    every(interval, stop, || async {
        if let Err(err) = sender.send_due(clock.now(), MAIL_SEND_BATCH).await {
            tracing::warn!(error = %err, "queued emails could not be sent");
        }
    })
    .await;
}

/// Settles gateway calls whose outcome is unknown every `interval` until `stop` turns true:
/// each payment with an operation or refund pending that nobody is settling is sent again with
/// its idempotency key (`PaymentService::reconcile_pending`). A failed pass is logged and tried
/// at the next tick.
async fn reconcile_payments(
    payments: Arc<dyn PaymentService>,
    interval: Duration,
    batch: u32,
    stop: watch::Receiver<bool>,
) {
    every(interval, stop, || async {
        match payments.reconcile_pending(batch).await {
            Ok(pass) if pass.examined > 0 => tracing::info!(
                examined = pass.examined,
                settled = pass.settled,
                still_open = pass.still_open,
                "payments reconciled"
            ),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "payments could not be reconciled"),
        }
    })
    .await;
}

/// Reads the catalog's recent events every `interval` until `stop` turns true, clearing the
/// node's catalog cache when another node changed the catalog. A failed read is logged and
/// tried again at the next tick; meanwhile the cache's TTL still bounds staleness.
async fn watch_catalog(
    mut watcher: CacheWatcher,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            _ = ticks.tick() => {}
        }
        if let Err(err) = watcher.look().await {
            tracing::warn!(error = %err, "cannot read the catalog's events for the cache");
        }
    }
}

/// Recovers interrupted checkouts once at start (a crash left them to this process) and then
/// every `interval` until `stop` turns true.
async fn recover_checkouts(
    districts: Districts,
    clock: Arc<dyn Clock>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // The first tick is immediate: the pass at start-up.
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            _ = ticks.tick() => {}
        }
        districts.recover(clock.now()).await;
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
