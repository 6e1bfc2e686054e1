//! Orders service tests over the real catalog, cart, inventory and payments services and the
//! sandbox gateway, each on a fresh set of databases: SQLite always, PostgreSQL when
//! TEST_DATABASE_URL is set. The checkout saga's outcomes are in `checkout`, crashes and the
//! recovery worker in `recovery`, racing callers in `concurrency`, staff operations in `staff`,
//! order flags raised by the payments consumer in `flags` — one test binary.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "orders/checkout.rs"]
mod checkout;
#[path = "orders/concurrency.rs"]
mod concurrency;
#[path = "orders/flags.rs"]
mod flags;
#[path = "orders/recovery.rs"]
mod recovery;
#[path = "orders/staff.rs"]
mod staff;

use std::sync::Arc;
use std::time::Duration;

use kassa_cart::store::CartStore;
use kassa_cart::{
    Address, AddressInput, CartAccess, CartLimits, CartService, Carts, NewShippingOption,
    ShippingRate,
};
use kassa_catalog::store::CatalogStore;
use kassa_catalog::{Catalog, CatalogService, Handle, NewProduct, NewVariant, Title};
use kassa_db::{Db, PoolSettings};
use kassa_inventory::store::InventoryStore;
use kassa_inventory::{Inventory, InventoryConfig, InventoryService, LocationId};
use kassa_kernel::ids::{CartId, OrderId, ShippingOptionId};
use kassa_kernel::{
    Clock, CountryCode, Currency, Email, ManualClock, Money, Quantity, Sku, Timestamp,
};
use kassa_orders::store::OrderStore;
use kassa_orders::*;
use kassa_payments::connectors::sandbox::TOKENS;
use kassa_payments::store::PaymentStore;
use kassa_payments::{PaymentMethodToken, PaymentService, Payments, SandboxConfig, SandboxGateway};
use kassa_testkit::TestDb;

const START_MS: i64 = 1_795_000_000_000;

/// Every unit the tests sell costs this much (EUR 10.00); shipping is EUR 5.00.
const UNIT_PRICE_MINOR: i64 = 1_000;
const SHIPPING_MINOR: i64 = 500;

/// The districts' databases, shared by every service instance a test builds over them (a
/// restarted kassa opens the same databases).
#[derive(Clone)]
struct Dbs {
    catalog: Db,
    cart: Db,
    inventory: Db,
    payments: Db,
    orders: Db,
}

/// One kassa's services over the shared databases.
struct Services {
    orders: Arc<dyn OrderService>,
    carts: Arc<dyn CartService>,
    inventory: Arc<dyn InventoryService>,
    payments: Arc<dyn PaymentService>,
}

struct Fixture {
    orders: Arc<dyn OrderService>,
    carts: Arc<dyn CartService>,
    catalog: Arc<Catalog>,
    inventory: Arc<dyn InventoryService>,
    payments: Arc<dyn PaymentService>,
    sandbox: SandboxGateway,
    clock: ManualClock,
    dbs: Dbs,
    ground: ShippingOptionId,
    _test: TestDb,
}

/// Pools that let a hundred concurrent checkouts queue instead of failing as unavailable.
fn pool_settings() -> PoolSettings {
    PoolSettings {
        max_connections: 8,
        acquire_timeout: Duration::from_secs(120),
        sqlite_busy_timeout: Duration::from_secs(120),
        ..PoolSettings::default()
    }
}

async fn fixture() -> Fixture {
    fixture_with(OrdersConfig::default()).await
}

