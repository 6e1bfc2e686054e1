//! [`Tx`], the write transaction every store uses, and the counters behind [`crate::Db::stats`].
//!
//! Stores only ever use a `Tx` as an executor (`&mut *tx`), commit it, roll it back or drop it,
//! so the same store code runs on both backends although the two do very different things
//! underneath: on PostgreSQL a `Tx` is a plain database transaction; on SQLite it is one command
//! of a group commit (see `writer.rs`).

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::exec::{Conn, Link};

/// One transaction: one per service call, short, never held across a network call.
///
/// Dereferences to its [`Conn`], so `&mut *tx` is where statements run. Dropping it without
/// [`Tx::commit`] rolls back everything it wrote, and nothing else.
#[derive(Debug)]
pub struct Tx {
    conn: Conn,
    /// Write transactions on PostgreSQL count their own commit; SQLite's writer counts batches.
    counters: Option<Arc<WriteCounters>>,
}

impl Tx {
    /// A PostgreSQL write transaction, or a SQLite write command.
    pub(crate) fn write(conn: Conn, counters: Option<Arc<WriteCounters>>) -> Tx {
        Tx { conn, counters }
    }

    /// A read transaction on the readers.
    pub(crate) fn read(conn: Conn) -> Tx {
        Tx {
            conn,
            counters: None,
        }
    }

    /// Makes the transaction's writes durable. Returns only once they are: on SQLite, once the
    /// `COMMIT` of the batch this transaction joined has succeeded. An error means the writes
    /// were not acknowledged — on SQLite the whole batch failed, and every member gets an error.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.conn.link {
            Link::PooledTx(tx) => {
                tx.commit().await?;
                if let Some(counters) = self.counters {
                    counters.record_commit(1);
                }
                Ok(())
            }
            Link::Write(command) => command.commit().await,
            Link::Read(read) => read.conn()?.batch("COMMIT"),
            Link::Pooled(_) => Ok(()),
        }
    }

    /// Undoes this transaction's writes. On SQLite only this transaction's: the batch it would
    /// have joined is untouched.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.conn.link {
            Link::PooledTx(tx) => tx.rollback().await,
            Link::Write(command) => command.rollback().await,
            Link::Read(read) => read.conn()?.batch("ROLLBACK"),
            Link::Pooled(_) => Ok(()),
        }
    }
}

impl Deref for Tx {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
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
