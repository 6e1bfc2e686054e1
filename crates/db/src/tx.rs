//! [`Tx`], the write transaction every store uses, and the counters behind [`crate::Db::stats`].
//!
//! Stores only ever use a `Tx` as an executor (`&mut *tx`), commit it, roll it back or drop it,
//! so the same store code runs on both backends although the two do very different things
//! underneath: on PostgreSQL a `Tx` is a plain database transaction; on SQLite it is one command
//! of a group commit (see `writer.rs`).

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::{Any, AnyConnection};

use crate::writer::Command;

/// One write transaction: one per service call, short, never held across a network call.
///
/// Dereferences to the connection, so `&mut *tx` is an executor. Dropping it without
/// [`Tx::commit`] rolls back everything it wrote, and nothing else.
pub struct Tx {
    kind: Kind,
}

enum Kind {
    /// PostgreSQL: a database transaction on a pooled connection, committed on its own.
    Pooled {
        tx: sqlx::Transaction<'static, Any>,
        counters: Arc<WriteCounters>,
    },
    /// SQLite: a savepoint inside the writer's current batch; holds the writer until it ends.
    Grouped(Command),
}

impl Tx {
    pub(crate) fn pooled(tx: sqlx::Transaction<'static, Any>, counters: Arc<WriteCounters>) -> Tx {
        Tx {
            kind: Kind::Pooled { tx, counters },
        }
    }

    pub(crate) fn grouped(command: Command) -> Tx {
        Tx {
            kind: Kind::Grouped(command),
        }
    }

    /// Makes the transaction's writes durable. Returns only once they are: on SQLite, once the
    /// `COMMIT` of the batch this transaction joined has succeeded. An error means the writes
    /// were not acknowledged — on SQLite the whole batch failed, and every member gets an error.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.kind {
            Kind::Pooled { tx, counters } => {
                tx.commit().await?;
                counters.record_commit(1);
                Ok(())
            }
            Kind::Grouped(command) => command.commit().await,
        }
    }

    /// Undoes this transaction's writes. On SQLite only this transaction's: the batch it would
    /// have joined is untouched.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.kind {
            Kind::Pooled { tx, .. } => tx.rollback().await,
            Kind::Grouped(command) => command.rollback().await,
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match &self.kind {
            Kind::Pooled { tx, .. } => tx,
            Kind::Grouped(command) => command,
        }
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.kind {
            Kind::Pooled { tx, .. } => tx,
            Kind::Grouped(command) => command,
        }
    }
}

/// What a [`crate::Db`]'s write path has done since it was opened, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Write transactions whose commit succeeded (acknowledged).
    pub transactions_committed: u64,
    /// Database commits that made them durable: one per transaction on PostgreSQL, one per
    /// batch on SQLite. Each is one fsync, so the ratio of the two is what group commit saves.
    pub commits: u64,
    /// Write transactions waiting for the SQLite writer right now (at most
    /// [`crate::PoolSettings::write_queue_max`]); always 0 on PostgreSQL.
    pub waiting: usize,
}

/// The shared counters behind [`WriteStats`].
#[derive(Debug, Default)]
pub(crate) struct WriteCounters {
    transactions_committed: AtomicU64,
    commits: AtomicU64,
}

impl WriteCounters {
    /// Records one database commit that made `transactions` write transactions durable.
    pub(crate) fn record_commit(&self, transactions: usize) {
        let transactions = u64::try_from(transactions).unwrap_or(u64::MAX);
        self.transactions_committed
            .fetch_add(transactions, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, waiting: usize) -> WriteStats {
        WriteStats {
            transactions_committed: self.transactions_committed.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            waiting,
        }
    }
}