async fn fixture_with(config: OrdersConfig) -> Fixture {
    let test = TestDb::new().await;
    let settings = pool_settings();
    let connect = |district| Db::connect(test.backend(), district, &settings);
    let dbs = Dbs {
        catalog: connect("catalog").await.unwrap(),
        cart: connect("cart").await.unwrap(),
        inventory: connect("inventory").await.unwrap(),
        payments: connect("payments").await.unwrap(),
        orders: connect("orders").await.unwrap(),
    };
    CatalogStore::new(dbs.catalog.clone())
        .migrate()
        .await
        .unwrap();
    CartStore::new(dbs.cart.clone()).migrate().await.unwrap();
    InventoryStore::new(dbs.inventory.clone())
        .migrate()
        .await
        .unwrap();
    PaymentStore::new(dbs.payments.clone())
        .migrate()
        .await
        .unwrap();
    OrderStore::new(dbs.orders.clone()).migrate().await.unwrap();

    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    let sandbox = SandboxGateway::new(SandboxConfig::default());
    let catalog = Arc::new(Catalog::new(
        CatalogStore::new(dbs.catalog.clone()),
        Arc::new(clock.clone()),
    ));
    let services = build(&dbs, catalog.clone(), &sandbox, &clock, config);
    let option = NewShippingOption::parse(
        "Ground",
        vec![CountryCode::parse("DE").unwrap()],
        Currency::Eur,
        ShippingRate::Flat {
            amount: eur(SHIPPING_MINOR),
        },
    )
    .unwrap();
    let ground = services
        .carts
        .create_shipping_option(option)
        .await
        .unwrap()
        .id();
    Fixture {
        orders: services.orders,
        carts: services.carts,
        catalog,
        inventory: services.inventory,
        payments: services.payments,
        sandbox,
        clock,
        dbs,
        ground,
        _test: test,
    }
}

/// Every service of one kassa over `dbs`, paying through `sandbox`.
fn build(
    dbs: &Dbs,
    catalog: Arc<Catalog>,
    sandbox: &SandboxGateway,
    clock: &ManualClock,
    config: OrdersConfig,
) -> Services {
    let carts: Arc<dyn CartService> = Arc::new(Carts::new(
        CartStore::new(dbs.cart.clone()),
        catalog,
        Arc::new(clock.clone()),
        CartLimits::default(),
    ));
    let inventory: Arc<dyn InventoryService> = Arc::new(Inventory::new(
        InventoryStore::new(dbs.inventory.clone()),
        Arc::new(clock.clone()),
        InventoryConfig::default(),
    ));
    let payments: Arc<dyn PaymentService> = Arc::new(Payments::new(
        PaymentStore::new(dbs.payments.clone()),
        Arc::new(sandbox.clone()),
        Arc::new(clock.clone()),
    ));
    let orders: Arc<dyn OrderService> = Arc::new(Orders::new(
        OrderStore::new(dbs.orders.clone()),
        carts.clone(),
        inventory.clone(),
        payments.clone(),
        Arc::new(clock.clone()),
        config,
    ));
    Services {
        orders,
        carts,
        inventory,
        payments,
    }
}

impl Fixture {
    /// A second kassa over the same databases and the same gateway, as after a restart.
    fn restarted(&self, config: OrdersConfig) -> Services {
        build(
            &self.dbs,
            self.catalog.clone(),
            &self.sandbox,
            &self.clock,
            config,
        )
    }

    /// A product with one variant `code` at EUR 10.00, with `on_hand` units in stock.
    async fn stocked(&self, code: &str, on_hand: u32) {
        self.catalog
            .create_product(NewProduct {
                handle: Handle::parse(&code.to_ascii_lowercase()).unwrap(),
                title: Title::parse(&format!("Product {code}")).unwrap(),
                description: String::new(),
                category_ids: Vec::new(),
                variants: vec![NewVariant {
                    sku: sku(code),
                    title: Title::parse(code).unwrap(),
                    options: Vec::new(),
                    weight_grams: 100,
                    prices: vec![eur(UNIT_PRICE_MINOR)],
                }],
            })
            .await
            .unwrap();
        self.set_stock(code, on_hand).await;
    }

    async fn set_stock(&self, code: &str, on_hand: u32) {
        self.inventory
            .set_stock(sku(code), LocationId::DEFAULT, on_hand)
            .await
            .unwrap();
    }

