//! Group commit for SQLite: many write transactions, one `COMMIT`, one fsync.
//!
//! SQLite has one writer, and with `synchronous = FULL` every `COMMIT` waits for an fsync, so a
//! writer committing each transaction on its own is bound by the disk's flush latency (a few
//! hundred commits a second), whatever the CPU. Instead the one writer connection keeps an
//! *outer* transaction (`BEGIN IMMEDIATE`) open while commands arrive, and runs each write
//! transaction — each [`crate::Tx`] — as a *command* inside it:
//!
//! 1. [`SqliteWriter::begin`] takes the writer (queued in arrival order, at most
//!    `write_queue_max` waiting), opens the outer transaction if none is open, then a
//!    `SAVEPOINT` for the command. The command owns the connection until it ends.
//! 2. Commit `RELEASE`s the savepoint: the command's writes become part of the open *batch*,
//!    and the writer passes to the next command. Rollback (or dropping the `Tx`) does
//!    `ROLLBACK TO` and `RELEASE` instead, so batch-mates keep their writes. A failed statement
//!    (a constraint) only ever undoes itself, so it never reaches other commands either.
//! 3. The batch is committed by the command that finds nobody waiting for the writer, or that
//!    fills it to `group_commit_max`. Every member's `commit()` returns only after that `COMMIT`
//!    succeeded, so a 2xx still means fsync'd (DESIGN promise 4), and a write is visible to the
//!    readers once `commit()` returns. If the `COMMIT` fails, every member gets the error:
//!    none was acknowledged.
//! 4. Nobody waits forever for someone else. Queued commands may be cancelled, so "the next one
//!    will commit" is never relied upon: a command that gives up waiting for the writer, leaving
//!    nobody queued, starts a task that ends the outer transaction; and a member whose batch has
//!    not been committed within [`FLUSH_WAIT`] takes the writer itself (when it is next free)
//!    and commits the batch.
//!
//! One thing a command can tell: it sees the writes of the batch-mates before it, which the
//! readers see only once the batch commits. A command that commits is answered after that
//! commit anyway; one that rolls back commits the batch before it is answered; and one whose
//! `Tx` is dropped (it cannot wait) makes the readers wait for the batch ([`ReadBarrier`]). So,
//! as before, whatever a write transaction saw is visible to its caller's next read — the
//! "insert, conflict, end, read the winner" pattern of the stores depends on it.
//!
//! Every change of the writer's state (`BEGIN`, `SAVEPOINT`, `RELEASE`, `COMMIT`, …) is a
//! synchronous call on the writer's connection (`lite.rs`), made together with the state change
//! that records it, so a caller cancelled while waiting (a request timing out) cannot leave a
//! statement executed that the state does not record. The `COMMIT`'s fsync blocks the thread
//! that runs it; there is one per batch, and the writer is held throughout anyway. A `Tx` dropped without commit cannot
//! await its `ROLLBACK TO`; it leaves `savepoint_open` set, and whoever takes the writer next
//! rolls the savepoint back before doing anything else.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex, OwnedMutexGuard};

use crate::lite::LiteConn;
use crate::tx::WriteCounters;
use crate::{DbError, PoolSettings};

mod barrier;
mod command;

pub(crate) use barrier::ReadBarrier;
pub(crate) use command::Command;

/// How long a member of a batch waits for someone else to commit it before queueing for the
/// writer to commit it itself. A few milliseconds is many commands' worth of time (a command
/// takes tens to hundreds of microseconds), so under load batches still fill up, while a member
/// whose successors were all cancelled gets its answer after a few milliseconds more at most.
const FLUSH_WAIT: Duration = Duration::from_millis(5);

/// The savepoint of the command holding the writer. Commands never nest, so one name does.
const SAVEPOINT: &str = "SAVEPOINT kassa_command";
const RELEASE: &str = "RELEASE kassa_command";
const ROLLBACK_TO: &str = "ROLLBACK TO kassa_command";

