//! What a payment leaves behind: an attempt per gateway call with its deterministic key, and an
//! event per change, committed with it.

use kassa_events::Event;
use serde_json::json;

use super::*;

#[tokio::test]
async fn every_gateway_call_carries_the_deterministic_key_of_its_payment_or_refund() {
    let f = fixture().await;
    let payment = f.captured(eur(1000)).await;
    let refund = f.payments.refund(payment.id(), eur(100)).await.unwrap();

    let attempts = f.payments.attempts(payment.id()).await.unwrap();

    let seen: Vec<_> = attempts
        .iter()
        .map(|a| (a.operation, a.idempotency_key.as_str().to_owned(), a.amount))
        .collect();
    assert_eq!(
        seen,
        [
            (
                Operation::Authorize,
                format!("kassa:{}:authorize", payment.id()),
                Some(eur(1000))
            ),
            (
                Operation::Capture,
                format!("kassa:{}:capture", payment.id()),
                Some(eur(1000))
            ),
            (
                Operation::Refund,
                format!("kassa:{}:refund", refund.id),
                Some(eur(100))
            ),
        ]
    );
    assert!(attempts
        .iter()
        .all(|a| a.outcome == AttemptOutcome::Succeeded && a.payment_id == payment.id()));
    assert_eq!(attempts[2].refund_id, Some(refund.id));
    // The same payment always produces the same keys.
    assert_eq!(
        attempts[0].idempotency_key,
        IdempotencyKey::authorize(payment.id().to_string().parse().unwrap())
    );
}

#[tokio::test]
async fn a_void_is_recorded_with_its_key() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    f.payments.void(payment.id()).await.unwrap();
    let attempts = f.payments.attempts(payment.id()).await.unwrap();
    assert_eq!(attempts[1].operation, Operation::Void);
    assert_eq!(
        attempts[1].idempotency_key,
        IdempotencyKey::void(payment.id())
    );
    assert_eq!(attempts[1].amount, None);
}

fn data(event: &Event) -> &serde_json::Value {
    &event.data
}

#[tokio::test]
async fn each_change_records_its_event() {
    let f = fixture().await;
    let order = order();
    let payment = f
        .authorize(&order, eur(1000), TOKENS.success)
        .await
        .unwrap();
    f.payments
        .capture(payment.id(), Some(eur(800)))
        .await
        .unwrap();
    let refund = f.payments.refund(payment.id(), eur(300)).await.unwrap();

    let events = f.payments.events(None, 100).await.unwrap();

    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["payment.authorized", "payment.captured", "payment.refunded"]
    );
    for event in &events {
        assert_eq!(event.version, 1);
        assert_eq!(event.aggregate_id, payment.id().to_string());
        assert_eq!(data(event)["payment_id"], payment.id().to_string());
        assert_eq!(data(event)["order_ref"], order.as_str());
        assert_eq!(event.occurred_at, Timestamp::from_millis(START_MS));
    }
    assert_eq!(
        data(&events[0])["amount"],
        json!({"amount_minor": 1000, "currency": "EUR"})
    );
    assert_eq!(data(&events[1])["amount"]["amount_minor"], 800);
    assert_eq!(data(&events[2])["refund_id"], refund.id.to_string());
    assert_eq!(data(&events[2])["amount"]["amount_minor"], 300);
    assert_eq!(data(&events[2])["refunded"]["amount_minor"], 300);

    let rest = f.payments.events(Some(events[0].id), 100).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].id, events[1].id);
    assert_eq!(f.payments.events(None, 1).await.unwrap().len(), 1);
}

#[tokio::test]
async fn declines_voids_and_3ds_record_their_events() {
    let f = fixture().await;
    let err = f
        .authorize(&order(), eur(500), TOKENS.insufficient_funds)
        .await
        .unwrap_err();
    assert!(matches!(err, PaymentError::Declined { .. }));
    let secure = f
        .authorize(&order(), eur(500), TOKENS.three_d_secure)
        .await
        .unwrap();
    f.payments.void(secure.id()).await.unwrap();

    let events = f.payments.events(None, 100).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "payment.declined",
            "payment.requires_action",
            "payment.voided"
        ]
    );
    assert_eq!(data(&events[0])["code"], "insufficient_funds");
    assert_eq!(
        data(&events[1])["redirect_url"],
        secure.next_action().unwrap().redirect_url.clone().unwrap()
    );
}

#[tokio::test]
async fn an_unknown_outcome_records_no_event_until_it_is_resolved() {
    let f = fixture().await;
    let order = order();
    let err = f
        .authorize(&order, eur(1000), TOKENS.timeout)
        .await
        .unwrap_err();
    assert!(f.event_types().await.is_empty());
    let PaymentError::OutcomeUnknown { payment_id, .. } = err else {
        panic!("{err:?}");
    };
    f.payments.resolve(payment_id).await.unwrap();
    assert_eq!(f.event_types().await, ["payment.authorized"]);
}

#[tokio::test]
async fn gateway_failures_record_payment_failed() {
    let f = fixture().await;
    f.authorize(&order(), eur(1000), TOKENS.unavailable)
        .await
        .unwrap_err();
    let payment = f.captured(eur(1000)).await;
    f.sandbox
        .inject_fault(Operation::Refund, connectors::sandbox::SandboxFault::Refuse);
    f.payments.refund(payment.id(), eur(10)).await.unwrap_err();

    let events = f.payments.events(None, 100).await.unwrap();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "payment.failed")
        .map(|e| (data(e)["operation"].clone(), data(e)["reason"].clone()))
        .collect();
    assert_eq!(
        failed,
        [
            (json!("authorize"), json!("unavailable")),
            (json!("refund"), json!("refund_refused")),
        ]
    );
}
