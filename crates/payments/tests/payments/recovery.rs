//! Unknown outcomes: a gateway call that timed out, or whose caller died, is finished by
//! asking again with the same key — never by moving money a second time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use kassa_payments::connectors::sandbox::{SandboxFault, SandboxStatus};
use kassa_payments::gateway::{
    AuthorizeOutcome, AuthorizeRequest, GatewayError, GatewayPaymentStatus, RefundOutcome,
};

use super::*;

#[tokio::test]
async fn a_capture_whose_outcome_is_unknown_is_resolved_with_the_same_key() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    f.sandbox
        .inject_fault(Operation::Capture, SandboxFault::Timeout);

    let err = f
        .payments
        .capture(payment.id(), Some(eur(800)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PaymentError::OutcomeUnknown { .. }),
        "{err:?}"
    );
    let pending = f.reload(&payment).await;
    assert_eq!(pending.status(), PaymentStatus::RequiresCapture);
    assert_eq!(
        pending.pending(),
        Some(Pending::Capture { amount: eur(800) })
    );
    // The gateway did capture.
    assert_eq!(f.ledger(&payment).captured, eur(800));

    let resolved = f.payments.resolve(payment.id()).await.unwrap();

    assert_eq!(resolved.status(), PaymentStatus::Succeeded);
    assert_eq!(resolved.captured(), eur(800));
    assert!(resolved.pending().is_none());
    let attempts = f.payments.attempts(payment.id()).await.unwrap();
    let captures: Vec<_> = attempts
        .iter()
        .filter(|a| a.operation == Operation::Capture)
        .collect();
    assert_eq!(captures.len(), 2);
    assert!(captures.iter().all(
        |a| a.idempotency_key == IdempotencyKey::capture(payment.id())
            && a.amount == Some(eur(800))
    ));
}

#[tokio::test]
async fn a_void_after_an_unknown_capture_finds_it_captured_and_refuses() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    f.sandbox
        .inject_fault(Operation::Capture, SandboxFault::Timeout);
    f.payments.capture(payment.id(), None).await.unwrap_err();

    // Cancelling the order: the void first settles the capture in flight.
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
async fn an_outage_after_an_unknown_outcome_does_not_settle_it() {
    let f = fixture().await;
    let payment = f.authorized(eur(1000)).await;
    f.sandbox
        .inject_fault(Operation::Capture, SandboxFault::Timeout);
    f.payments.capture(payment.id(), None).await.unwrap_err();
    f.sandbox
        .inject_fault(Operation::Capture, SandboxFault::Unavailable);

    // The 503 is about the retry only; the first call did capture.
    let err = f.payments.resolve(payment.id()).await.unwrap_err();
    assert!(
        matches!(err, PaymentError::GatewayUnavailable { .. }),
        "{err:?}"
    );
    let still = f.reload(&payment).await;
    assert_eq!(
        still.pending(),
        Some(Pending::Capture { amount: eur(1000) })
    );

    let resolved = f.payments.resolve(payment.id()).await.unwrap();
    assert_eq!(resolved.status(), PaymentStatus::Succeeded);
    assert_eq!(resolved.captured(), eur(1000));
}

/// A gateway whose first authorization reaches the sandbox and then never answers, as if the
/// process calling it died mid-call.
struct HangsAfterFirstAuthorize {
    sandbox: SandboxGateway,
    hung: AtomicBool,
}

