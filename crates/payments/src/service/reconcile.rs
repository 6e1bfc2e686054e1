//! Reconciliation: the job that settles operations whose outcome is unknown, and the staff
//! report that compares kassa's payments with the gateway's books.
//!
//! The job ([`PaymentService::reconcile_pending`]) finds payments with a pending operation or a
//! pending refund that nobody is settling (the call timed out, or its caller's lease lapsed)
//! and resolves each: the same request with the same idempotency key again, so the gateway
//! answers with its first result instead of acting twice, and asks how a 3-D Secure challenge
//! ended. A payment whose gateway still gives no answer stays pending for the next pass.
//!
//! The report ([`PaymentService::reconciliation`]) reads the payments made in a time window and
//! asks the gateway for each ([`crate::gateway::PaymentGateway::inspect`]), several at once,
//! listing every payment whose status, amount, captured or refunded amount differ.

use futures_util::stream::{self, StreamExt};
use kassa_kernel::Timestamp;

use super::{PaymentService, Payments};
use crate::gateway::{GatewayErrorKind, GatewayPaymentView};
use crate::model::{Payment, PaymentId};
use crate::PaymentError;

/// Most payments one reconciliation report covers; the caller pages with `after` for more.
pub const REPORT_LIMIT_MAX: u32 = 200;
/// How many gateway reads a report has in flight at once.
const REPORT_CONCURRENCY: usize = 8;

/// What one pass of the reconciliation job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcilePass {
    /// Payments with something pending that nobody was settling.
    pub examined: usize,
    /// Of those, settled: nothing pending any more.
    pub settled: usize,
    /// Still pending: the gateway gave no answer, or another caller took it meanwhile.
    pub still_open: usize,
}

/// Money in flight or in doubt, as `/metrics` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unsettled {
    /// Payments with an authorization, capture or void whose outcome is not recorded.
    pub operations: u64,
    /// Refunds whose outcome is not recorded.
    pub refunds: u64,
}

/// One way a payment differs from the gateway's view of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    Status,
    Amount,
    Captured,
    Refunded,
    /// kassa has the payment's reference, the gateway does not know it.
    MissingAtGateway,
    /// An operation's outcome is still unknown (the reconciliation job is on it).
    OutcomeUnknown,
    /// The gateway could not be asked (unavailable, timed out).
    GatewayUnreachable,
}

impl Difference {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Amount => "amount",
            Self::Captured => "captured",
            Self::Refunded => "refunded",
            Self::MissingAtGateway => "missing_at_gateway",
            Self::OutcomeUnknown => "outcome_unknown",
            Self::GatewayUnreachable => "gateway_unreachable",
        }
    }
}

/// A payment that does not match the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub payment: Payment,
    /// The gateway's view, when it could be read.
    pub gateway: Option<GatewayPaymentView>,
    pub differences: Vec<Difference>,
}

/// The staff reconciliation report for payments made in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationReport {
    pub from: Timestamp,
    pub to: Timestamp,
    /// Payments compared (made in the window, within the page).
    pub examined: usize,
    /// Payments that never reached the gateway (no reference: not sent, declined before an
    /// intent existed, or canceled before authorization), so there is nothing to compare.
    pub not_at_gateway: usize,
    pub mismatches: Vec<Mismatch>,
    /// Where the next page starts, when the window holds more payments than the page.
    pub next: Option<(Timestamp, PaymentId)>,
}

impl Payments {
    pub(super) async fn reconcile_pass(&self, limit: u32) -> Result<ReconcilePass, PaymentError> {
        let ids = self.store.payments_to_reconcile(self.now(), limit).await?;
        let mut pass = ReconcilePass {
            examined: ids.len(),
            ..ReconcilePass::default()
        };
        for id in ids {
            match self.resolve(id).await {
                Ok(_) => pass.settled += 1,
                Err(err) if err.is_retryable() => {
                    tracing::info!(payment_id = %id, error = %err, "reconciliation: still open");
                    pass.still_open += 1;
                }
                Err(err) => {
                    tracing::warn!(payment_id = %id, error = %err, "reconciliation: cannot settle");
                    pass.still_open += 1;
                }
            }
        }
        Ok(pass)
    }

    pub(super) async fn report(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: Option<(Timestamp, PaymentId)>,
        limit: u32,
    ) -> Result<ReconciliationReport, PaymentError> {
        let limit = limit.clamp(1, REPORT_LIMIT_MAX);
        let mut payments = self
            .store
            .payments_created_between(from, to, after, limit + 1)
            .await?;
        let next = if payments.len() > limit as usize {
            payments.truncate(limit as usize);
            payments.last().map(|p| (p.created_at(), p.id()))
        } else {
            None
        };
        let examined = payments.len();
        let not_at_gateway = payments
            .iter()
            .filter(|p| p.gateway_ref().is_none() && p.pending().is_none())
            .count();
        let mut mismatches: Vec<Mismatch> = stream::iter(payments)
            .map(|payment| self.compare(payment))
            .buffer_unordered(REPORT_CONCURRENCY)
            .filter_map(|mismatch| async move { mismatch })
            .collect()
            .await;
        mismatches.sort_by_key(|m| (m.payment.created_at(), m.payment.id().to_string()));
        Ok(ReconciliationReport {
            from,
            to,
            examined,
            not_at_gateway,
            mismatches,
            next,
        })
    }

    async fn compare(&self, payment: Payment) -> Option<Mismatch> {
        let mismatch = |gateway, differences| {
            Some(Mismatch {
                payment: payment.clone(),
                gateway,
                differences,
            })
        };
        let Some(gateway_ref) = payment.gateway_ref() else {
            return match payment.pending() {
                Some(_) => mismatch(None, vec![Difference::OutcomeUnknown]),
                None => None,
            };
        };
        let view = match self.bounded(self.gateway.inspect(gateway_ref)).await {
            Ok(view) => view,
            Err(err) if err.kind == GatewayErrorKind::Invalid => {
                return mismatch(None, vec![Difference::MissingAtGateway]);
            }
            Err(_) => return mismatch(None, vec![Difference::GatewayUnreachable]),
        };
        let differences = differences(&payment, &view);
        if differences.is_empty() {
            None
        } else {
            mismatch(Some(view), differences)
        }
    }
}

/// How `payment` differs from the gateway's `view` of it. A payment with an operation in
/// flight is reported as such rather than by status (its status changes when the answer is
/// recorded).
pub fn differences(payment: &Payment, view: &GatewayPaymentView) -> Vec<Difference> {
    let mut found = Vec::new();
    if payment.pending().is_some() {
        found.push(Difference::OutcomeUnknown);
    } else if view.mapped != Some(payment.status()) {
        found.push(Difference::Status);
    }
    if payment.amount() != view.amount {
        found.push(Difference::Amount);
    }
    if payment.captured() != view.captured {
        found.push(Difference::Captured);
    }
    if payment.refunded() != view.refunded {
        found.push(Difference::Refunded);
    }
    found
}
