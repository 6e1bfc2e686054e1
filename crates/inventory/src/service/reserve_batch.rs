//! One batch of reservations, one transaction (DESIGN §6 "Hot SKUs"): in a flash sale hundreds
//! of buyers want the same stock row at once, and reserving for each in a transaction of its own
//! makes each wait for that row's lock and (on SQLite) for a commit of its own. A batch instead
//! takes each stock row's lock once and commits once for everybody in it.
//!
//! In the batch's transaction:
//!
//! 1. Every order's reservation row is inserted ("claimed"), in `order_ref` order. An order
//!    that already has a reservation gets that one back and takes no stock, as `reserve`
//!    promises.
//! 2. For every stock row (SKU and location), in SKU order, the units all claimed requests want
//!    there are taken with ONE conditional update (`on_hand - reserved >= total`). If that
//!    succeeds, every request's lines on that SKU are satisfied. If it fails, the row is locked
//!    and what it has available is read under the lock ([`Supply`]).
//! 3. [`allot`] hands out the short SKUs' units in arrival order: each request in turn is
//!    admitted if every one of its lines fits in what is left, all or nothing; one that does
//!    not is refused with the SKUs it is short of, and what was left for it.
//! 4. Admitted units on a short SKU are taken with one conditional update; refused requests'
//!    units on a SKU whose combined update succeeded are given back with one update. Refused
//!    requests' claims are removed; admitted ones get their lines and their `inventory.reserved`
//!    event.
//!
//! The database row stays the authority: every update still carries its `WHERE` condition, and
//! the rows are locked in the store's lock order (reservation rows, then stock rows in SKU
//! order), so batches of several processes over one database stay exact and never deadlock.
//! Nothing here needs an in-process lock; the batching only saves row locks and fsyncs.

use std::collections::{BTreeMap, HashMap};

use kassa_kernel::{Sku, Timestamp};
use tokio::sync::oneshot;
use tracing::instrument;

use crate::events;
use crate::model::{LocationId, Reservation, ReservationLine, Shortage, STOCK_ON_HAND_MAX};
use crate::store::{InventoryStore, InventoryTx, ReservationKey};
use crate::InventoryError;

/// A `reserve` call waiting for its batch: the reservation it would create (validated, with
/// its id, TTL and lines already decided by the caller) and where its answer goes. The caller
/// may have given up (its future dropped); then `reply` is closed and the request is skipped.
pub(super) struct Pending {
    pub(super) reservation: Reservation,
    pub(super) reply: oneshot::Sender<Result<Reservation, InventoryError>>,
}

/// What one request of a batch came to, once the batch's transaction committed.
#[derive(Debug)]
enum Outcome {
    /// Its units are reserved: this is its new reservation.
    Reserved(Reservation),
    /// The order already had this reservation; nothing was taken.
    Existing(Reservation),
    /// Short of these SKUs; nothing of it was reserved and its order has no reservation.
    Refused(Vec<Shortage>),
}

/// One stock row of a batch.
type StockKey = (Sku, LocationId);

/// Where a stock row stands after the batch's combined update of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Supply {
    /// The combined update took the units of every request in the batch.
    Granted,
    /// Not enough for all of them: this many units were available, read under the row's lock,
    /// which the transaction holds until it ends.
    Limited(u32),
}

/// Which requests [`allot`] admitted, and the corrections that makes to the stock rows.
#[derive(Debug, Default, PartialEq, Eq)]
struct Allotment {
    /// Per request, in the order given: admitted, or refused with its short SKUs.
    admitted: Vec<Result<(), Vec<Shortage>>>,
    /// Per [`Supply::Limited`] row: the units the admitted requests take (never zero).
    take: BTreeMap<StockKey, u32>,
    /// Per [`Supply::Granted`] row: the units of refused requests, to give back (never zero).
    give_back: BTreeMap<StockKey, u32>,
}

