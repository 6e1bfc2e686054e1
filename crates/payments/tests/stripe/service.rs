//! The payments service over the Stripe connector and the fake Stripe, on a fresh database:
//! the connector plugs into the service unchanged, and an unknown outcome is resolved with the
//! same key without a second authorization.

use std::sync::Arc;
use std::time::Duration;

use kassa_payments::store::PaymentStore;
use kassa_payments::{
    AttemptOutcome, Operation, OrderRef, Payment, PaymentError, PaymentId, PaymentMethodToken,
    PaymentService, PaymentStatus, Payments, RefundStatus,
};
use kassa_testkit::TestDb;

use super::fake::{Script, PM_INSUFFICIENT_FUNDS, PM_VISA};
use super::{eur, setup_with, Setup};

pub struct Fixture {
    pub payments: Arc<dyn PaymentService>,
    pub stripe: Setup,
    _db: TestDb,
}

async fn fixture() -> Fixture {
    fixture_with(|payments| payments).await
}

/// The service over the connector and the fake Stripe, its settings changed by `change`.
pub async fn fixture_with(change: impl FnOnce(Payments) -> Payments) -> Fixture {
    let stripe = setup_with(|c| c.timeout = Duration::from_millis(500)).await;
    let test = TestDb::new().await;
    let store = PaymentStore::new(test.district("payments").await);
    store.migrate().await.unwrap();
    let payments = Arc::new(change(Payments::new(
        store,
        Arc::new(stripe.gateway.clone()),
        Arc::new(stripe.clock.clone()),
    )));
    Fixture {
        payments,
        stripe,
        _db: test,
    }
}

pub fn order() -> OrderRef {
    OrderRef::parse(format!("ord_{}", PaymentId::new().as_uuid().simple())).unwrap()
}

pub fn token(text: &str) -> PaymentMethodToken {
    PaymentMethodToken::parse(text).unwrap()
}

/// An authorization Stripe performed but whose answer never arrived: the payment stays
/// `processing`, its outcome unknown.
pub async fn timed_out_authorization(f: &Fixture, amount: i64) -> Payment {
    f.stripe
        .fake
        .script(Script::PerformThenHang(Duration::from_secs(3)));
    let order = order();
    let err = f
        .payments
        .authorize(order.clone(), eur(amount), token(PM_VISA))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PaymentError::OutcomeUnknown { .. }),
        "{err:?}"
    );
    let pending = f.payments.payment_for_order(&order).await.unwrap().unwrap();
    assert_eq!(pending.status(), PaymentStatus::Processing);
    pending
}

#[tokio::test]
async fn the_service_authorizes_captures_part_and_refunds_twice_through_stripe() {
    let f = fixture().await;
    let order = order();
    let payment = f
        .payments
        .authorize(order.clone(), eur(1000), token(PM_VISA))
        .await
        .unwrap();
    assert_eq!(payment.status(), PaymentStatus::RequiresCapture);
    assert_eq!(payment.gateway(), "stripe");
    let gateway_ref = payment.gateway_ref().unwrap().to_owned();
    assert_eq!(
        f.stripe.fake.intent(&gateway_ref)["metadata"]["order_id"],
        order.as_str()
    );

    let captured = f
        .payments
        .capture(payment.id(), Some(eur(600)))
        .await
        .unwrap();
    assert_eq!(
        (captured.status(), captured.captured()),
        (PaymentStatus::Succeeded, eur(600))
    );
    let first = f.payments.refund(payment.id(), eur(200)).await.unwrap();
    let second = f.payments.refund(payment.id(), eur(400)).await.unwrap();
    assert_eq!(
        (first.status, second.status),
        (RefundStatus::Succeeded, RefundStatus::Succeeded)
    );
    assert!(first
        .gateway_ref
        .as_deref()
        .is_some_and(|r| r.starts_with("re_")));
    assert!(matches!(
        f.payments.refund(payment.id(), eur(1)).await,
        Err(PaymentError::RefundExceedsCaptured { .. })
    ));
    assert_eq!(
        f.payments.payment(payment.id()).await.unwrap().refunded(),
        eur(600)
    );

    // Every call carried the key the service recorded with its attempt.
    let attempts = f.payments.attempts(payment.id()).await.unwrap();
    let posts: Vec<_> = f
        .stripe
        .fake
        .received()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(attempts.len(), posts.len());
    for (attempt, post) in attempts.iter().zip(&posts) {
        assert_eq!(
            post.header("idempotency-key"),
            Some(attempt.idempotency_key.as_str())
        );
        assert_eq!(attempt.outcome, AttemptOutcome::Succeeded);
    }
}

#[tokio::test]
async fn a_stripe_decline_fails_the_payment_with_its_code() {
    let f = fixture().await;
    let err = f
        .payments
        .authorize(order(), eur(1000), token(PM_INSUFFICIENT_FUNDS))
        .await
        .unwrap_err();
    let PaymentError::Declined {
        payment_id,
        decline,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(decline.code, "insufficient_funds");
    let payment = f.payments.payment(payment_id).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Failed);
}

#[tokio::test]
async fn an_authorization_that_timed_out_is_resolved_with_the_same_key_once() {
    let f = fixture().await;
    let pending = timed_out_authorization(&f, 1000).await;

    let resolved = f.payments.resolve(pending.id()).await.unwrap();
    assert_eq!(resolved.status(), PaymentStatus::RequiresCapture);
    assert_eq!(
        f.stripe.fake.intent_count(),
        1,
        "one authorization at Stripe"
    );
    let attempts = f.payments.attempts(pending.id()).await.unwrap();
    let outcomes: Vec<_> = attempts
        .iter()
        .filter(|a| a.operation == Operation::Authorize)
        .map(|a| a.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [AttemptOutcome::Unknown, AttemptOutcome::Succeeded]
    );
}