/// What a batch's members learn: `Ok` once its `COMMIT` succeeded, or the error that lost it.
type Outcome = Result<(), Arc<sqlx::Error>>;
type OutcomeReceiver = watch::Receiver<Option<Outcome>>;

/// The single writer of one SQLite database, shared by every [`crate::Tx`] of a [`crate::Db`].
pub(crate) struct SqliteWriter {
    /// The connection and the batch state. tokio's mutex hands the writer over in arrival
    /// order, which keeps the queue fair and its wait predictable.
    state: Arc<Mutex<WriterState>>,
    /// Commands waiting in [`SqliteWriter::begin`] for the writer: a command finishing with
    /// nobody waiting commits the batch, and past `queue_max` new commands are refused.
    queued: AtomicUsize,
    queue_max: usize,
    batch_max: usize,
    /// How long a command waits for the writer before failing as unavailable.
    acquire_timeout: Duration,
    counters: Arc<WriteCounters>,
    /// Where the readers wait for a batch a dropped command may have seen into.
    barrier: Arc<ReadBarrier>,
}

/// Everything that changes only while the writer is held.
struct WriterState {
    conn: LiteConn,
    /// An outer `BEGIN IMMEDIATE` is open on `conn`. Invariant: `batch.is_some()` implies it.
    outer_open: bool,
    /// A command's savepoint is open. Seen by someone taking the writer, it means the command
    /// was abandoned (its `Tx` dropped) and must be rolled back first.
    savepoint_open: bool,
    /// Commands released into the open outer transaction and waiting for its `COMMIT`.
    batch: Option<Batch>,
    /// [`SqliteWriter::close`] ran: no new commands.
    closed: bool,
}

struct Batch {
    members: usize,
    outcome: watch::Sender<Option<Outcome>>,
}