/// Runs one batch and answers its callers. Requests whose caller gave up are skipped; a
/// request for an order already in the batch is answered with that order's outcome, unless the
/// earlier request was refused: then it could still succeed with its own lines, so it is
/// returned, to run in the next batch as if it had come after (the claim was removed). Returns
/// those, in arrival order.
#[instrument(skip_all, fields(requests = batch.len()))]
pub(super) async fn run_batch(
    store: &InventoryStore,
    now: Timestamp,
    batch: Vec<Pending>,
) -> Vec<Pending> {
    let mut members: Vec<Pending> = Vec::new();
    let mut duplicates: Vec<(usize, Pending)> = Vec::new();
    let mut first_of_order: HashMap<String, usize> = HashMap::new();
    for pending in batch {
        if pending.reply.is_closed() {
            continue;
        }
        match first_of_order.get(&pending.reservation.order_ref) {
            Some(&member) => duplicates.push((member, pending)),
            None => {
                first_of_order.insert(pending.reservation.order_ref.clone(), members.len());
                members.push(pending);
            }
        }
    }
    if members.is_empty() {
        return Vec::new();
    }

    let reservations: Vec<&Reservation> = members.iter().map(|m| &m.reservation).collect();
    let outcomes = match reserve_batch(store, now, &reservations).await {
        Ok(outcomes) => outcomes,
        Err(err) => {
            fail_all(members, duplicates, err);
            return Vec::new();
        }
    };

    let mut deferred = Vec::new();
    for (member, pending) in duplicates {
        match &outcomes[member] {
            Outcome::Reserved(reservation) | Outcome::Existing(reservation) => {
                answer(pending, Ok(reservation.clone()));
            }
            Outcome::Refused(_) => deferred.push(pending),
        }
    }
    for (pending, outcome) in members.into_iter().zip(outcomes) {
        let result = match outcome {
            Outcome::Reserved(reservation) => {
                tracing::info!(
                    reservation_id = %reservation.id,
                    order_ref = %reservation.order_ref,
                    "stock reserved"
                );
                Ok(reservation)
            }
            Outcome::Existing(reservation) => {
                tracing::info!(
                    reservation_id = %reservation.id,
                    order_ref = %reservation.order_ref,
                    status = %reservation.status,
                    "the order already has a reservation; returned it"
                );
                Ok(reservation)
            }
            Outcome::Refused(lines) => {
                tracing::info!(
                    order_ref = %pending.reservation.order_ref,
                    short_skus = lines.len(),
                    "insufficient stock; nothing reserved"
                );
                Err(InventoryError::InsufficientStock { lines })
            }
        };
        answer(pending, result);
    }
    deferred
}

/// Sends a caller its answer. A caller that gave up meanwhile is not an error: what was
/// reserved for it stays reserved until its TTL, and a retry of the same order gets it back.
fn answer(pending: Pending, result: Result<Reservation, InventoryError>) {
    // Err means the receiver is gone: the caller was cancelled after the batch started.
    let _ = pending.reply.send(result);
}

/// The batch's transaction failed, so none of it was acknowledged: every caller in it gets the
/// error. A batch of one gets it as it is.
fn fail_all(members: Vec<Pending>, duplicates: Vec<(usize, Pending)>, err: InventoryError) {
    let callers: Vec<Pending> = members
        .into_iter()
        .chain(duplicates.into_iter().map(|(_, pending)| pending))
        .collect();
    tracing::warn!(
        requests = callers.len(),
        error = %err,
        "a reservation batch failed; nothing of it was reserved"
    );
    let mut callers = callers.into_iter();
    if callers.len() == 1 {
        if let Some(pending) = callers.next() {
            answer(pending, Err(err));
        }
        return;
    }
    let shared = std::sync::Arc::new(err);
    for pending in callers {
        answer(
            pending,
            Err(InventoryError::ReservationBatchFailed(shared.clone())),
        );
    }
}

/// The batch's transaction (see the module documentation): one outcome per reservation, in the
/// order given, all of them committed together. The reservations' `order_ref`s are distinct.
async fn reserve_batch(
    store: &InventoryStore,
    now: Timestamp,
    reservations: &[&Reservation],
) -> Result<Vec<Outcome>, InventoryError> {
    let mut tx = store.begin().await?;
    let mut outcomes: Vec<Option<Outcome>> = reservations.iter().map(|_| None).collect();

    // 1. Claims, in order_ref order: two batches inserting the same orders wait on each other
    // in one direction only.
    let mut by_order_ref: Vec<usize> = (0..reservations.len()).collect();
    by_order_ref.sort_by(|&a, &b| reservations[a].order_ref.cmp(&reservations[b].order_ref));
    for i in by_order_ref {
        if !tx.claim_order_ref(reservations[i]).await? {
            outcomes[i] = Some(Outcome::Existing(existing(&mut tx, reservations[i]).await?));
        }
    }
    let claimed: Vec<usize> = (0..reservations.len())
        .filter(|&i| outcomes[i].is_none())
        .collect();

    // 2. to 4. Stock, in SKU order, then the arrival-order fallback where it is short.
    let demands: Vec<&[ReservationLine]> = claimed
        .iter()
        .map(|&i| reservations[i].lines.as_slice())
        .collect();
    let supply = combined_updates(&mut tx, &demands, now).await?;
    let allotment = allot(&demands, &supply);
    correct_units(&mut tx, &allotment, now).await?;

    let mut reserved_events = Vec::new();
    for (&i, admitted) in claimed.iter().zip(allotment.admitted) {
        let reservation = reservations[i];
        outcomes[i] = Some(match admitted {
            Ok(()) => {
                tx.insert_lines(reservation).await?;
                reserved_events.push(events::reservation_changed(reservation));
                Outcome::Reserved(reservation.clone())
            }
            Err(lines) => {
                if !tx.remove_claim(reservation).await? {
                    return Err(InventoryError::Invariant(format!(
                        "the claim of order {} made in this transaction could not be removed",
                        reservation.order_ref
                    )));
                }
                Outcome::Refused(lines)
            }
        });
    }
    if !reserved_events.is_empty() {
        tx.append(&reserved_events).await?;
    }
    tx.commit().await?;
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.ok_or_else(|| {
                InventoryError::Invariant("a request of a batch was left undecided".to_owned())
            })
        })
        .collect()
}