    /// An anonymous cart ready for checkout: `lines`, an email, a German address, Ground.
    async fn cart(&self, lines: &[(&str, u32)]) -> (CartId, CartAccess) {
        let (priced, token) = self.carts.create_cart(Currency::Eur, None).await.unwrap();
        let id = priced.cart.id;
        let access = CartAccess::Token(token.expose().to_owned());
        for (code, n) in lines {
            self.carts
                .add_line(id, &access, sku(code), Quantity::new(*n).unwrap())
                .await
                .unwrap();
        }
        self.carts
            .set_email(id, &access, Email::parse("ada@example.com").unwrap())
            .await
            .unwrap();
        self.carts
            .set_shipping_address(id, &access, address())
            .await
            .unwrap();
        self.carts
            .choose_shipping_option(id, &access, self.ground)
            .await
            .unwrap();
        (id, access)
    }

    async fn checkout(
        &self,
        cart: CartId,
        access: &CartAccess,
        payment_method: &str,
    ) -> Result<Checkout, OrderError> {
        self.orders
            .checkout(request(cart, access, payment_method))
            .await
    }

    async fn staff_order(&self, id: OrderId) -> Order {
        self.orders.order(id, &OrderAccess::Staff).await.unwrap()
    }

    /// (on_hand, reserved) of `code`.
    async fn level(&self, code: &str) -> (u64, u64) {
        let summary = self.inventory.stock(sku(code)).await.unwrap();
        (summary.on_hand, summary.reserved)
    }

    async fn order_event_types(&self) -> Vec<String> {
        self.orders
            .events(None, EVENTS_PAGE_MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    /// A confirmed order of `n` units of `code` (stocked with `n` + 10).
    async fn confirmed(&self, code: &str, n: u32) -> Order {
        self.stocked(code, n + 10).await;
        let (cart, access) = self.cart(&[(code, n)]).await;
        let checkout = self.checkout(cart, &access, TOKENS.success).await.unwrap();
        assert_eq!(checkout.order.status, OrderStatus::Confirmed);
        checkout.order
    }
}

fn request(cart: CartId, access: &CartAccess, payment_method: &str) -> CheckoutRequest {
    CheckoutRequest {
        cart_id: cart,
        access: access.clone(),
        customer: None,
        payment_method: PaymentMethodToken::parse(payment_method).unwrap(),
    }
}

fn sku(code: &str) -> Sku {
    Sku::parse(code).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::Eur)
}

fn address() -> Address {
    Address::parse(AddressInput {
        name: "Ada Lovelace".into(),
        line1: "Unter den Linden 1".into(),
        line2: None,
        city: "Berlin".into(),
        postal_code: "10117".into(),
        region: None,
        country: "DE".into(),
        phone: None,
    })
    .unwrap()
}

/// The total of an order of `units` units: the units plus shipping (no tax rate is set).
fn total_of(units: i64) -> Money {
    eur(units * UNIT_PRICE_MINOR + SHIPPING_MINOR)
}

/// A fault hook that stops every saga right after `step`, as a crash would.
struct CrashAfter(SagaStep);

impl SagaFaults for CrashAfter {
    fn crash_after(&self, _: OrderId, step: SagaStep) -> bool {
        step == self.0
    }
}

fn crashing_after(step: SagaStep) -> OrdersConfig {
    OrdersConfig {
        faults: Some(Arc::new(CrashAfter(step))),
        ..OrdersConfig::default()
    }
}

/// Runs every future at once on the runtime's worker threads and returns their results in the
/// order given.
async fn all_at_once<T, F>(futures: Vec<F>) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (i, future) in futures.into_iter().enumerate() {
        set.spawn(async move { (i, future.await) });
    }
    let mut results: Vec<(usize, T)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        results.push(joined.unwrap());
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, result)| result).collect()
}
