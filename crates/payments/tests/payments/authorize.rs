//! Authorization: every sandbox token's path, one authorization per order however often (and
//! however concurrently) it is asked, and 3-D Secure.

use super::*;
use kassa_kernel::DomainError;
use kassa_payments::connectors::sandbox::SandboxStatus;

#[tokio::test]
async fn the_success_token_holds_the_funds_and_awaits_capture() {
    let f = fixture().await;
    let order = order();
    let payment = f
        .authorize(&order, eur(1000), TOKENS.success)
        .await
        .unwrap();

    assert_eq!(payment.status(), PaymentStatus::RequiresCapture);
    assert_eq!(payment.order_ref(), &order);
    assert_eq!(payment.amount(), eur(1000));
    assert_eq!(payment.captured(), eur(0));
    assert_eq!(payment.gateway(), "sandbox");
    assert!(payment.pending().is_none() && payment.decline().is_none());
    let ledger = f.ledger(&payment);
    assert_eq!(ledger.status, SandboxStatus::Authorized);
    assert_eq!(ledger.amount, eur(1000));
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 1);
    assert_eq!(f.reload(&payment).await, payment);
    assert_eq!(
        f.payments.payment_for_order(&order).await.unwrap(),
        Some(payment)
    );
}

#[tokio::test]
async fn the_decline_token_is_declined_with_generic_decline() {
    let f = fixture().await;
    let order = order();
    let err = f
        .authorize(&order, eur(1000), TOKENS.decline)
        .await
        .unwrap_err();

    let PaymentError::Declined {
        payment_id,
        decline,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(decline.code, "generic_decline");
    assert_eq!(err.problem_type().code, "payment_declined");
    assert!(err.detail().contains("generic_decline"));
    let payment = f.payments.payment(*payment_id).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Failed);
    assert_eq!(payment.decline(), Some(decline));
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 0);
}

#[tokio::test]
async fn the_insufficient_funds_token_is_declined_with_insufficient_funds() {
    let f = fixture().await;
    let err = f
        .authorize(&order(), eur(1000), TOKENS.insufficient_funds)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PaymentError::Declined { decline, .. } if decline.code == "insufficient_funds"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unknown_token_is_declined_with_unknown_payment_method() {
    let f = fixture().await;
    let err = f
        .authorize(&order(), eur(1000), "pm_card_visa")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PaymentError::Declined { decline, .. } if decline.code == "unknown_payment_method"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_declined_order_stays_declined_without_asking_the_gateway_again() {
    let f = fixture().await;
    let order = order();
    f.authorize(&order, eur(1000), TOKENS.decline)
        .await
        .unwrap_err();
    // Even with a card that would work: the order's one authorization key is spent.
    let err = f
        .authorize(&order, eur(1000), TOKENS.success)
        .await
        .unwrap_err();
    assert!(matches!(err, PaymentError::Declined { .. }), "{err:?}");
    assert_eq!(f.sandbox.calls(Operation::Authorize), 1);
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 0);
}

#[tokio::test]
async fn the_3ds_token_requires_action_with_a_challenge_url() {
    let f = fixture().await;
    let order = order();
    let payment = f
        .authorize(&order, eur(1000), TOKENS.three_d_secure)
        .await
        .unwrap();

    assert_eq!(payment.status(), PaymentStatus::RequiresAction);
    let gateway_ref = payment.gateway_ref().unwrap();
    assert_eq!(
        payment.next_action().unwrap().redirect_url,
        Some(format!("/v1/sandbox/challenges/{gateway_ref}"))
    );
    assert_eq!(f.ledger(&payment).status, SandboxStatus::RequiresAction);
    // Nothing is held until the shopper passes the challenge.
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 0);
}

#[tokio::test]
async fn a_passed_3ds_challenge_authorizes_the_payment() {
    let f = fixture().await;
    let order = order();
    let payment = f
        .authorize(&order, eur(1000), TOKENS.three_d_secure)
        .await
        .unwrap();
    // Asking before the shopper answered changes nothing.
    let waiting = f.payments.complete_action(payment.id()).await.unwrap();
    assert_eq!(waiting.status(), PaymentStatus::RequiresAction);

    let challenge = f
        .sandbox
        .complete_challenge(payment.gateway_ref().unwrap(), true)
        .unwrap();
    assert_eq!(challenge.order_ref, order.as_str());
    let done = f.payments.complete_action(payment.id()).await.unwrap();

    assert_eq!(done.status(), PaymentStatus::RequiresCapture);
    assert!(done.next_action().is_none());
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 1);
    // Asking again returns the same answer.
    assert_eq!(
        f.payments.complete_action(payment.id()).await.unwrap(),
        done
    );
    let captured = f.payments.capture(payment.id(), None).await.unwrap();
    assert_eq!(captured.status(), PaymentStatus::Succeeded);
}