/// The reservation an order already has, found because claiming its `order_ref` conflicted.
async fn existing(
    tx: &mut InventoryTx,
    reservation: &Reservation,
) -> Result<Reservation, InventoryError> {
    let key = ReservationKey::OrderRef(&reservation.order_ref);
    tx.reservation(key).await?.ok_or_else(|| {
        InventoryError::Invariant(format!(
            "order {} conflicts with an existing reservation that cannot be read",
            reservation.order_ref
        ))
    })
}

/// Step 2: per stock row, in SKU order, one conditional update for everything the batch wants
/// there; where that is refused, the row's lock and what it has available. A total above
/// [`STOCK_ON_HAND_MAX`] could never fit, so it goes straight to the lock.
async fn combined_updates(
    tx: &mut InventoryTx,
    demands: &[&[ReservationLine]],
    now: Timestamp,
) -> Result<BTreeMap<StockKey, Supply>, InventoryError> {
    let mut totals: BTreeMap<StockKey, u64> = BTreeMap::new();
    for line in demands.iter().flat_map(|lines| lines.iter()) {
        *totals
            .entry((line.sku.clone(), line.location_id))
            .or_default() += u64::from(line.quantity);
    }
    let mut supply = BTreeMap::new();
    for ((sku, location), total) in totals {
        let combined = u32::try_from(total)
            .ok()
            .filter(|&total| total <= STOCK_ON_HAND_MAX);
        let granted = match combined {
            Some(total) => tx.reserve_units(&sku, location, total, now).await?,
            None => false,
        };
        let state = if granted {
            Supply::Granted
        } else {
            let level = tx.lock_level(&sku, location).await?;
            Supply::Limited(level.map_or(0, |level| level.available()))
        };
        supply.insert((sku, location), state);
    }
    Ok(supply)
}

/// Step 3, the arrival-order fallback: walks the requests in the order given (arrival order)
/// and admits each whose every line fits in what its [`Supply::Limited`] rows have left, all
/// or nothing; a refused one names each SKU it is short of, in SKU order (its lines' order),
/// with what was left for it. Lines on [`Supply::Granted`] rows always fit. Pure, so the rule
/// is tested without a database.
fn allot(demands: &[&[ReservationLine]], supply: &BTreeMap<StockKey, Supply>) -> Allotment {
    let mut left: BTreeMap<StockKey, u32> = supply
        .iter()
        .filter_map(|(key, state)| match state {
            Supply::Limited(available) => Some((key.clone(), *available)),
            Supply::Granted => None,
        })
        .collect();
    let mut allotment = Allotment::default();
    for lines in demands {
        let short: Vec<Shortage> = lines
            .iter()
            .filter_map(|line| {
                let available = *left.get(&key(line))?;
                (available < line.quantity).then(|| Shortage {
                    sku: line.sku.clone(),
                    requested: line.quantity,
                    available,
                })
            })
            .collect();
        if short.is_empty() {
            for line in lines.iter() {
                if let Some(available) = left.get_mut(&key(line)) {
                    // Fits: checked just above, for every line.
                    *available -= line.quantity;
                    add(&mut allotment.take, line);
                }
            }
            allotment.admitted.push(Ok(()));
        } else {
            for line in lines.iter() {
                if supply.get(&key(line)) == Some(&Supply::Granted) {
                    add(&mut allotment.give_back, line);
                }
            }
            allotment.admitted.push(Err(short));
        }
    }
    allotment
}

fn key(line: &ReservationLine) -> StockKey {
    (line.sku.clone(), line.location_id)
}

/// Adds a line's units to a per-row total. The totals cannot overflow: `take` stays within what
/// a row had available, `give_back` within a combined total that fit a `u32`.
fn add(totals: &mut BTreeMap<StockKey, u32>, line: &ReservationLine) {
    let total = totals.entry(key(line)).or_default();
    *total = total.saturating_add(line.quantity);
}

