//! Payments service tests against the sandbox gateway, each on a fresh database: SQLite always,
//! PostgreSQL when TEST_DATABASE_URL is set. Authorization (every sandbox token, idempotency,
//! 3-D Secure) is in `authorize`, capture and void in `settle`, refunds in `refunds`, unknown
//! outcomes and taking over an interrupted call in `recovery`, keys, attempts and events in
//! `records` — one test binary.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "payments/authorize.rs"]
mod authorize;
#[path = "payments/records.rs"]
mod records;
#[path = "payments/recovery.rs"]
mod recovery;
#[path = "payments/refunds.rs"]
mod refunds;
#[path = "payments/settle.rs"]
mod settle;

use std::sync::Arc;

use kassa_kernel::{Currency, ManualClock, Money, Timestamp};
use kassa_payments::connectors::sandbox::{SandboxPayment, TOKENS};
use kassa_payments::store::PaymentStore;
use kassa_payments::*;
use kassa_testkit::TestDb;

const START_MS: i64 = 1_795_000_000_000;

/// The service (behind the trait object other districts hold), the sandbox it pays with (the
/// same books), the store for looking underneath, the clock, and the database kept alive.
struct Fixture {
    payments: Arc<dyn PaymentService>,
    sandbox: SandboxGateway,
    store: PaymentStore,
    clock: ManualClock,
    _db: TestDb,
}

async fn fixture() -> Fixture {
    fixture_with(SandboxConfig::default()).await
}

async fn fixture_with(config: SandboxConfig) -> Fixture {
    let sandbox = SandboxGateway::new(config);
    fixture_over(sandbox.clone(), sandbox).await
}

/// A fixture whose service talks to `gateway` (a wrapper around `sandbox` in some tests).
async fn fixture_over(gateway: impl PaymentGateway + 'static, sandbox: SandboxGateway) -> Fixture {
    let test = TestDb::new().await;
    let store = PaymentStore::new(test.district("payments").await);
    store.migrate().await.unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    let payments = Arc::new(Payments::new(
        store.clone(),
        Arc::new(gateway),
        Arc::new(clock.clone()),
    ));
    Fixture {
        payments,
        sandbox,
        store,
        clock,
        _db: test,
    }
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::Eur)
}

/// A fresh order reference, as orders would pass its id.
fn order() -> OrderRef {
    OrderRef::parse(format!("ord_{}", PaymentId::new().as_uuid().simple())).unwrap()
}

fn token(text: &str) -> PaymentMethodToken {
    PaymentMethodToken::parse(text).unwrap()
}

impl Fixture {
    async fn authorize(
        &self,
        order: &OrderRef,
        amount: Money,
        token_text: &str,
    ) -> Result<Payment, PaymentError> {
        self.payments
            .authorize(order.clone(), amount, token(token_text))
            .await
    }

    /// A payment of `amount` holding funds (`requires_capture`).
    async fn authorized(&self, amount: Money) -> Payment {
        let payment = self
            .authorize(&order(), amount, TOKENS.success)
            .await
            .unwrap();
        assert_eq!(payment.status(), PaymentStatus::RequiresCapture);
        payment
    }

    /// A payment of `amount` captured in full (`succeeded`).
    async fn captured(&self, amount: Money) -> Payment {
        let payment = self.authorized(amount).await;
        self.payments.capture(payment.id(), None).await.unwrap()
    }

    async fn reload(&self, payment: &Payment) -> Payment {
        self.payments.payment(payment.id()).await.unwrap()
    }

    /// The sandbox's own record of the payment.
    fn ledger(&self, payment: &Payment) -> SandboxPayment {
        self.sandbox.state(payment.gateway_ref().unwrap()).unwrap()
    }

    async fn event_types(&self) -> Vec<String> {
        self.payments
            .events(None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }
}
