//! Hot-SKU batching (DESIGN §6): `reserve` calls that arrive together share one transaction —
//! one conditional update per SKU, and where a SKU is short, its units handed out in arrival
//! order, each request all or nothing. Exactness under real concurrency (one node and two), the
//! arrival order, duplicates and cancelled callers inside one batch, and a failed batch.
//!
//! To put several calls in one batch deterministically, the tests that look at arrival order
//! run on a current-thread runtime and poll each call once, in order, before yielding: each is
//! then queued, and the batcher's task cannot run before the test yields, so the next batch is
//! exactly those calls in that order.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use kassa_kernel::{DomainError, ErrorCategory};
use tokio::task::JoinSet;

use super::*;

type Call<'a> = Pin<Box<dyn Future<Output = Result<Reservation, InventoryError>> + Send + 'a>>;

/// A fixture that also keeps the concrete service, for its batch statistics.
struct Batching {
    fx: Fixture,
    service: Arc<Inventory>,
}

async fn batching() -> Batching {
    let fx = fixture_with_pool(8).await;
    service_over(fx)
}

fn service_over(mut fx: Fixture) -> Batching {
    let service = Arc::new(Inventory::new(
        InventoryStore::new(fx.db.clone()),
        Arc::new(fx.clock.clone()),
        InventoryConfig::default(),
    ));
    fx.inventory = service.clone();
    Batching { fx, service }
}

/// Polls `call` once: far enough for it to be queued, not far enough for its batch to run.
async fn enqueue(call: &mut Call<'_>) {
    poll_fn(|cx| {
        assert!(
            call.as_mut().poll(cx).is_pending(),
            "answered before its batch ran"
        );
        Poll::Ready(())
    })
    .await;
}

/// Queues every call in the order given (see the module documentation), then waits for all of
/// them; their results in the same order.
async fn in_one_batch(calls: Vec<Call<'_>>) -> Vec<Result<Reservation, InventoryError>> {
    let mut calls = calls;
    for call in &mut calls {
        enqueue(call).await;
    }
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await);
    }
    results
}

fn call<'a>(
    inventory: &'a Arc<dyn InventoryService>,
    order_ref: &str,
    lines: &'a [(Sku, Quantity)],
) -> Call<'a> {
    // Unconstrained: tokio's cooperative budget must not make a queued call look unqueued.
    Box::pin(tokio::task::unconstrained(inventory.reserve(
        order_ref.to_owned(),
        lines,
        None,
    )))
}

