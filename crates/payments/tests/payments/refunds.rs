//! Refunds: partial and multiple, never beyond what was captured — even when racing.

use super::*;
use kassa_kernel::DomainError;
use kassa_payments::connectors::sandbox::SandboxFault;

#[tokio::test]
async fn partial_and_multiple_refunds_add_up_to_the_captured_amount() {
    let f = fixture().await;
    let payment = f.captured(eur(1000)).await;

    let first = f.payments.refund(payment.id(), eur(300)).await.unwrap();
    let second = f.payments.refund(payment.id(), eur(200)).await.unwrap();
    assert_eq!(first.status, RefundStatus::Succeeded);
    assert_eq!(second.amount, eur(200));
    assert!(first.gateway_ref.is_some());
    assert_ne!(first.id, second.id);
    assert_eq!(f.reload(&payment).await.refunded(), eur(500));

    let err = f.payments.refund(payment.id(), eur(600)).await.unwrap_err();
    assert!(
        matches!(err, PaymentError::RefundExceedsCaptured { refundable, .. } if refundable == eur(500)),
        "{err:?}"
    );
    assert_eq!(err.problem_type().code, "refund_exceeds_captured");
    assert!(err.detail().contains("5.00 EUR"));

    f.payments.refund(payment.id(), eur(500)).await.unwrap();
    let err = f.payments.refund(payment.id(), eur(1)).await.unwrap_err();
    assert!(
        matches!(err, PaymentError::RefundExceedsCaptured { refundable, .. } if refundable == eur(0))
    );

    let payment = f.reload(&payment).await;
    assert_eq!(payment.refunded(), eur(1000));
    assert_eq!(payment.status(), PaymentStatus::Succeeded);
    assert_eq!(f.ledger(&payment).refunded, eur(1000));
    let refunds = f.payments.refunds(payment.id()).await.unwrap();
    assert_eq!(
        refunds.iter().map(|r| r.amount).collect::<Vec<_>>(),
        [eur(300), eur(200), eur(500)]
    );
}

#[tokio::test]
async fn refunds_of_a_partial_capture_stop_at_what_was_captured() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    let payment = f
        .payments
        .capture(payment.id(), Some(eur(600)))
        .await
        .unwrap();
    f.payments.refund(payment.id(), eur(400)).await.unwrap();
    let err = f.payments.refund(payment.id(), eur(201)).await.unwrap_err();
    assert!(
        matches!(err, PaymentError::RefundExceedsCaptured { refundable, .. } if refundable == eur(200))
    );
    f.payments.refund(payment.id(), eur(200)).await.unwrap();
    assert_eq!(f.ledger(&payment).refunded, eur(600));
}