#[tokio::test]
async fn a_failed_3ds_challenge_declines_the_payment() {
    let f = fixture().await;
    let payment = f
        .authorize(&order(), eur(1000), TOKENS.three_d_secure)
        .await
        .unwrap();
    f.sandbox
        .complete_challenge(payment.gateway_ref().unwrap(), false)
        .unwrap();

    let err = f.payments.complete_action(payment.id()).await.unwrap_err();
    assert!(
        matches!(&err, PaymentError::Declined { decline, .. } if decline.code == "authentication_failed"),
        "{err:?}"
    );
    let payment = f.reload(&payment).await;
    assert_eq!(payment.status(), PaymentStatus::Failed);
    assert!(payment.next_action().is_none());
    let err = f.payments.complete_action(payment.id()).await.unwrap_err();
    assert!(matches!(err, PaymentError::Declined { .. }));
}

#[tokio::test]
async fn resolve_learns_how_a_3ds_challenge_ended() {
    let f = fixture().await;
    let payment = f
        .authorize(&order(), eur(1000), TOKENS.three_d_secure)
        .await
        .unwrap();
    f.sandbox
        .complete_challenge(payment.gateway_ref().unwrap(), true)
        .unwrap();
    let resolved = f.payments.resolve(payment.id()).await.unwrap();
    assert_eq!(resolved.status(), PaymentStatus::RequiresCapture);
}

#[tokio::test]
async fn the_timeout_token_leaves_the_payment_processing_until_resolved_without_a_second_authorization(
) {
    let f = fixture().await;
    let order = order();
    let err = f
        .authorize(&order, eur(1000), TOKENS.timeout)
        .await
        .unwrap_err();

    let PaymentError::OutcomeUnknown { payment_id, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(err.problem_type().code, "payment_outcome_unknown");
    let payment = f.payments.payment(payment_id).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Processing);
    // The sandbox did authorize: the realistic unknown outcome.
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 1);
    let attempts = f.payments.attempts(payment_id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Unknown);

    let resolved = f.payments.resolve(payment_id).await.unwrap();

    assert_eq!(resolved.status(), PaymentStatus::RequiresCapture);
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 1);
    let attempts = f.payments.attempts(payment_id).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].outcome, AttemptOutcome::Succeeded);
    assert_eq!(attempts[0].idempotency_key, attempts[1].idempotency_key);
}

#[tokio::test]
async fn authorizing_again_after_a_timeout_continues_with_the_same_key() {
    let f = fixture().await;
    let order = order();
    f.authorize(&order, eur(1000), TOKENS.timeout)
        .await
        .unwrap_err();
    // The retry names another token; the payment continues with the one it was created with.
    let payment = f
        .authorize(&order, eur(1000), TOKENS.decline)
        .await
        .unwrap();
    assert_eq!(payment.status(), PaymentStatus::RequiresCapture);
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 1);
}

#[tokio::test]
async fn the_5xx_token_is_unavailable_records_nothing_and_can_be_voided() {
    let f = fixture().await;
    let order = order();
    let err = f
        .authorize(&order, eur(1000), TOKENS.unavailable)
        .await
        .unwrap_err();

    let PaymentError::GatewayUnavailable { payment_id, .. } = err else {
        panic!("{err:?}");
    };
    assert!(err.is_retryable());
    let payment = f.payments.payment(payment_id).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::RequiresPaymentMethod);
    assert!(f.sandbox.payments_for(order.as_str()).is_empty());
    // Retrying sends the same key again, and meets the same outage.
    let again = f
        .authorize(&order, eur(1000), TOKENS.unavailable)
        .await
        .unwrap_err();
    assert!(matches!(again, PaymentError::GatewayUnavailable { .. }));
    assert_eq!(f.sandbox.calls(Operation::Authorize), 2);

    let voided = f.payments.void(payment_id).await.unwrap();
    assert_eq!(voided.status(), PaymentStatus::Canceled);
    assert_eq!(f.sandbox.calls(Operation::Void), 0);
}