#[async_trait]
impl PaymentGateway for HangsAfterFirstAuthorize {
    fn name(&self) -> &'static str {
        self.sandbox.name()
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizeOutcome, GatewayError> {
        let outcome = self.sandbox.authorize(request).await;
        if !self.hung.swap(true, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        outcome
    }

    async fn capture(
        &self,
        gateway_ref: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), GatewayError> {
        self.sandbox.capture(gateway_ref, amount, key).await
    }

    async fn void(&self, gateway_ref: &str, key: &IdempotencyKey) -> Result<(), GatewayError> {
        self.sandbox.void(gateway_ref, key).await
    }

    async fn refund(
        &self,
        gateway_ref: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<RefundOutcome, GatewayError> {
        self.sandbox.refund(gateway_ref, amount, key).await
    }

    async fn retrieve(&self, gateway_ref: &str) -> Result<GatewayPaymentStatus, GatewayError> {
        self.sandbox.retrieve(gateway_ref).await
    }

    async fn inspect(
        &self,
        gateway_ref: &str,
    ) -> Result<kassa_payments::gateway::GatewayPaymentView, GatewayError> {
        self.sandbox.inspect(gateway_ref).await
    }
}

#[tokio::test]
async fn a_call_whose_caller_died_is_taken_over_after_its_lease_with_the_same_key() {
    let sandbox = SandboxGateway::new(SandboxConfig::default());
    let gateway = HangsAfterFirstAuthorize {
        sandbox: sandbox.clone(),
        hung: AtomicBool::new(false),
    };
    let f = fixture_over(gateway, sandbox).await;
    let order = order();
    let first = {
        let payments = f.payments.clone();
        let order = order.clone();
        tokio::spawn(async move {
            payments
                .authorize(order, eur(1000), token(TOKENS.success))
                .await
        })
    };
    while f.sandbox.calls(Operation::Authorize) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The caller dies after the gateway authorized, before anything was recorded.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    let payment = f.payments.payment_for_order(&order).await.unwrap().unwrap();
    assert_eq!(payment.status(), PaymentStatus::Processing);

    // While its lease lasts, nobody else calls the gateway about it.
    let err = f
        .authorize(&order, eur(1000), TOKENS.success)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PaymentError::OutcomeUnknown { .. }),
        "{err:?}"
    );
    assert_eq!(f.sandbox.calls(Operation::Authorize), 1);

    // Past the lease (twice the 30 s call timeout), the next caller takes over.
    f.clock.advance(Duration::from_secs(61));
    let resolved = f.payments.resolve(payment.id()).await.unwrap();

    assert_eq!(resolved.status(), PaymentStatus::RequiresCapture);
    assert_eq!(f.sandbox.authorizations_for(order.as_str()), 1);
    let attempts = f.payments.attempts(payment.id()).await.unwrap();
    let outcomes: Vec<_> = attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [AttemptOutcome::Unknown, AttemptOutcome::Succeeded]
    );
    assert!(attempts[0]
        .detail
        .as_deref()
        .unwrap()
        .starts_with("interrupted"));
    assert_eq!(attempts[0].amount, Some(eur(1000)));
    assert!(attempts
        .iter()
        .all(|a| a.idempotency_key == IdempotencyKey::authorize(payment.id())));
}

/// The reconciliation job's pass: a refund whose answer was lost and a capture whose answer was
/// lost are both settled with their keys; a second pass finds nothing left.
#[tokio::test]
async fn the_reconciliation_pass_settles_lost_refunds_and_captures_and_then_finds_nothing() {
    let f = fixture().await;
    let refunded = f.authorized(eur(1000)).await;
    f.payments.capture(refunded.id(), None).await.unwrap();
    f.sandbox
        .inject_fault(Operation::Refund, SandboxFault::Timeout);
    let err = f
        .payments
        .refund(refunded.id(), eur(400))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PaymentError::OutcomeUnknown { .. }),
        "{err:?}"
    );
    let captured = f.authorized(eur(700)).await;
    f.sandbox
        .inject_fault(Operation::Capture, SandboxFault::Timeout);
    f.payments.capture(captured.id(), None).await.unwrap_err();

    let unsettled = f.payments.unsettled().await.unwrap();
    assert_eq!((unsettled.operations, unsettled.refunds), (1, 1));

    let pass = f.payments.reconcile_pending(10).await.unwrap();

    assert_eq!(
        (pass.examined, pass.settled, pass.still_open),
        (2, 2, 0),
        "{pass:?}"
    );
    assert_eq!(f.payments.unsettled().await.unwrap(), Default::default());
    let refunds = f.payments.refunds(refunded.id()).await.unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].status, RefundStatus::Succeeded);
    assert_eq!(f.ledger(&refunded).refunded, eur(400), "refunded once");
    let captured = f.reload(&captured).await;
    assert_eq!(captured.status(), PaymentStatus::Succeeded);
    assert_eq!(f.ledger(&captured).captured, eur(700));
    let again = f.payments.reconcile_pending(10).await.unwrap();
    assert_eq!(again.examined, 0);
}