#[tokio::test]
async fn refund_amounts_of_zero_or_less_or_in_another_currency_are_refused() {
    let f = fixture().await;
    let payment = f.captured(eur(1000)).await;
    for bad in [0, -10] {
        let err = f.payments.refund(payment.id(), eur(bad)).await.unwrap_err();
        assert_eq!(err.problem_type().code, "invalid_refund_amount");
    }
    let err = f
        .payments
        .refund(payment.id(), Money::new(100, Currency::Gbp))
        .await
        .unwrap_err();
    assert_eq!(err.problem_type().code, "currency_mismatch");
    assert!(f.payments.refunds(payment.id()).await.unwrap().is_empty());
    assert_eq!(f.sandbox.calls(Operation::Refund), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_refunds_never_exceed_the_captured_amount() {
    let f = fixture_with(SandboxConfig { latency_ms: 5 }).await;
    let payment = f.captured(eur(1000)).await;

    let calls: Vec<_> = (0..10)
        .map(|_| {
            let payments = f.payments.clone();
            let id = payment.id();
            tokio::spawn(async move { payments.refund(id, eur(150)).await })
        })
        .collect();
    let (mut succeeded, mut refused) = (0, 0);
    for call in calls {
        match call.await.unwrap() {
            Ok(refund) => {
                assert_eq!(refund.status, RefundStatus::Succeeded);
                succeeded += 1;
            }
            Err(PaymentError::RefundExceedsCaptured { .. }) => refused += 1,
            Err(err) => panic!("{err:?}"),
        }
    }

    assert_eq!((succeeded, refused), (6, 4));
    let payment = f.reload(&payment).await;
    assert_eq!(payment.refunded(), eur(900));
    let refunds = f.payments.refunds(payment.id()).await.unwrap();
    assert_eq!(refunds.len(), 6);
    assert!(refunds.iter().all(|r| r.status == RefundStatus::Succeeded));
    // The database and the gateway's books agree.
    let ledger = f.ledger(&payment);
    assert_eq!(ledger.refunded, eur(900));
    assert_eq!(ledger.captured, eur(1000));
    assert_eq!(f.sandbox.calls(Operation::Refund), 6);
}

#[tokio::test]
async fn a_refund_the_gateway_refuses_gives_its_amount_back() {
    let f = fixture().await;
    let payment = f.captured(eur(1000)).await;
    f.sandbox
        .inject_fault(Operation::Refund, SandboxFault::Refuse);

    let err = f.payments.refund(payment.id(), eur(400)).await.unwrap_err();

    let PaymentError::RefundFailed {
        refund_id, reason, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(reason.code, "refund_refused");
    assert_eq!(err.problem_type().code, "refund_failed");
    assert_eq!(f.reload(&payment).await.refunded(), eur(0));
    let refunds = f.payments.refunds(payment.id()).await.unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].id, *refund_id);
    assert_eq!(refunds[0].status, RefundStatus::Failed);
    assert_eq!(refunds[0].failure.as_ref(), Some(reason));
    // What was given back can be refunded.
    f.payments.refund(payment.id(), eur(1000)).await.unwrap();
    assert_eq!(f.ledger(&payment).refunded, eur(1000));
}

#[tokio::test]
async fn a_refund_the_gateway_could_not_take_gives_its_amount_back() {
    let f = fixture().await;
    let payment = f.captured(eur(1000)).await;
    f.sandbox
        .inject_fault(Operation::Refund, SandboxFault::Unavailable);

    let err = f.payments.refund(payment.id(), eur(400)).await.unwrap_err();

    assert!(
        matches!(err, PaymentError::GatewayUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(f.reload(&payment).await.refunded(), eur(0));
    let refunds = f.payments.refunds(payment.id()).await.unwrap();
    assert_eq!(refunds[0].status, RefundStatus::Failed);
    assert_eq!(refunds[0].failure.as_ref().unwrap().code, "not_performed");
    assert_eq!(f.ledger(&payment).refunded, eur(0));
}

#[tokio::test]
async fn a_refund_whose_outcome_is_unknown_stays_reserved_until_resolved() {
    let f = fixture().await;
    let payment = f.captured(eur(1000)).await;
    f.sandbox
        .inject_fault(Operation::Refund, SandboxFault::Timeout);

    let err = f.payments.refund(payment.id(), eur(700)).await.unwrap_err();

    let PaymentError::OutcomeUnknown {
        refund_id: Some(refund_id),
        ..
    } = err
    else {
        panic!("{err:?}");
    };
    // The gateway did refund; the database keeps the amount reserved meanwhile.
    assert_eq!(f.ledger(&payment).refunded, eur(700));
    assert_eq!(f.reload(&payment).await.refunded(), eur(700));
    let err = f.payments.refund(payment.id(), eur(400)).await.unwrap_err();
    assert!(
        matches!(err, PaymentError::RefundExceedsCaptured { refundable, .. } if refundable == eur(300))
    );

    let resolved = f.payments.resolve(payment.id()).await.unwrap();

    assert_eq!(resolved.refunded(), eur(700));
    let refunds = f.payments.refunds(payment.id()).await.unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].id, refund_id);
    assert_eq!(refunds[0].status, RefundStatus::Succeeded);
    assert_eq!(f.ledger(&payment).refunded, eur(700));
    let keys: Vec<_> = f
        .payments
        .attempts(payment.id())
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.operation == Operation::Refund)
        .map(|a| (a.idempotency_key, a.outcome))
        .collect();
    assert_eq!(
        keys,
        [
            (IdempotencyKey::refund(refund_id), AttemptOutcome::Unknown),
            (IdempotencyKey::refund(refund_id), AttemptOutcome::Succeeded),
        ]
    );
}
