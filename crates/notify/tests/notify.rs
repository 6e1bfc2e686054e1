//! Notifications tests, each on a fresh database: SQLite always, PostgreSQL when
//! TEST_DATABASE_URL is set. Events becoming emails (templates, dedup, the mailbox) are in
//! `mailbox`; delivery over SMTP to a sink written here, retries and permanent failures in
//! `smtp`; leases, racing senders and timeouts in `sending` — one test binary.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "notify/mailbox.rs"]
mod mailbox;
#[path = "notify/sending.rs"]
mod sending;
#[path = "notify/smtp.rs"]
mod smtp;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kassa_cart::{Address, AddressInput};
use kassa_events::{BusError, Consumer, Event, EventId};
use kassa_kernel::ids::{CartId, OrderId, ProductId, ShippingOptionId};
use kassa_kernel::{Clock, Currency, Email, ManualClock, Money, Quantity, Sku, Timestamp};
use kassa_notify::*;
use kassa_orders::{Order, OrderLine, OrderShipping, OrderStatus, OrderTotals, SagaStep};
use kassa_testkit::TestDb;
use serde_json::{json, Value};

const START_MS: i64 = 1_795_000_000_000;
const SHOP: &str = "Test Shop";
const SHOPPER: &str = "ada@example.com";

/// The orders the consumer can look up, and lookups that fail on demand.
#[derive(Default)]
struct FakeOrders {
    orders: Mutex<HashMap<OrderId, Order>>,
    /// The next this many lookups fail as if the orders district were down.
    failures: AtomicU32,
    calls: AtomicU32,
}

#[derive(Debug, thiserror::Error)]
#[error("orders are down")]
struct OrdersDown;

#[async_trait]
impl OrderLookup for FakeOrders {
    async fn order(&self, id: OrderId) -> Result<Option<Order>, LookupError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(LookupError::new(OrdersDown));
        }
        Ok(self.orders.lock().unwrap().get(&id).cloned())
    }
}

/// The district over a fresh database, its consumer with a fake order lookup, and the clock.
struct Fixture {
    store: NotifyStore,
    service: Arc<dyn NotificationService>,
    consumer: NotificationConsumer,
    orders: Arc<FakeOrders>,
    clock: ManualClock,
    _test: TestDb,
}

fn config() -> NotifyConfig {
    NotifyConfig {
        shop_name: SHOP.to_owned(),
        from: "shop@example.com".to_owned(),
        ..NotifyConfig::default()
    }
}

async fn fixture() -> Fixture {
    fixture_with(config()).await
}

async fn fixture_with(config: NotifyConfig) -> Fixture {
    let test = TestDb::new().await;
    let store = NotifyStore::new(test.district("notifications").await);
    store.migrate().await.unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    let orders = Arc::new(FakeOrders::default());
    let consumer = NotificationConsumer::new(
        store.clone(),
        orders.clone(),
        Arc::new(clock.clone()),
        &config,
    );
    Fixture {
        service: Arc::new(Notifications::new(store.clone())),
        store,
        consumer,
        orders,
        clock,
        _test: test,
    }
}

impl Fixture {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Makes `order` known to the lookup.
    fn add(&self, order: &Order) {
        self.orders
            .orders
            .lock()
            .unwrap()
            .insert(order.id, order.clone());
    }

    async fn deliver(&self, event: &Event) -> Result<(), BusError> {
        self.consumer.handle("orders", event).await
    }

    /// A sender through `mailer` with the fixture's clock and no jitter.
    fn sender(&self, mailer: Arc<dyn Mailer>, config: &NotifyConfig) -> Sender {
        Sender::new(
            self.store.clone(),
            mailer,
            Arc::new(self.clock.clone()),
            config,
        )
        .unwrap()
        .with_jitter(Arc::new(NoJitter))
    }

    /// Every message, oldest first.
    async fn messages(&self) -> Vec<Message> {
        let mut all = self.service.mailbox(None, MAILBOX_PAGE_MAX).await.unwrap();
        all.reverse();
        all
    }

    async fn only_message(&self) -> Message {
        let mut all = self.messages().await;
        assert_eq!(all.len(), 1, "{all:#?}");
        all.pop().unwrap()
    }

    async fn reload(&self, message: &Message) -> Message {
        self.service.message(message.id).await.unwrap().unwrap()
    }
}

/// One line of a test order: product title, variant title, units, unit price in minor units.
type LineSpec<'a> = (&'a str, &'a str, u32, i64);