/// Step 4: applies the allotment to rows this transaction already holds, so the order of these
/// statements cannot deadlock. Both are still conditional; a refusal means our own arithmetic is
/// wrong, and fails the batch.
async fn correct_units(
    tx: &mut InventoryTx,
    allotment: &Allotment,
    now: Timestamp,
) -> Result<(), InventoryError> {
    for ((sku, location), &units) in &allotment.take {
        if !tx.reserve_units(sku, *location, units, now).await? {
            return Err(InventoryError::Invariant(format!(
                "{units} units of {sku} at {location} were available under the row lock but \
                 could not be reserved"
            )));
        }
    }
    for ((sku, location), &units) in &allotment.give_back {
        let line = ReservationLine {
            sku: sku.clone(),
            location_id: *location,
            quantity: units,
        };
        if !tx.return_units(&line, now).await? {
            return Err(InventoryError::Invariant(format!(
                "{units} units of {sku} at {location} reserved by this batch could not be \
                 given back"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn line(code: &str, quantity: u32) -> ReservationLine {
        ReservationLine {
            sku: Sku::parse(code).unwrap(),
            location_id: LocationId::DEFAULT,
            quantity,
        }
    }

    fn stock_key(code: &str) -> StockKey {
        (Sku::parse(code).unwrap(), LocationId::DEFAULT)
    }

    fn shortage(code: &str, requested: u32, available: u32) -> Shortage {
        Shortage {
            sku: Sku::parse(code).unwrap(),
            requested,
            available,
        }
    }

    #[test]
    fn a_granted_row_admits_everybody_and_changes_nothing_more() {
        let a = [line("MUG", 2)];
        let b = [line("MUG", 3)];
        let supply = BTreeMap::from([(stock_key("MUG"), Supply::Granted)]);
        let allotment = allot(&[&a, &b], &supply);
        assert_eq!(allotment.admitted, [Ok(()), Ok(())]);
        assert!(allotment.take.is_empty());
        assert!(allotment.give_back.is_empty());
    }

    #[test]
    fn a_limited_row_is_handed_out_in_arrival_order_and_a_later_smaller_request_still_fits() {
        let requests = [
            vec![line("MUG", 2)],
            vec![line("MUG", 3)],
            vec![line("MUG", 1)],
            vec![line("MUG", 1)],
        ];
        let demands: Vec<&[ReservationLine]> = requests.iter().map(Vec::as_slice).collect();
        let supply = BTreeMap::from([(stock_key("MUG"), Supply::Limited(3))]);
        let allotment = allot(&demands, &supply);
        assert_eq!(
            allotment.admitted,
            [
                Ok(()),
                Err(vec![shortage("MUG", 3, 1)]),
                Ok(()),
                Err(vec![shortage("MUG", 1, 0)]),
            ]
        );
        assert_eq!(allotment.take, BTreeMap::from([(stock_key("MUG"), 3)]));
        assert!(allotment.give_back.is_empty());
    }

    #[test]
    fn a_refused_request_takes_nothing_and_gives_back_its_granted_lines() {
        // The first wants both SKUs and HAT is short for it: its SCARF units, taken by the
        // combined update, go back, and its HAT units stay for the second.
        let first = [line("HAT", 2), line("SCARF", 1)];
        let second = [line("HAT", 1), line("SCARF", 4)];
        let supply = BTreeMap::from([
            (stock_key("HAT"), Supply::Limited(1)),
            (stock_key("SCARF"), Supply::Granted),
        ]);
        let allotment = allot(&[&first, &second], &supply);
        assert_eq!(
            allotment.admitted,
            [Err(vec![shortage("HAT", 2, 1)]), Ok(())]
        );
        assert_eq!(allotment.take, BTreeMap::from([(stock_key("HAT"), 1)]));
        assert_eq!(
            allotment.give_back,
            BTreeMap::from([(stock_key("SCARF"), 1)])
        );
    }

    #[test]
    fn a_request_short_of_several_skus_names_each_in_sku_order() {
        let wants = [line("A", 3), line("B", 1), line("C", 1)];
        let supply = BTreeMap::from([
            (stock_key("A"), Supply::Limited(1)),
            (stock_key("B"), Supply::Granted),
            (stock_key("C"), Supply::Limited(0)),
        ]);
        let allotment = allot(&[&wants], &supply);
        assert_eq!(
            allotment.admitted,
            [Err(vec![shortage("A", 3, 1), shortage("C", 1, 0)])]
        );
        assert!(allotment.take.is_empty());
        assert_eq!(allotment.give_back, BTreeMap::from([(stock_key("B"), 1)]));
    }
}