fn won(results: &[Result<Reservation, InventoryError>]) -> usize {
    results.iter().filter(|r| r.is_ok()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_buyers_for_a_hundred_units_get_exactly_a_hundred_in_fewer_batches() {
    let b = batching().await;
    b.fx.set("FLASH", 100).await;

    let buyers = (0..300).map(|i| {
        let inventory = b.fx.inventory.clone();
        async move {
            let lines = order_lines(&[("FLASH", 1)]);
            inventory.reserve(format!("ord-{i}"), &lines, None).await
        }
    });
    let results = all_at_once(buyers).await;

    assert_eq!(won(&results), 100);
    for result in results.iter().filter(|r| r.is_err()) {
        let err = result.as_ref().unwrap_err();
        assert_eq!(err.shortages(), [shortage("FLASH", 1, 0)], "{err:?}");
    }
    assert_eq!(b.fx.level("FLASH").await, (100, 100));
    assert_eq!(b.fx.count("inventory_reservations").await, 100);
    assert_eq!(b.fx.count("inventory_reservation_lines").await, 100);
    assert_eq!(reserved_events(&b.fx).await, 100);
    let stats = b.service.reserve_batch_stats();
    assert_eq!(stats.requests, 300);
    assert!(stats.batches < stats.requests, "{stats:?}");
}

#[tokio::test]
async fn calls_that_arrive_together_are_served_in_arrival_order() {
    let b = batching().await;
    b.fx.set("MUG", 5).await;
    b.fx.set("FLASH", 7).await;
    let wants = |n| order_lines(&[("MUG", n)]);
    let mug = [wants(2), wants(4), wants(3), wants(1)];
    let one_flash = order_lines(&[("FLASH", 1)]);

    // Four MUG orders, then twenty single FLASH units, all queued before the batch runs.
    let mut calls: Vec<Call> = mug
        .iter()
        .enumerate()
        .map(|(i, lines)| call(&b.fx.inventory, &format!("mug-{i}"), lines))
        .collect();
    calls.extend((0..20).map(|i| call(&b.fx.inventory, &format!("flash-{i:02}"), &one_flash)));
    let results = in_one_batch(calls).await;

    // MUG: 2 of 5 to the first; the second wants 4 of the 3 left; the third takes those 3.
    assert!(results[0].is_ok());
    assert_eq!(
        results[1].as_ref().unwrap_err().shortages(),
        [shortage("MUG", 4, 3)]
    );
    assert!(results[2].is_ok());
    assert_eq!(
        results[3].as_ref().unwrap_err().shortages(),
        [shortage("MUG", 1, 0)]
    );
    // FLASH: the first seven to arrive win.
    let flash = &results[4..];
    assert!(flash[..7].iter().all(Result::is_ok), "{flash:?}");
    assert!(flash[7..].iter().all(|r| r.is_err()), "{flash:?}");
    assert_eq!(b.fx.level("MUG").await, (5, 5));
    assert_eq!(b.fx.level("FLASH").await, (7, 7));
    let stats = b.service.reserve_batch_stats();
    assert_eq!((stats.batches, stats.requests), (1, 24));
}

#[tokio::test]
async fn a_refused_multi_line_request_takes_nothing_and_leaves_its_units_to_later_ones() {
    let b = batching().await;
    b.fx.set("HAT", 1).await;
    b.fx.set("SCARF", 10).await;
    let events_before = b.fx.event_types().await.len();
    let first = order_lines(&[("SCARF", 1), ("HAT", 2)]);
    let second = order_lines(&[("HAT", 1), ("SCARF", 4)]);
    let third = order_lines(&[("SCARF", 5)]);

    let results = in_one_batch(vec![
        call(&b.fx.inventory, "ord-1", &first),
        call(&b.fx.inventory, "ord-2", &second),
        call(&b.fx.inventory, "ord-3", &third),
    ])
    .await;

    // The first is short of HAT only: SCARF's combined update took its unit, which went back.
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.shortages(), [shortage("HAT", 2, 1)]);
    assert_eq!(err.problem_type().category, ErrorCategory::Conflict);
    assert!(results[1].is_ok() && results[2].is_ok(), "{results:?}");
    assert_eq!(b.fx.level("HAT").await, (1, 1));
    assert_eq!(b.fx.level("SCARF").await, (10, 9));
    assert_eq!(b.fx.count("inventory_reservations").await, 2);
    assert!(matches!(
        b.fx.inventory.reservation("ord-1").await,
        Err(InventoryError::ReservationNotFound { .. })
    ));
    assert_eq!(
        b.fx.event_types().await[events_before..],
        ["inventory.reserved", "inventory.reserved"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_line_orders_of_two_skus_racing_reserve_exactly_what_the_winners_hold() {
    let b = batching().await;
    b.fx.set("HAT", 40).await;
    b.fx.set("SCARF", 60).await;
    let kinds: [&[(&str, u32)]; 4] = [
        &[("SCARF", 2), ("HAT", 1)],
        &[("HAT", 3)],
        &[("SCARF", 1)],
        &[("HAT", 1), ("SCARF", 1), ("HAT", 1)],
    ];
    let buyers = (0..240).map(|i| {
        let inventory = b.fx.inventory.clone();
        let lines = order_lines(kinds[i % kinds.len()]);
        async move { inventory.reserve(format!("ord-{i}"), &lines, None).await }
    });
    let results = all_at_once(buyers).await;

    let mut held: HashMap<String, u32> = HashMap::new();
    for reservation in results.iter().filter_map(|r| r.as_ref().ok()) {
        for line in &reservation.lines {
            *held.entry(line.sku.to_string()).or_default() += line.quantity;
        }
    }
    for result in results.iter().filter(|r| r.is_err()) {
        assert!(
            !result.as_ref().unwrap_err().shortages().is_empty(),
            "{result:?}"
        );
    }
    let hats = b.fx.level("HAT").await;
    let scarves = b.fx.level("SCARF").await;
    assert_eq!(hats, (40, held.get("HAT").copied().unwrap_or(0)));
    assert_eq!(scarves, (60, held.get("SCARF").copied().unwrap_or(0)));
    assert_eq!(
        b.fx.count("inventory_reservations").await,
        i64::try_from(won(&results)).unwrap()
    );
    // 240 orders want 360 hats and 240 scarves: both run out, so some must have been refused.
    assert!(won(&results) < 240);
    let stats = b.service.reserve_batch_stats();
    assert_eq!(stats.requests, 240);
    assert!(stats.batches < stats.requests, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_with_their_own_batchers_over_one_database_reserve_exactly_the_stock() {
    let first = batching().await;
    first.fx.set("FLASH", 100).await;
    let second = second_node(&first).await;
    let nodes: [Arc<dyn InventoryService>; 2] = [first.fx.inventory.clone(), second.clone()];

    let buyers = (0..300).map(|i| {
        let inventory = nodes[i % 2].clone();
        async move {
            let lines = order_lines(&[("FLASH", 1), ("FLASH", 1)]);
            inventory.reserve(format!("ord-{i}"), &lines, None).await
        }
    });
    let results = all_at_once(buyers).await;

    assert_eq!(won(&results), 50);
    for result in results.iter().filter(|r| r.is_err()) {
        let shortages = result.as_ref().unwrap_err().shortages();
        assert!(
            shortages.len() == 1 && shortages[0].requested == 2,
            "{result:?}"
        );
    }
    assert_eq!(first.fx.level("FLASH").await, (100, 100));
    assert_eq!(first.fx.count("inventory_reservations").await, 50);
    let answered =
        first.service.reserve_batch_stats().requests + second.reserve_batch_stats().requests;
    assert_eq!(answered, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_racing_with_multi_line_orders_never_deadlock_nor_split_an_order() {
    let first = batching().await;
    first.fx.set("HAT", 50).await;
    first.fx.set("SCARF", 50).await;
    let second = second_node(&first).await;
    let nodes: [Arc<dyn InventoryService>; 2] = [first.fx.inventory.clone(), second];
    // Listed in both SKU orders, so only the store's lock order keeps the nodes from deadlocking.
    let kinds: [&[(&str, u32)]; 3] = [
        &[("SCARF", 1), ("HAT", 1)],
        &[("HAT", 2), ("SCARF", 1)],
        &[("SCARF", 2)],
    ];
    let buyers = (0..240).map(|i| {
        let inventory = nodes[i % 2].clone();
        let lines = order_lines(kinds[(i / 2) % kinds.len()]);
        async move { inventory.reserve(format!("ord-{i}"), &lines, None).await }
    });
    let results = all_at_once(buyers).await;

    let mut held: HashMap<String, u32> = HashMap::new();
    for result in &results {
        match result {
            Ok(reservation) => {
                for line in &reservation.lines {
                    *held.entry(line.sku.to_string()).or_default() += line.quantity;
                }
            }
            Err(err) => assert!(!err.shortages().is_empty(), "{err:?}"),
        }
    }
    let hats = first.fx.level("HAT").await;
    let scarves = first.fx.level("SCARF").await;
    assert_eq!(hats, (50, held.get("HAT").copied().unwrap_or(0)));
    assert_eq!(scarves, (50, held.get("SCARF").copied().unwrap_or(0)));
    assert_eq!(
        first.fx.count("inventory_reservations").await,
        i64::try_from(won(&results)).unwrap()
    );
}

/// A second "node" over the fixture's database: its own pool, service and batcher.
async fn second_node(first: &Batching) -> Arc<Inventory> {
    let settings = PoolSettings {
        max_connections: 8,
        acquire_timeout: Duration::from_secs(120),
        sqlite_busy_timeout: Duration::from_secs(120),
        ..PoolSettings::default()
    };
    let db = Db::connect(first.fx._test.backend(), "inventory", &settings)
        .await
        .unwrap();
    Arc::new(Inventory::new(
        InventoryStore::new(db),
        Arc::new(first.fx.clock.clone()),
        InventoryConfig::default(),
    ))
}

#[tokio::test]
async fn the_same_order_twice_in_one_batch_gets_one_reservation() {
    let b = batching().await;
    b.fx.set("MUG", 10).await;
    let three = order_lines(&[("MUG", 3)]);
    let five = order_lines(&[("MUG", 5)]);
    let one = order_lines(&[("MUG", 1)]);

    let results = in_one_batch(vec![
        call(&b.fx.inventory, "ord-1", &three),
        call(&b.fx.inventory, "ord-2", &one),
        // The same order again, with other lines: it gets the order's reservation.
        call(&b.fx.inventory, "ord-1", &five),
        call(&b.fx.inventory, "ord-1", &three),
    ])
    .await;

    let first = results[0].as_ref().unwrap();
    assert_eq!(results[2].as_ref().unwrap(), first);
    assert_eq!(results[3].as_ref().unwrap(), first);
    assert_eq!(first.lines[0].quantity, 3);
    assert!(results[1].is_ok());
    assert_eq!(b.fx.level("MUG").await, (10, 4));
    assert_eq!(b.fx.count("inventory_reservations").await, 2);
    assert_eq!(b.fx.inventory.reservation("ord-1").await.unwrap(), *first);
    assert_eq!(reserved_events(&b.fx).await, 2);
}

#[tokio::test]
async fn a_request_after_a_refused_one_for_the_same_order_is_tried_on_its_own() {
    let b = batching().await;
    b.fx.set("MUG", 2).await;
    let too_many = order_lines(&[("MUG", 5)]);
    let one = order_lines(&[("MUG", 1)]);

    let results = in_one_batch(vec![
        call(&b.fx.inventory, "ord-1", &too_many),
        call(&b.fx.inventory, "ord-1", &one),
    ])
    .await;

    // As if they had come one after the other: the refusal left no reservation behind, so the
    // second is reserved (in the next batch).
    assert_eq!(
        results[0].as_ref().unwrap_err().shortages(),
        [shortage("MUG", 5, 2)]
    );
    assert_eq!(results[1].as_ref().unwrap().lines[0].quantity, 1);
    assert_eq!(b.fx.level("MUG").await, (2, 1));
    let stats = b.service.reserve_batch_stats();
    assert_eq!((stats.batches, stats.requests), (2, 2));
}

#[tokio::test]
async fn a_caller_that_gives_up_while_queued_is_left_out_of_its_batch() {
    let b = batching().await;
    b.fx.set("MUG", 10).await;
    let one = order_lines(&[("MUG", 1)]);
    let mut calls = vec![
        call(&b.fx.inventory, "ord-1", &one),
        call(&b.fx.inventory, "ord-2", &one),
        call(&b.fx.inventory, "ord-3", &one),
    ];
    for call in &mut calls {
        enqueue(call).await;
    }
    let kept = calls.remove(2);
    drop(calls.remove(1));
    let first = calls.remove(0);

    assert!(first.await.is_ok());
    assert!(kept.await.is_ok());
    assert!(matches!(
        b.fx.inventory.reservation("ord-2").await,
        Err(InventoryError::ReservationNotFound { .. })
    ));
    assert_eq!(b.fx.level("MUG").await, (10, 2));
    let stats = b.service.reserve_batch_stats();
    assert_eq!((stats.batches, stats.requests), (1, 2));
}

#[tokio::test]
async fn a_batch_whose_transaction_fails_fails_every_caller_and_reserves_nothing() {
    let b = batching().await;
    b.fx.set("MUG", 10).await;
    // Without its outbox the batch's last insert fails, after its stock updates.
    b.fx.execute("ALTER TABLE inventory_outbox RENAME TO inventory_outbox_away")
        .await
        .unwrap();
    let one = order_lines(&[("MUG", 1)]);

    let results = in_one_batch(vec![
        call(&b.fx.inventory, "ord-1", &one),
        call(&b.fx.inventory, "ord-2", &one),
    ])
    .await;

    for result in &results {
        let err = result.as_ref().unwrap_err();
        assert_eq!(
            err.problem_type().category,
            ErrorCategory::Internal,
            "{err:?}"
        );
        assert!(err.shortages().is_empty());
    }
    b.fx.execute("ALTER TABLE inventory_outbox_away RENAME TO inventory_outbox")
        .await
        .unwrap();
    assert_eq!(b.fx.level("MUG").await, (10, 0));
    assert_eq!(b.fx.count("inventory_reservations").await, 0);

    // The batcher goes on: the next call is reserved.
    b.fx.reserve("ord-1", &[("MUG", 1)]).await.unwrap();
    assert_eq!(b.fx.level("MUG").await, (10, 1));
}

/// How many `inventory.reserved` events were recorded, paging through all of them.
async fn reserved_events(fx: &Fixture) -> usize {
    let mut count = 0;
    let mut after = None;
    loop {
        let page = fx.inventory.events(after, EVENTS_PAGE_MAX).await.unwrap();
        let Some(last) = page.last() else {
            return count;
        };
        after = Some(last.id);
        count += page
            .iter()
            .filter(|e| e.event_type == "inventory.reserved")
            .count();
    }
}

/// Runs every future at once on the runtime's worker threads; their results in the order given.
async fn all_at_once<T, F>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let mut set = JoinSet::new();
    for (i, future) in futures.enumerate() {
        set.spawn(async move { (i, future.await) });
    }
    let mut results: Vec<(usize, T)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        results.push(joined.unwrap());
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, result)| result).collect()
}
