//! `kassa loadgen` end to end: the real application on 127.0.0.1:0 over a fresh database, with
//! an owner created through the identity service, and the load generator driving it over HTTP
//! exactly as `kassa loadgen` does — signing in, preparing its data, running a tiny `checkout`
//! and a tiny `flash-sale`, and writing its JSON and HTML reports.
//!
//! It lives here rather than in crates/loadgen because kassa-server depends on kassa-loadgen
//! (for the `loadgen` subcommand): a dev-dependency the other way would be a cycle.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kassa_events::{Event, EventId};
use kassa_identity::{Password, Role};
use kassa_inventory::{
    Adjustment, InventoryError, InventoryService, Location, LocationId, LocationName, Reservation,
    StockLevel, StockSummary,
};
use kassa_kernel::{Email, Quantity, Sku, SystemClock, Timestamp};
use kassa_loadgen::args::{CheckoutArgs, CommonArgs, FlashSaleArgs};
use kassa_loadgen::{LoadgenArgs, Report, Scenario};
use kassa_server::{Application, Hooks, Settings};
use kassa_testkit::TestDb;

const OWNER_EMAIL: &str = "owner@kassa.test";
const OWNER_PASSWORD: &str = "Loadgen-Test-Password-2026";
const JWT_SECRET: &str = "kassa-test-signing-secret-kassa-test-signing-secret-0123456789ab";

