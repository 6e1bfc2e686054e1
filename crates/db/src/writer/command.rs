//! [`Command`]: one write transaction holding the SQLite writer, and the steps that change the
//! writer's state for it (start, release, roll back). The steps are synchronous (statements run
//! on the calling thread, `lite.rs`), so a caller cancelled while waiting cannot stop one
//! halfway; they take the command by value.

use std::sync::Arc;

use tokio::sync::OwnedMutexGuard;

use super::{OutcomeReceiver, SqliteWriter, WriterState, RELEASE, SAVEPOINT};
use crate::lite::LiteConn;

/// The writer, held by one command from `begin` until its commit or rollback: what a SQLite
/// [`crate::Tx`] wraps.
pub(crate) struct Command {
    guard: OwnedMutexGuard<WriterState>,
    writer: Arc<SqliteWriter>,
}

/// Step 1 of a command, once it holds the writer: settle what an abandoned command left, open
/// the outer transaction if needed, open the command's savepoint.
pub(super) fn start(
    guard: OwnedMutexGuard<WriterState>,
    writer: Arc<SqliteWriter>,
) -> Result<Command, sqlx::Error> {
    let mut command = Command { guard, writer };
    let counters = Arc::clone(&command.writer.counters);
    let state = &mut *command.guard;
    state.settle(&counters);
    if !state.outer_open {
        if let Err(err) = state.conn.batch("BEGIN IMMEDIATE") {
            return Err(state.abort(err));
        }
        state.outer_open = true;
    }
    if let Err(err) = state.conn.batch(SAVEPOINT) {
        return Err(state.abort(err));
    }
    state.savepoint_open = true;
    Ok(command)
}

/// A command's commit: release its savepoint into the batch and commit the batch if this
/// command is the last one around or fills it. Returns where the batch's outcome will appear.
fn release(mut command: Command) -> Result<OutcomeReceiver, sqlx::Error> {
    let writer = Arc::clone(&command.writer);
    let state = &mut *command.guard;
    if let Err(err) = state.conn.batch(RELEASE) {
        // Releasing a nested savepoint fails only when the outer transaction is gone.
        return Err(state.abort(err));
    }
    state.savepoint_open = false;
    let outcome = state.join_batch();
    state.after_command(&writer);
    Ok(outcome)
}

/// A command's rollback: undo its writes only, then carry on with the batch.
///
/// The batch is committed before returning, even with commands waiting: the command may have
/// seen its batch-mates' writes (typically a conflict, the reason to roll back), and its caller
/// goes on to read them through the readers, which see only committed data.
fn roll_back(mut command: Command) -> Result<(), sqlx::Error> {
    let writer = Arc::clone(&command.writer);
    let state = &mut *command.guard;
    let result = match state.roll_back_savepoint() {
        Ok(()) => Ok(()),
        Err(err) => Err(state.abort(err)),
    };
    state.end_outer_if_batch(&writer.counters);
    state.after_command(&writer);
    result
}

impl Command {
    /// Releases the savepoint into the batch and waits until the batch is committed.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        let writer = Arc::clone(&self.writer);
        let outcome = release(self)?;
        writer.await_batch(outcome).await
    }

    /// Rolls back this command's writes only, then commits the batch (see [`roll_back`]).
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        roll_back(self)
    }

    /// The writer's connection, where the command's statements run.
    pub(crate) fn conn(&self) -> &LiteConn {
        &self.guard.conn
    }
}

impl Drop for Command {
    fn drop(&mut self) {
        if !self.guard.savepoint_open {
            return;
        }
        // Dropped without commit or rollback, and drop cannot await `ROLLBACK TO`. The flag
        // stays set, so whoever takes the writer next rolls the savepoint back first and then
        // commits the batch; until then the readers wait for that commit, since the caller may
        // go on to read what it saw of its batch-mates' writes. This task makes sure someone
        // takes the writer soon.
        if let Some(batch) = &self.guard.batch {
            self.writer.barrier.raise(batch.outcome.subscribe());
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(Arc::clone(&self.writer).tidy());
        }
    }
}