/// A confirmed order of `lines` in `currency`, with the shipping and tax given in minor units.
fn order(currency: Currency, lines: &[LineSpec<'_>], shipping: i64, tax: i64) -> Order {
    let money = |minor: i64| Money::new(minor, currency);
    let lines: Vec<OrderLine> = lines
        .iter()
        .enumerate()
        .map(|(i, (product, variant, quantity, unit))| OrderLine {
            sku: Sku::parse(&format!("SKU-{i}")).unwrap(),
            product_id: ProductId::new(),
            product_title: (*product).to_owned(),
            variant_title: (*variant).to_owned(),
            quantity: Quantity::new(*quantity).unwrap(),
            unit_price: money(*unit),
            line_total: money(unit * i64::from(*quantity)),
            fulfilled_quantity: 0,
        })
        .collect();
    let subtotal: i64 = lines.iter().map(|l| l.line_total.amount_minor()).sum();
    let at = Timestamp::from_millis(START_MS);
    Order {
        id: OrderId::new(),
        cart_id: CartId::new(),
        customer_id: None,
        email: Email::parse(SHOPPER).unwrap(),
        currency,
        status: OrderStatus::Confirmed,
        close_reason: None,
        saga_step: SagaStep::Done,
        lines,
        shipping_address: address(),
        shipping: OrderShipping {
            option_id: ShippingOptionId::new(),
            name: "Standard".into(),
            amount: money(shipping),
        },
        tax_rate: None,
        totals: OrderTotals {
            subtotal: money(subtotal),
            shipping: money(shipping),
            tax: money(tax),
            total: money(subtotal + shipping + tax),
        },
        payment_id: None,
        captured: money(subtotal + shipping + tax),
        refunded: money(0),
        reservation_expires_at: None,
        fulfilments: Vec::new(),
        created_at: at,
        updated_at: at,
        confirmed_at: Some(at),
    }
}

/// The EUR order most tests use: 2 × EUR 12.50 and 1 × EUR 19.99, EUR 4.90 shipping, EUR 8.55
/// tax — EUR 58.44 in all.
fn eur_order() -> Order {
    order(
        Currency::Eur,
        &[("Mug", "Blue", 2, 1250), ("Poster", "A2", 1, 1999)],
        490,
        855,
    )
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

fn event(event_type: &str, order: &Order, data: Value) -> Event {
    Event {
        id: EventId::new(),
        event_type: event_type.to_owned(),
        version: 1,
        aggregate_id: order.id.to_string(),
        occurred_at: Timestamp::from_millis(START_MS),
        data,
        published_at: None,
    }
}

fn wire(money: Money) -> Value {
    json!({"amount_minor": money.amount_minor(), "currency": money.currency().code()})
}

/// `order.placed` as the orders district records it.
fn placed(order: &Order) -> Event {
    let lines: Vec<Value> = order
        .lines
        .iter()
        .map(|l| json!({"sku": l.sku.as_str(), "quantity": l.quantity.get(), "unit_price": wire(l.unit_price)}))
        .collect();
    event(
        "order.placed",
        order,
        json!({
            "order_id": order.id.to_string(),
            "cart_id": order.cart_id.to_string(),
            "customer_id": null,
            "email": order.email.as_str(),
            "lines": lines,
            "total": wire(order.totals.total),
        }),
    )
}

/// `order.fulfilled` (or `order.partially_fulfilled`) shipping `lines` (line index, units).
fn shipped(order: &Order, partial: bool, lines: &[(usize, u32)]) -> Event {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(i, n)| json!({"sku": order.lines[*i].sku.as_str(), "quantity": n}))
        .collect();
    let event_type = if partial {
        "order.partially_fulfilled"
    } else {
        "order.fulfilled"
    };
    event(
        event_type,
        order,
        json!({
            "order_id": order.id.to_string(),
            "fulfilment_id": "ful_0",
            "lines": lines,
            "carrier": "DHL",
            "tracking_number": "JJD0099",
        }),
    )
}

fn cancelled(order: &Order, confirmed: bool, refunded_minor: i64) -> Event {
    event(
        "order.cancelled",
        order,
        json!({
            "order_id": order.id.to_string(),
            "reason": "staff",
            "confirmed": confirmed,
            "refunded": wire(Money::new(refunded_minor, order.currency)),
        }),
    )
}

fn refunded(order: &Order, amount_minor: i64, total_minor: i64) -> Event {
    event(
        "order.refunded",
        order,
        json!({
            "order_id": order.id.to_string(),
            "refund_id": "re_0",
            "amount": wire(Money::new(amount_minor, order.currency)),
            "refunded": wire(Money::new(total_minor, order.currency)),
            "fully_refunded": false,
        }),
    )
}
