//! [`Command`]: one write transaction holding the SQLite writer, and the steps that change the
//! writer's state for it (start, release, roll back). Each step runs detached (see the parent
//! module), so the steps take the command by value.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::AnyConnection;
use tokio::sync::OwnedMutexGuard;

use super::{detached, execute, OutcomeReceiver, SqliteWriter, WriterState, RELEASE, SAVEPOINT};

/// The writer, held by one command from `begin` until its commit or rollback: what a SQLite
/// [`crate::Tx`] wraps. Dereferences to the connection.
pub(crate) struct Command {
    guard: OwnedMutexGuard<WriterState>,
    writer: Arc<SqliteWriter>,
}

/// Step 1 of a command, once it holds the writer: settle what an abandoned command left, open
/// the outer transaction if needed, open the command's savepoint.
pub(super) async fn start(
    guard: OwnedMutexGuard<WriterState>,
    writer: Arc<SqliteWriter>,
) -> Result<Command, sqlx::Error> {
    let mut command = Command { guard, writer };
    let counters = Arc::clone(&command.writer.counters);
    let state = &mut *command.guard;
    state.settle(&counters).await;
    if !state.outer_open {
        if let Err(err) = execute(&mut state.conn, "BEGIN IMMEDIATE").await {
            return Err(state.abort(err).await);
        }
        state.outer_open = true;
    }
    if let Err(err) = execute(&mut state.conn, SAVEPOINT).await {
        return Err(state.abort(err).await);
    }
    state.savepoint_open = true;
    Ok(command)
}

/// A command's commit: release its savepoint into the batch and commit the batch if this
/// command is the last one around or fills it. Returns where the batch's outcome will appear.
async fn release(mut command: Command) -> Result<OutcomeReceiver, sqlx::Error> {
    let writer = Arc::clone(&command.writer);
    let state = &mut *command.guard;
    if let Err(err) = execute(&mut state.conn, RELEASE).await {
        // Releasing a nested savepoint fails only when the outer transaction is gone.
        return Err(state.abort(err).await);
    }
    state.savepoint_open = false;
    let outcome = state.join_batch();
    state.after_command(&writer).await;
    Ok(outcome)
}

/// A command's rollback: undo its writes only, then carry on with the batch.
///
/// The batch is committed before returning, even with commands waiting: the command may have
/// seen its batch-mates' writes (typically a conflict, the reason to roll back), and its caller
/// goes on to read them through the readers, which see only committed data.
async fn roll_back(mut command: Command) -> Result<(), sqlx::Error> {
    let writer = Arc::clone(&command.writer);
    let state = &mut *command.guard;
    let result = match state.roll_back_savepoint().await {
        Ok(()) => Ok(()),
        Err(err) => Err(state.abort(err).await),
    };
    state.end_outer_if_batch(&writer.counters).await;
    state.after_command(&writer).await;
    result
}

impl Command {
    /// Releases the savepoint into the batch and waits until the batch is committed.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        let writer = Arc::clone(&self.writer);
        let outcome = detached(release(self)).await??;
        writer.await_batch(outcome).await
    }

    /// Rolls back this command's writes only, then commits the batch (see [`roll_back`]).
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        detached(roll_back(self)).await?
    }
}

impl Deref for Command {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.guard.conn
    }
}

impl DerefMut for Command {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.guard.conn
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