#[tokio::test]
async fn a_payment_not_authorized_because_of_an_outage_is_authorized_on_retry() {
    let f = fixture().await;
    let order = order();
    f.sandbox.inject_fault(
        Operation::Authorize,
        connectors::sandbox::SandboxFault::Unavailable,
    );
    f.authorize(&order, eur(1000), TOKENS.success)
        .await
        .unwrap_err();
    let payment = f
        .authorize(&order, eur(1000), TOKENS.success)
        .await
        .unwrap();
    assert_eq!(payment.status(), PaymentStatus::RequiresCapture);
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 1);
}

#[tokio::test]
async fn authorizing_an_order_twice_returns_the_first_payment() {
    let f = fixture().await;
    let order = order();
    let first = f
        .authorize(&order, eur(1000), TOKENS.success)
        .await
        .unwrap();
    let second = f
        .authorize(&order, eur(1000), TOKENS.success)
        .await
        .unwrap();

    assert_eq!(first, second);
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 1);
    assert_eq!(f.sandbox.calls(Operation::Authorize), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_authorizations_of_one_order_authorize_once() {
    let f = fixture_with(SandboxConfig { latency_ms: 5 }).await;
    let order = order();
    let calls = (0..20).map(|_| {
        let payments = f.payments.clone();
        let order = order.clone();
        tokio::spawn(async move {
            payments
                .authorize(order, eur(1000), token(TOKENS.success))
                .await
        })
    });
    let mut authorized = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        match call.await.unwrap() {
            Ok(payment) => authorized.push(payment),
            // A caller that found another one talking to the gateway is told to retry.
            Err(PaymentError::OutcomeUnknown { .. }) => {}
            Err(err) => panic!("{err:?}"),
        }
    }

    assert!(!authorized.is_empty());
    let payment = f
        .authorize(&order, eur(1000), TOKENS.success)
        .await
        .unwrap();
    assert!(authorized.iter().all(|p| p.id() == payment.id()));
    assert_eq!(payment.status(), PaymentStatus::RequiresCapture);
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 1);
    assert_eq!(f.sandbox.payments_for(order.as_str()).len(), 1);
}

#[tokio::test]
async fn another_amount_for_an_order_that_has_a_payment_is_refused() {
    let f = fixture().await;
    let order = order();
    let payment = f
        .authorize(&order, eur(1000), TOKENS.success)
        .await
        .unwrap();
    let err = f
        .authorize(&order, eur(999), TOKENS.success)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PaymentError::AmountMismatch { payment_id, .. } if *payment_id == payment.id()),
        "{err:?}"
    );
    assert_eq!(err.problem_type().code, "payment_amount_mismatch");
    let err = f
        .authorize(&order, Money::new(1000, Currency::Usd), TOKENS.success)
        .await
        .unwrap_err();
    assert!(matches!(err, PaymentError::AmountMismatch { .. }));
}

#[tokio::test]
async fn an_amount_of_zero_or_less_is_refused_before_anything_is_stored() {
    let f = fixture().await;
    let order = order();
    for minor in [0, -100] {
        let err = f
            .authorize(&order, eur(minor), TOKENS.success)
            .await
            .unwrap_err();
        assert!(matches!(err, PaymentError::InvalidPaymentAmount { .. }));
        assert_eq!(err.problem_type().code, "invalid_payment_amount");
    }
    assert_eq!(f.payments.payment_for_order(&order).await.unwrap(), None);
}

#[tokio::test]
async fn the_payment_method_token_is_erased_once_the_authorization_has_an_outcome() {
    let f = fixture().await;
    let order = order();
    let err = f
        .authorize(&order, eur(1000), TOKENS.timeout)
        .await
        .unwrap_err();
    let PaymentError::OutcomeUnknown { payment_id, .. } = err else {
        panic!("{err:?}");
    };
    let kept = f.store.payment_method_token(payment_id).await.unwrap();
    assert_eq!(kept.unwrap().expose(), TOKENS.timeout);

    f.payments.resolve(payment_id).await.unwrap();
    assert!(f
        .store
        .payment_method_token(payment_id)
        .await
        .unwrap()
        .is_none());
}