/// A failed batch `COMMIT` (or an outer transaction SQLite rolled back itself), as each member
/// of the batch sees it. Reported as an I/O error, so callers classify it as "storage
/// unavailable, retry later": the member's writes were not acknowledged.
#[derive(Debug, thiserror::Error)]
#[error("the group commit this write belonged to failed; the write was not acknowledged")]
struct GroupCommitFailed(#[source] Arc<sqlx::Error>);

impl SqliteWriter {
    pub(crate) fn new(
        conn: LiteConn,
        settings: &PoolSettings,
        counters: Arc<WriteCounters>,
        barrier: Arc<ReadBarrier>,
    ) -> Arc<SqliteWriter> {
        let state = WriterState {
            conn,
            outer_open: false,
            savepoint_open: false,
            batch: None,
            closed: false,
        };
        Arc::new(SqliteWriter {
            state: Arc::new(Mutex::new(state)),
            queued: AtomicUsize::new(0),
            queue_max: settings.write_queue_max.max(1),
            batch_max: settings.group_commit_max.max(1),
            acquire_timeout: settings.acquire_timeout,
            counters,
            barrier,
        })
    }

    /// Takes the writer for one command and opens its savepoint (and the outer transaction if
    /// none is open). Refused at once with [`DbError::Overloaded`] when `write_queue_max`
    /// commands are already waiting.
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<Command, DbError> {
        let guard = {
            let mut ticket = QueueTicket::take(self)?;
            let guard = self.acquire().await?;
            ticket.served = true;
            guard
        };
        Ok(command::start(guard, Arc::clone(self))?)
    }

    /// Runs `SELECT 1` on the writer between two commands: the readiness probe.
    pub(crate) async fn ping(&self) -> Result<(), DbError> {
        let guard = self.acquire().await?;
        guard.conn.batch("SELECT 1")?;
        Ok(())
    }

    /// Commits the open batch (waiting for the command holding the writer to finish) and
    /// refuses new commands. The connection itself closes when the last handle is dropped.
    pub(crate) async fn close(&self) {
        let mut guard = Arc::clone(&self.state).lock_owned().await;
        guard.settle(&self.counters);
        guard.end_outer(&self.counters);
        guard.closed = true;
    }

    async fn acquire(&self) -> Result<OwnedMutexGuard<WriterState>, DbError> {
        let lock = Arc::clone(&self.state).lock_owned();
        let guard = tokio::time::timeout(self.acquire_timeout, lock)
            .await
            .map_err(|_| DbError::Unavailable(sqlx::Error::PoolTimedOut))?;
        if guard.closed {
            return Err(DbError::Unavailable(sqlx::Error::PoolClosed));
        }
        Ok(guard)
    }

    /// Commands waiting for the writer right now.
    pub(crate) fn waiting(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    fn nobody_waiting(&self) -> bool {
        self.waiting() == 0
    }

    /// Waits for the batch behind `outcome` to be committed, committing it itself if nobody
    /// else has within [`FLUSH_WAIT`].
    async fn await_batch(&self, mut outcome: OutcomeReceiver) -> Result<(), sqlx::Error> {
        let mut watching = outcome.clone();
        if let Ok(result) = tokio::time::timeout(FLUSH_WAIT, outcome_of(&mut watching)).await {
            return result;
        }
        tokio::select! {
            result = outcome_of(&mut watching) => result,
            guard = Arc::clone(&self.state).lock_owned() => {
                commit_late(guard, &outcome, &self.counters);
                outcome_of(&mut outcome).await
            }
        }
    }

    /// Finishes what a command could not: rolls back the savepoint of a dropped `Tx`, and ends
    /// an outer transaction left open for a queued command that then gave up — committing the
    /// batch, or continuing it if others are waiting by now.
    async fn tidy(self: Arc<Self>) {
        let mut guard = Arc::clone(&self.state).lock_owned().await;
        guard.settle(&self.counters);
        guard.after_command(&self);
    }
}

impl fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteWriter")
            .field("queued", &self.queued.load(Ordering::Relaxed))
            .field("queue_max", &self.queue_max)
            .field("batch_max", &self.batch_max)
            .finish_non_exhaustive()
    }
}

impl WriterState {
    /// Rolls back an abandoned command's savepoint, if one is open, then commits the batch at
    /// once: the command may have seen its batch-mates' writes (a conflict), and its caller,
    /// now reading through the readers, is waiting for them at the [`ReadBarrier`].
    fn settle(&mut self, counters: &WriteCounters) {
        if !self.savepoint_open {
            return;
        }
        match self.roll_back_savepoint() {
            Ok(()) => self.end_outer_if_batch(counters),
            Err(err) => {
                self.abort(err);
            }
        }
    }

    /// Commits the batch now if it has members, leaving an empty outer transaction open.
    fn end_outer_if_batch(&mut self, counters: &WriteCounters) {
        if self.batch.is_some() {
            self.end_outer(counters);
        }
    }

