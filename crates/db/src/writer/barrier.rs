//! [`ReadBarrier`]: how the readers keep from running ahead of what a write transaction saw.

use std::sync::PoisonError;
use std::time::Duration;

use super::OutcomeReceiver;

/// Keeps the readers from running ahead of a batch that a command ended without commit may
/// have seen into.
///
/// Inside the writer, a command sees the writes of the batch-mates before it, which readers
/// see only after the batch's `COMMIT`. A command that commits is answered after that commit,
/// so its caller never notices; a command that rolls back is answered after it too
/// (`roll_back`). But a `Tx` that is dropped — typically after a statement found a batch-mate's
/// row in its way (`ON CONFLICT DO NOTHING`, a unique violation) — returns at once, and its
/// caller's next step is to read that row through a reader. So the drop raises this barrier,
/// and every reader connection handed out waits for the batch's outcome first (a few
/// milliseconds: the next holder of the writer commits the batch first thing).
#[derive(Debug, Default)]
pub(crate) struct ReadBarrier {
    /// The outcome of the batch readers must wait for, if it may still be pending. Only one
    /// batch is ever pending, so a newer one replaces an older one.
    pending: std::sync::Mutex<Option<OutcomeReceiver>>,
}

impl ReadBarrier {
    pub(super) fn raise(&self, outcome: OutcomeReceiver) {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
    }

    /// Waits (at most `bound`) until the batch behind the barrier, if any, has an outcome.
    /// Committed or failed makes no difference here: either way readers now see what stays.
    pub(crate) async fn wait(&self, bound: Duration) {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(mut outcome) = pending else {
            return;
        };
        let known = tokio::time::timeout(bound, async move {
            outcome.wait_for(Option::is_some).await.is_ok()
        })
        .await;
        if known.unwrap_or(false) {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.as_ref().is_some_and(|rx| rx.borrow().is_some()) {
                *pending = None;
            }
        }
    }
}
