//! The queue in front of `reserve`: every call of one [`crate::Inventory`] is queued to one
//! task, which runs whatever has queued up as one batch (`reserve_batch.rs`) and then the next.
//! Nobody waits on purpose: a call that finds the task idle runs alone at once, and the calls
//! that arrive while a batch runs form the next one. So under light load a reservation costs
//! what it did alone, and in a flash sale the batches grow with the load, up to
//! [`RESERVE_BATCH_MAX`].
//!
//! The queue is for throughput, not for correctness: a second process has a queue of its own,
//! and the stock rows' conditional updates keep both exact (DESIGN promise 5).
//!
//! The task is started by the first call (so [`crate::Inventory::new`] needs no runtime), and
//! again by a later call if it has stopped — when the runtime it ran on shut down, or it
//! panicked, in which case the callers waiting on it get an error. It stops when the
//! `Inventory` is dropped, after answering what it had queued.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use kassa_kernel::Clock;
use tokio::sync::{mpsc, oneshot};

use super::reserve_batch::{run_batch, Pending};
use crate::model::Reservation;
use crate::store::InventoryStore;
use crate::InventoryError;

/// Most `reserve` calls one batch answers. Its transaction holds the batch's stock rows until
/// it commits, so the bound keeps that short (a few milliseconds on SQLite); 256 already turns
/// a flash sale's hundreds of row locks and commits per second into a handful.
pub const RESERVE_BATCH_MAX: usize = 256;

/// Most reservation lines (after each request's same-SKU lines are combined) one batch
/// handles: a batch runs about one statement per line, so this bounds its transaction when
/// requests are large. A single request of [`crate::RESERVATION_LINES_MAX`] lines always fits.
pub const RESERVE_BATCH_LINES_MAX: usize = 2_048;

/// Most `reserve` calls queued and not yet in a batch: four full batches. A call finding the
/// queue full waits for room (cancellable, taking nothing) rather than being refused, so a
/// burst of checkouts slows down instead of failing (checkout is shed last, DESIGN §8); the
/// callers themselves are bounded by the server's concurrency limits.
pub const RESERVE_QUEUE_MAX: usize = 4 * RESERVE_BATCH_MAX;

/// What an [`crate::Inventory`]'s reservation batches have done since it was built, for tests
/// and metrics: `requests / batches` is how many calls shared each transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReserveBatchStats {
    /// Batch transactions run, whether they committed or failed.
    pub batches: u64,
    /// `reserve` calls answered by those batches (a call whose caller gave up before its batch
    /// started is not counted).
    pub requests: u64,
}

/// The sending end of the queue, and what the task needs to run batches.
pub(super) struct ReserveBatcher {
    /// The queue of the running task; `None` until the first call, replaced when the task has
    /// stopped. Held only to clone or replace the sender, never across an `.await`.
    queue: Mutex<Option<mpsc::Sender<Pending>>>,
    runner: Arc<Runner>,
}

/// Shared with the task.
struct Runner {
    store: InventoryStore,
    clock: Arc<dyn Clock>,
    batches: AtomicU64,
    requests: AtomicU64,
}

impl ReserveBatcher {
    pub(super) fn new(store: InventoryStore, clock: Arc<dyn Clock>) -> Self {
        ReserveBatcher {
            queue: Mutex::new(None),
            runner: Arc::new(Runner {
                store,
                clock,
                batches: AtomicU64::new(0),
                requests: AtomicU64::new(0),
            }),
        }
    }

    pub(super) fn stats(&self) -> ReserveBatchStats {
        ReserveBatchStats {
            batches: self.runner.batches.load(Ordering::Relaxed),
            requests: self.runner.requests.load(Ordering::Relaxed),
        }
    }

    /// Queues `reservation` (validated, not yet stored) for the next batch and waits for its
    /// outcome, which is what `reserve` returns. Dropping the future while it is queued takes
    /// the request out of its batch; once the batch has started, the request's outcome stands.
    pub(super) async fn reserve(
        &self,
        reservation: Reservation,
    ) -> Result<Reservation, InventoryError> {
        let (reply, answer) = oneshot::channel();
        let mut pending = Pending { reservation, reply };
        // A send fails only if the task stopped since `sender` looked; the second attempt
        // starts a new one.
        for _ in 0..2 {
            let sender = self.sender()?;
            match sender.send(pending).await {
                Ok(()) => return answer.await.unwrap_or_else(|_| Err(stopped())),
                Err(mpsc::error::SendError(back)) => pending = back,
            }
        }
        Err(stopped())
    }

    /// The running task's queue, starting the task if there is none or it has stopped.
    fn sender(&self) -> Result<mpsc::Sender<Pending>, InventoryError> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = queue.as_ref().filter(|sender| !sender.is_closed()) {
            return Ok(sender.clone());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|err| {
            InventoryError::Invariant(format!("reserve was called outside a tokio runtime: {err}"))
        })?;
        let (sender, receiver) = mpsc::channel(RESERVE_QUEUE_MAX);
        runtime.spawn(run(receiver, self.runner.clone()));
        *queue = Some(sender.clone());
        Ok(sender)
    }
}

fn stopped() -> InventoryError {
    InventoryError::Invariant("the reservation batcher stopped before answering".to_owned())
}

/// The task: one batch at a time, until every sender is gone and the queue is empty.
async fn run(mut receiver: mpsc::Receiver<Pending>, runner: Arc<Runner>) {
    // Requests taken from the queue but not yet run: one that did not fit the last batch's
    // line limit, and requests a batch handed back (see `run_batch`). At most a batch's worth.
    let mut carried: VecDeque<Pending> = VecDeque::new();
    loop {
        let first = match carried.pop_front() {
            Some(pending) => pending,
            None => match receiver.recv().await {
                Some(pending) => pending,
                None => return,
            },
        };
        if first.reply.is_closed() {
            continue;
        }
        let batch = assemble(first, &mut carried, &mut receiver);
        let size = batch.len();
        let now = runner.clock.now();
        let handed_back = run_batch(&runner.store, now, batch).await;
        let answered = size.saturating_sub(handed_back.len());
        runner.batches.fetch_add(1, Ordering::Relaxed);
        runner.requests.fetch_add(
            u64::try_from(answered).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        // They came before anything still queued, so they go first.
        for pending in handed_back.into_iter().rev() {
            carried.push_front(pending);
        }
    }
}

/// `first` and whatever else is waiting, in arrival order, within [`RESERVE_BATCH_MAX`] calls
/// and [`RESERVE_BATCH_LINES_MAX`] lines. Callers that gave up are dropped here rather than
/// counted against the limits. Never waits: what arrives later is the next batch.
fn assemble(
    first: Pending,
    carried: &mut VecDeque<Pending>,
    receiver: &mut mpsc::Receiver<Pending>,
) -> Vec<Pending> {
    let mut lines = first.reservation.lines.len();
    let mut batch = vec![first];
    while batch.len() < RESERVE_BATCH_MAX {
        let next = match carried.pop_front() {
            Some(pending) => pending,
            None => match receiver.try_recv() {
                Ok(pending) => pending,
                Err(_) => break,
            },
        };
        if next.reply.is_closed() {
            continue;
        }
        if lines + next.reservation.lines.len() > RESERVE_BATCH_LINES_MAX {
            carried.push_front(next);
            break;
        }
        lines += next.reservation.lines.len();
        batch.push(next);
    }
    batch
}
