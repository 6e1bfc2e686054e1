//! [`Relay`]: publishes one outbox to a [`Bus`], in recording order, at least once.
//!
//! A pass takes the outbox's relay role ([`kassa_db::Db::try_exclusive`]), so one relay per
//! outbox publishes at a time across every node — which keeps events of an aggregate in order
//! on the bus. It reads unpublished events oldest first (a batch at a time), publishes each, and
//! marks them published — one write per batch — only after the bus accepted them; it stops at
//! the first failure (marking what went out before it), so nothing is published ahead of an
//! event still pending. A crash between the publishes and the mark publishes those events again
//! on the next pass (consumers skip them by id). Only committed events exist in the outbox,
//! so nothing is published before its transaction commits, and nothing of a rolled-back one.

use std::sync::Arc;

use kassa_db::{Db, DbError};
use kassa_kernel::{Clock, Timestamp};

use crate::{mark_published, unpublished, Bus, BusError, Event};

/// Events one pass reads at a time.
const PASS_BATCH: u32 = 100;

/// Test hook: asked after each publish whether to stop there as a crash would (before the
/// event is marked published).
pub trait RelayFaults: Send + Sync {
    fn crash_after_publish(&self, event: &Event) -> bool;
}

/// What a pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayPass {
    /// Events published and marked.
    pub published: usize,
    /// Another relay held the outbox's role; this pass did nothing.
    pub skipped: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("the outbox could not be read or marked")]
    Storage(#[from] DbError),
    #[error("publishing failed: {0}")]
    Bus(#[from] BusError),
    /// The fault hook stopped the pass after a publish, before the mark.
    #[error("the relay stopped after publishing {event_id}, before marking it (fault hook)")]
    Interrupted { event_id: String },
}

/// Publishes the outbox `table` of one district.
pub struct Relay {
    db: Db,
    table: &'static str,
    source: &'static str,
    bus: Arc<dyn Bus>,
    clock: Arc<dyn Clock>,
    faults: Option<Arc<dyn RelayFaults>>,
}

impl Relay {
    /// A relay for `table` in `db`, publishing as `source` (the district's name).
    pub fn new(
        db: Db,
        table: &'static str,
        source: &'static str,
        bus: Arc<dyn Bus>,
        clock: Arc<dyn Clock>,
    ) -> Relay {
        Relay {
            db,
            table,
            source,
            bus,
            clock,
            faults: None,
        }
    }

    pub fn with_faults(mut self, faults: Arc<dyn RelayFaults>) -> Relay {
        self.faults = Some(faults);
        self
    }

    /// The district this relay publishes for.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// When the oldest event this relay has not published yet happened (see
    /// [`crate::oldest_unpublished_at`]).
    pub async fn oldest_unpublished_at(&self) -> Result<Option<Timestamp>, DbError> {
        crate::oldest_unpublished_at(&self.db, self.table).await
    }

    /// Deletes up to `limit` events published before `before` (see [`crate::prune`]).
    pub async fn prune(&self, before: Timestamp, limit: u32) -> Result<u64, DbError> {
        crate::prune(&self.db, self.table, before, limit).await
    }

    /// Publishes every event pending now, unless another relay holds the outbox.
    pub async fn pass(&self) -> Result<RelayPass, RelayError> {
        let Some(role) = self
            .db
            .try_exclusive(&format!("relay:{}", self.table))
            .await?
        else {
            return Ok(RelayPass {
                published: 0,
                skipped: true,
            });
        };
        let result = self.publish_pending().await;
        let released = role.release().await;
        let published = result?;
        released?;
        Ok(RelayPass {
            published,
            skipped: false,
        })
    }

    async fn publish_pending(&self) -> Result<usize, RelayError> {
        let mut published = 0;
        loop {
            let events = unpublished(&self.db, self.table, PASS_BATCH).await?;
            if events.is_empty() {
                return Ok(published);
            }
            // Marked together after the batch: one write per batch, not per event. Those
            // published before a failure are marked before the pass gives up.
            let mut sent = Vec::with_capacity(events.len());
            let mut failure = None;
            for event in &events {
                if let Err(err) = self.bus.publish(self.source, event).await {
                    failure = Some(RelayError::Bus(err));
                    break;
                }
                if self
                    .faults
                    .as_ref()
                    .is_some_and(|faults| faults.crash_after_publish(event))
                {
                    // A crash writes nothing more: this batch stays unpublished.
                    return Err(RelayError::Interrupted {
                        event_id: event.id.to_string(),
                    });
                }
                sent.push(event.id);
            }
            mark_published(&self.db, self.table, &sent, self.clock.now()).await?;
            published += sent.len();
            if let Some(err) = failure {
                return Err(err);
            }
        }
    }
}