    fn roll_back_savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.conn.batch(ROLLBACK_TO)?;
        self.conn.batch(RELEASE)?;
        self.savepoint_open = false;
        Ok(())
    }

    /// Adds the command that just released its savepoint to the open batch.
    fn join_batch(&mut self) -> OutcomeReceiver {
        let batch = self.batch.get_or_insert_with(|| Batch {
            members: 0,
            outcome: watch::channel(None).0,
        });
        batch.members += 1;
        batch.outcome.subscribe()
    }

    /// After a command ended: leave the outer transaction open for the next command if one is
    /// waiting and the batch has room, otherwise end it now.
    fn after_command(&mut self, writer: &SqliteWriter) {
        let members = self.batch.as_ref().map_or(0, |batch| batch.members);
        if members >= writer.batch_max || writer.nobody_waiting() {
            self.end_outer(&writer.counters);
        }
    }

    /// Commits the batch, or rolls back an outer transaction that has no member (every
    /// command in it rolled back). Only called with no savepoint open.
    fn end_outer(&mut self, counters: &WriteCounters) {
        let Some(batch) = self.batch.take() else {
            if self.outer_open {
                if let Err(err) = self.conn.batch("ROLLBACK") {
                    self.abort(err);
                }
                self.outer_open = false;
            }
            return;
        };
        match self.conn.batch("COMMIT") {
            Ok(_) => {
                self.outer_open = false;
                counters.record_commit(batch.members);
                batch.outcome.send_replace(Some(Ok(())));
            }
            Err(err) => {
                self.batch = Some(batch);
                self.abort(err);
            }
        }
    }

    /// Gives up the outer transaction after `err` left its state unknown (a failed `COMMIT`,
    /// or SQLite having rolled it back itself: then `RELEASE` and `ROLLBACK TO` find no
    /// savepoint). Every member of the batch gets the error; the next command starts clean.
    /// Returns the error for the caller at hand: its own, or the batch's if there was one.
    fn abort(&mut self, err: sqlx::Error) -> sqlx::Error {
        let members = self.batch.as_ref().map_or(0, |batch| batch.members);
        tracing::error!(
            error = %err,
            members,
            "SQLite writer rolled back its outer transaction; the batch's members get the error"
        );
        // After an automatic rollback this fails with "no transaction is active": the state
        // wanted anyway.
        if let Err(rollback) = self.conn.batch("ROLLBACK") {
            tracing::debug!(error = %rollback, "no SQLite transaction left to roll back");
        }
        self.outer_open = false;
        self.savepoint_open = false;
        let Some(batch) = self.batch.take() else {
            return err;
        };
        let shared = Arc::new(err);
        batch.outcome.send_replace(Some(Err(Arc::clone(&shared))));
        group_commit_failed(shared)
    }
}

/// A member tired of waiting holds the writer: commit the batch unless that already happened.
fn commit_late(
    mut guard: OwnedMutexGuard<WriterState>,
    outcome: &OutcomeReceiver,
    counters: &WriteCounters,
) {
    let committed = outcome.borrow().is_some();
    if !committed {
        guard.settle(counters);
        guard.end_outer(counters);
    }
}

/// The batch's outcome, once known.
async fn outcome_of(outcome: &mut OutcomeReceiver) -> Result<(), sqlx::Error> {
    let known = match outcome.wait_for(Option::is_some).await {
        Ok(known) => known.clone(),
        Err(_closed) => None,
    };
    match known {
        Some(Ok(())) => Ok(()),
        Some(Err(err)) => Err(group_commit_failed(err)),
        // The writer went away without an answer: nothing was acknowledged.
        None => Err(sqlx::Error::PoolClosed),
    }
}

fn group_commit_failed(err: Arc<sqlx::Error>) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(GroupCommitFailed(err)))
}

/// A place in the writer's queue, given back when dropped: once the writer is taken, or when
/// the caller gave up (cancelled, timed out).
struct QueueTicket<'a> {
    writer: &'a Arc<SqliteWriter>,
    /// The holder got the writer. If not, the command that last held it may have left the
    /// outer transaction open for this one (it saw it waiting), so someone must end it.
    served: bool,
}

impl<'a> QueueTicket<'a> {
    fn take(writer: &'a Arc<SqliteWriter>) -> Result<QueueTicket<'a>, DbError> {
        if writer.queued.fetch_add(1, Ordering::SeqCst) >= writer.queue_max {
            writer.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(DbError::Overloaded);
        }
        Ok(QueueTicket {
            writer,
            served: false,
        })
    }
}

impl Drop for QueueTicket<'_> {
    fn drop(&mut self) {
        self.writer.queued.fetch_sub(1, Ordering::SeqCst);
        if !self.served && self.writer.nobody_waiting() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(Arc::clone(self.writer).tidy());
            }
        }
    }
}
