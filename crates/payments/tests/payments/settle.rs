//! Capture and void, and the transitions they refuse.

use super::*;
use kassa_kernel::DomainError;
use kassa_payments::connectors::sandbox::{SandboxFault, SandboxStatus};

#[tokio::test]
async fn capturing_in_full_takes_the_authorized_amount() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    let captured = f.payments.capture(payment.id(), None).await.unwrap();

    assert_eq!(captured.status(), PaymentStatus::Succeeded);
    assert_eq!(captured.captured(), eur(1000));
    assert_eq!(captured.refunded(), eur(0));
    let ledger = f.ledger(&captured);
    assert_eq!(ledger.status, SandboxStatus::Captured);
    assert_eq!(ledger.captured, eur(1000));
}

#[tokio::test]
async fn capturing_part_takes_only_that_part() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    let captured = f
        .payments
        .capture(payment.id(), Some(eur(600)))
        .await
        .unwrap();

    assert_eq!(captured.status(), PaymentStatus::Succeeded);
    assert_eq!(captured.captured(), eur(600));
    assert_eq!(captured.amount(), eur(1000));
    assert_eq!(f.ledger(&captured).captured, eur(600));
}

#[tokio::test]
async fn the_same_capture_asked_again_returns_the_first_without_a_second_call() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    let first = f
        .payments
        .capture(payment.id(), Some(eur(600)))
        .await
        .unwrap();
    let again = f
        .payments
        .capture(payment.id(), Some(eur(600)))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(f.sandbox.calls(Operation::Capture), 1);

    let err = f.payments.capture(payment.id(), None).await.unwrap_err();
    assert!(
        matches!(err, PaymentError::IllegalTransition { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn capture_amounts_beyond_the_authorization_or_in_another_currency_are_refused() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    for bad in [0, -1, 1001] {
        let err = f
            .payments
            .capture(payment.id(), Some(eur(bad)))
            .await
            .unwrap_err();
        assert_eq!(err.problem_type().code, "invalid_capture_amount", "{bad}");
    }
    let err = f
        .payments
        .capture(payment.id(), Some(Money::new(1000, Currency::Usd)))
        .await
        .unwrap_err();
    assert_eq!(err.problem_type().code, "currency_mismatch");
    assert_eq!(
        f.reload(&payment).await.status(),
        PaymentStatus::RequiresCapture
    );
    assert_eq!(f.sandbox.calls(Operation::Capture), 0);
}

#[tokio::test]
async fn a_capture_the_gateway_could_not_take_leaves_the_payment_to_capture_again() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    f.sandbox
        .inject_fault(Operation::Capture, SandboxFault::Unavailable);
    let err = f.payments.capture(payment.id(), None).await.unwrap_err();
    assert!(
        matches!(err, PaymentError::GatewayUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(err.problem_type().code, "gateway_unavailable");
    let after = f.reload(&payment).await;
    assert_eq!(after.status(), PaymentStatus::RequiresCapture);
    assert!(after.pending().is_none());

    let captured = f.payments.capture(payment.id(), None).await.unwrap();
    assert_eq!(captured.status(), PaymentStatus::Succeeded);
}

#[tokio::test]
async fn voiding_before_capture_releases_the_authorization() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    let voided = f.payments.void(payment.id()).await.unwrap();

    assert_eq!(voided.status(), PaymentStatus::Canceled);
    assert!(f.ledger(&voided).is_voided());
    // Voiding again is harmless and does not call the gateway again.
    assert_eq!(f.payments.void(payment.id()).await.unwrap(), voided);
    assert_eq!(f.sandbox.calls(Operation::Void), 1);
}

#[tokio::test]
async fn voiding_a_payment_awaiting_3ds_cancels_it_at_the_gateway() {
    let f = fixture().await;
    let order = order();
    let payment = f
        .authorize(&order, eur(1000), TOKENS.three_d_secure)
        .await
        .unwrap();
    let voided = f.payments.void(payment.id()).await.unwrap();
    assert_eq!(voided.status(), PaymentStatus::Canceled);
    assert!(voided.next_action().is_none());
    assert!(f.ledger(&voided).is_voided());
    // The challenge is closed: the shopper can no longer authorize a cancelled order.
    assert!(f
        .sandbox
        .complete_challenge(payment.gateway_ref().unwrap(), true)
        .is_err());
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 0);
}

#[tokio::test]
async fn capture_after_void_is_an_illegal_transition() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    f.payments.void(payment.id()).await.unwrap();
    let err = f.payments.capture(payment.id(), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            PaymentError::IllegalTransition {
                status: PaymentStatus::Canceled,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.problem_type().code, "illegal_payment_transition");
    assert_eq!(f.sandbox.calls(Operation::Capture), 0);
}

#[tokio::test]
async fn refund_before_capture_is_an_illegal_transition() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    let err = f.payments.refund(payment.id(), eur(100)).await.unwrap_err();
    assert!(
        matches!(
            err,
            PaymentError::IllegalTransition {
                status: PaymentStatus::RequiresCapture,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(f.payments.refunds(payment.id()).await.unwrap().is_empty());
    assert_eq!(f.sandbox.calls(Operation::Refund), 0);
}

#[tokio::test]
async fn void_after_capture_is_an_illegal_transition() {
    let f = fixture().await;
    let payment = f.captured(eur(1000)).await;
    let err = f.payments.void(payment.id()).await.unwrap_err();
    assert!(
        matches!(
            err,
            PaymentError::IllegalTransition {
                status: PaymentStatus::Succeeded,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(f.ledger(&payment).status, SandboxStatus::Captured);
    assert_eq!(f.sandbox.calls(Operation::Void), 0);
}

#[tokio::test]
async fn a_declined_payment_can_be_neither_captured_nor_voided() {
    let f = fixture().await;
    let err = f
        .authorize(&order(), eur(1000), TOKENS.decline)
        .await
        .unwrap_err();
    let PaymentError::Declined { payment_id, .. } = err else {
        panic!("{err:?}");
    };
    for err in [
        f.payments.capture(payment_id, None).await.unwrap_err(),
        f.payments.void(payment_id).await.unwrap_err(),
        f.payments.refund(payment_id, eur(1)).await.unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                PaymentError::IllegalTransition {
                    status: PaymentStatus::Failed,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn operations_on_an_unknown_payment_are_not_found() {
    let f = fixture().await;
    let id = PaymentId::new();
    let errors = [
        f.payments.payment(id).await.unwrap_err(),
        f.payments.capture(id, None).await.unwrap_err(),
        f.payments.void(id).await.unwrap_err(),
        f.payments.refund(id, eur(1)).await.unwrap_err(),
        f.payments.complete_action(id).await.unwrap_err(),
        f.payments.resolve(id).await.unwrap_err(),
        f.payments.refunds(id).await.unwrap_err(),
        f.payments.attempts(id).await.unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, PaymentError::PaymentNotFound(found) if found == id));
        assert_eq!(err.problem_type().code, "payment_not_found");
    }
    assert_eq!(f.payments.payment_for_order(&order()).await.unwrap(), None);
}