/// A running kassa with one owner; dropping it stops the server, then drops the database.
struct Server {
    url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _db: TestDb,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts kassa on the real clock (reservations, sessions and timestamps behave as in
/// production) with the cheapest password hashing it accepts, and creates the owner.
async fn spawn() -> Server {
    spawn_with(Hooks::default()).await
}

/// [`spawn`] with test hooks.
async fn spawn_with(hooks: Hooks) -> Server {
    let db = TestDb::new().await;
    let mut settings =
        Settings::load(Path::new("/nonexistent"), "test", Vec::new()).expect("built-in settings");
    settings.server.port = 0;
    settings.identity.jwt_secret = Some(JWT_SECRET.to_owned().into());
    settings.identity.password.memory_kib = 64;
    settings.identity.password.iterations = 1;
    settings.identity.password.parallelism = 1;
    match db.backend() {
        kassa_db::Backend::Sqlite { data_dir } => {
            settings.database.url = String::new();
            settings.database.data_dir = data_dir.clone();
        }
        kassa_db::Backend::Postgres { url } => settings.database.url = url.clone(),
    }
    settings.database.max_connections = 4;
    let app = Application::build_with(&settings, Arc::new(SystemClock), hooks)
        .await
        .expect("build the application");
    app.districts()
        .identity
        .create_staff(
            Email::parse(OWNER_EMAIL).expect("an email"),
            Password::parse(OWNER_PASSWORD.to_owned()).expect("an acceptable password"),
            Role::Owner,
        )
        .await
        .expect("create the owner");
    let url = format!("http://{}", app.local_addr().expect("bound"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    Server {
        url,
        shutdown: Some(tx),
        _db: db,
    }
}

fn common(url: &str, dir: &Path, name: &str) -> CommonArgs {
    CommonArgs {
        urls: vec![url.to_owned()],
        staff_email: OWNER_EMAIL.to_owned(),
        staff_password: OWNER_PASSWORD.to_owned(),
        json: Some(dir.join(format!("{name}.json"))),
        report: Some(dir.join(format!("{name}.html"))),
        timeout: Duration::from_secs(30),
        quiet: true,
    }
}

fn figure(report: &Report, name: &str) -> f64 {
    report
        .figures
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no figure {name:?} in {:#?}", report.figures))
        .value
}

/// Checks the files the run wrote say what the returned report says.
fn assert_files(dir: &Path, name: &str, report: &Report) {
    let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("the JSON file");
    let back: Report = serde_json::from_str(&json).expect("the JSON parses back");
    assert_eq!(&back, report);
    let html = std::fs::read_to_string(dir.join(format!("{name}.html"))).expect("the HTML file");
    assert_eq!(html.matches("<svg").count(), 2, "two charts");
    assert!(html.contains(&report.run_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_checkout_run_confirms_every_checkout() {
    let server = spawn().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let args = LoadgenArgs {
        scenario: Scenario::Checkout(CheckoutArgs {
            common: common(&server.url, dir.path(), "checkout"),
            concurrency: 4,
            duration: None,
            checkouts: Some(20),
            skus: 10,
        }),
    };
    let report = kassa_loadgen::run(&args).await.expect("the run completes");

    assert_eq!(report.scenario, "checkout");
    assert_eq!(report.errors, 0, "errors: {:?}", report.errors_by_kind);
    assert!(report.errors_by_kind.is_empty());
    assert_eq!(figure(&report, "checkouts attempted"), 20.0);
    assert_eq!(figure(&report, "checkouts confirmed (201)"), 20.0);
    // 20 journeys of 8 requests: cart, 2 lines, email, address, options, choice, checkout.
    assert_eq!(report.requests, 160);
    let steps: Vec<(&str, u64)> = report
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.count))
        .collect();
    assert_eq!(
        steps,
        [
            ("create_cart", 20),
            ("add_line", 40),
            ("set_email", 20),
            ("set_address", 20),
            ("list_shipping_options", 20),
            ("choose_shipping", 20),
            ("checkout", 20),
            ("whole_checkout", 20),
        ]
    );
    for step in &report.steps {
        assert!(step.p50_ms > 0.0 && step.p50_ms <= step.p95_ms, "{step:?}");
        assert!(
            step.p95_ms <= step.p99_ms && step.p99_ms <= step.max_ms,
            "{step:?}"
        );
    }
    let flows: u64 = report.timeline.iter().map(|s| s.flows).sum();
    assert_eq!(flows, 20);
    assert!(report.passed());
    assert_files(dir.path(), "checkout", &report);
}

/// `--url X --url X`: the workers are spread round-robin over the two URLs (here the same
/// node twice), and the run behaves as with one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_run_over_the_same_url_twice_confirms_every_checkout() {
    let server = spawn().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut common = common(&server.url, dir.path(), "twice");
    common.urls = vec![server.url.clone(), server.url.clone()];
    let args = LoadgenArgs {
        scenario: Scenario::Checkout(CheckoutArgs {
            common,
            concurrency: 4,
            duration: None,
            checkouts: Some(6),
            skus: 4,
        }),
    };
    let report = kassa_loadgen::run(&args).await.expect("the run completes");

    assert_eq!(report.url, server.url);
    assert_eq!(report.urls, [server.url.clone(), server.url.clone()]);
    assert_eq!(report.errors, 0, "errors: {:?}", report.errors_by_kind);
    assert_eq!(figure(&report, "checkouts attempted"), 6.0);
    assert_eq!(figure(&report, "checkouts confirmed (201)"), 6.0);
    assert_eq!(report.requests, 6 * 8);
    assert!(report.passed());
    assert_files(dir.path(), "twice", &report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_flash_sale_sells_exactly_the_units() {
    let server = spawn().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let args = LoadgenArgs {
        scenario: Scenario::FlashSale(FlashSaleArgs {
            common: common(&server.url, dir.path(), "flash"),
            units: 10,
            buyers: 30,
            concurrency: 8,
        }),
    };
    let report = kassa_loadgen::run(&args).await.expect("the run completes");

    let verification = report.verification.as_ref().expect("a flash sale verifies");
    assert!(verification.passed, "{:#?}", verification.checks);
    let names: Vec<&str> = verification
        .checks
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for name in [
        "checkouts confirmed (201)",
        "confirmed orders listed for this run",
        "listed orders are exactly the 201 answers",
        "on_hand (units − sold)",
        "reserved",
    ] {
        assert!(names.contains(&name), "no check {name:?} in {names:?}");
    }
    assert_eq!(figure(&report, "checkouts confirmed (201)"), 10.0);
    assert_eq!(
        figure(&report, "checkouts sold out (409 insufficient_stock)"),
        20.0
    );
    assert_eq!(report.errors, 0, "errors: {:?}", report.errors_by_kind);
    assert_eq!(report.requests, 30, "only the checkouts are timed");
    let decisions = &report.figures[0];
    assert_eq!(decisions.name, "checkout decisions per second");
    let expected = 30.0 / report.elapsed_secs;
    assert!(
        (decisions.value - expected).abs() < 0.01 * expected,
        "{decisions:?} vs {expected}"
    );
    assert_files(dir.path(), "flash", &report);

    // A second sale on the same server is a new run: its own SKU, its own orders, and the
    // first run's orders do not leak into its verification.
    let args = LoadgenArgs {
        scenario: Scenario::FlashSale(FlashSaleArgs {
            common: common(&server.url, dir.path(), "flash-again"),
            units: 5,
            buyers: 3,
            concurrency: 3,
        }),
    };
    let again = kassa_loadgen::run(&args).await.expect("the run completes");
    assert_ne!(again.run_id, report.run_id);
    assert!(again.passed(), "{:#?}", again.verification);
    assert_eq!(figure(&again, "checkouts confirmed (201)"), 3.0);
}

/// The test-only backdoor: an inventory that quietly holds `bonus` more units than staff set,
/// so the shop sells more than the run stocked — the oversell the flash sale's checks exist to
/// catch. Everything else goes to the real inventory.
struct LyingInventory {
    inner: Arc<dyn InventoryService>,
    bonus: u32,
}

#[async_trait::async_trait]
impl InventoryService for LyingInventory {
    async fn locations(&self) -> Result<Vec<Location>, InventoryError> {
        self.inner.locations().await
    }
    async fn create_location(&self, name: LocationName) -> Result<Location, InventoryError> {
        self.inner.create_location(name).await
    }
    async fn set_stock(
        &self,
        sku: Sku,
        location: LocationId,
        on_hand: u32,
    ) -> Result<StockLevel, InventoryError> {
        self.inner
            .set_stock(sku, location, on_hand + self.bonus)
            .await
    }
    async fn adjust_stock(
        &self,
        sku: Sku,
        location: LocationId,
        delta: i64,
        reason: String,
    ) -> Result<Adjustment, InventoryError> {
        self.inner.adjust_stock(sku, location, delta, reason).await
    }
    async fn stock(&self, sku: Sku) -> Result<StockSummary, InventoryError> {
        self.inner.stock(sku).await
    }
    async fn stock_many(&self, skus: &[Sku]) -> Result<Vec<StockSummary>, InventoryError> {
        self.inner.stock_many(skus).await
    }
    async fn reserve(
        &self,
        order_ref: String,
        lines: &[(Sku, Quantity)],
        ttl: Option<Duration>,
    ) -> Result<Reservation, InventoryError> {
        self.inner.reserve(order_ref, lines, ttl).await
    }
    async fn commit(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        self.inner.commit(order_ref).await
    }
    async fn release(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        self.inner.release(order_ref).await
    }
    async fn restock(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        self.inner.restock(order_ref).await
    }
    async fn expire_due(&self, now: Timestamp, batch_max: u32) -> Result<u32, InventoryError> {
        self.inner.expire_due(now, batch_max).await
    }
    async fn reservation(&self, order_ref: &str) -> Result<Reservation, InventoryError> {
        self.inner.reservation(order_ref).await
    }
    async fn events(
        &self,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<Event>, InventoryError> {
        self.inner.events(after, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flash_sale_that_oversells_fails_its_verification_and_the_command() {
    let wrap: kassa_server::InventoryWrapper =
        Arc::new(|inner| Arc::new(LyingInventory { inner, bonus: 5 }) as Arc<dyn InventoryService>);
    let server = spawn_with(Hooks {
        wrap_inventory: Some(wrap),
        ..Hooks::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let args = LoadgenArgs {
        scenario: Scenario::FlashSale(FlashSaleArgs {
            common: common(&server.url, dir.path(), "oversold"),
            units: 10,
            buyers: 30,
            concurrency: 8,
        }),
    };

    let report = kassa_loadgen::run(&args).await.expect("the run completes");

    // The lying store sold 15 of the 10 units the run stocked.
    assert_eq!(figure(&report, "checkouts confirmed (201)"), 15.0);
    let verification = report.verification.as_ref().expect("a flash sale verifies");
    assert!(!verification.passed);
    let failed: Vec<&str> = verification
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        failed.contains(&"checkouts confirmed (201)"),
        "failed checks: {failed:?}"
    );
    // `kassa loadgen flash-sale` exits non-zero: the command is an error.
    let second = LoadgenArgs {
        scenario: Scenario::FlashSale(FlashSaleArgs {
            common: common(&server.url, dir.path(), "oversold-again"),
            units: 4,
            buyers: 12,
            concurrency: 4,
        }),
    };
    let err = kassa_loadgen::command(&second)
        .await
        .expect_err("an oversold sale fails the command");
    assert!(err.to_string().contains("verification failed"), "{err:#}");
}
