//! Real concurrency: many tasks on a multi-threaded runtime calling the service at once over a
//! pool of several connections. On SQLite the single writer serialises them; on PostgreSQL the
//! stock rows' locks and the conditional updates do. Either way: no oversell, nothing partial,
//! and every status change applied once.

use std::collections::HashMap;

use tokio::task::JoinSet;

use super::*;

/// Connections in the pool of these tests: several, so calls really overlap on PostgreSQL.
const POOL_CONNECTIONS: u32 = 8;

/// Runs every future at once on the runtime's worker threads and returns their results in the
/// order given.
async fn all_at_once<T, F>(futures: Vec<F>) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let mut set = JoinSet::new();
    for (i, future) in futures.into_iter().enumerate() {
        set.spawn(async move { (i, future.await) });
    }
    let mut results: Vec<(usize, T)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        results.push(joined.unwrap());
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, result)| result).collect()
}

fn is_insufficient(result: &Result<Reservation, InventoryError>) -> bool {
    matches!(result, Err(InventoryError::InsufficientStock { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_buyers_racing_for_fifty_units_reserve_exactly_fifty() {
    let fx = fixture_with_pool(POOL_CONNECTIONS).await;
    fx.set("FLASH", 50).await;

    let buyers = (0..200)
        .map(|i| {
            let inventory = fx.inventory.clone();
            async move {
                let lines = order_lines(&[("FLASH", 1)]);
                inventory.reserve(format!("ord-{i}"), &lines, None).await
            }
        })
        .collect();
    let results = all_at_once(buyers).await;

    let won: Vec<&Reservation> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 50);
    for result in results.iter().filter(|r| r.is_err()) {
        assert!(is_insufficient(result), "{result:?}");
        assert_eq!(result.as_ref().unwrap_err().shortages()[0].available, 0);
    }
    assert_eq!(fx.level("FLASH").await, (50, 50));

    let commits = won
        .iter()
        .map(|reservation| {
            let inventory = fx.inventory.clone();
            let order_ref = reservation.order_ref.clone();
            async move { inventory.commit(&order_ref).await }
        })
        .collect();
    for result in all_at_once(commits).await {
        assert_eq!(result.unwrap().status, ReservationStatus::Committed);
    }
    assert_eq!(fx.level("FLASH").await, (0, 0));

    let types = fx.event_types_all().await;
    assert_eq!(types.get("inventory.reserved"), Some(&50));
    assert_eq!(types.get("inventory.committed"), Some(&50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buyers_of_two_skus_with_multi_line_orders_get_all_or_nothing() {
    let fx = fixture_with_pool(POOL_CONNECTIONS).await;
    fx.set("HAT", 30).await;
    fx.set("SCARF", 40).await;
    // Three kinds of order, listed in different SKU orders so that lock order matters, one
    // with the same SKU twice. Together they want 200 hats and 150 scarves.
    let kinds: [&[(&str, u32)]; 3] = [
        &[("SCARF", 1), ("HAT", 1)],
        &[("HAT", 2)],
        &[("SCARF", 1), ("HAT", 1), ("SCARF", 1)],
    ];
    let orders: Vec<Vec<(Sku, Quantity)>> = (0..150).map(|i| order_lines(kinds[i % 3])).collect();

    let buyers = orders
        .iter()
        .enumerate()
        .map(|(i, lines)| {
            let inventory = fx.inventory.clone();
            let lines = lines.clone();
            async move { inventory.reserve(format!("ord-{i}"), &lines, None).await }
        })
        .collect();
    let results = all_at_once(buyers).await;

    // What the winners hold is exactly what is reserved: no partial reservation anywhere.
    let mut held: HashMap<String, u32> = HashMap::new();
    for reservation in results.iter().filter_map(|r| r.as_ref().ok()) {
        for line in &reservation.lines {
            *held.entry(line.sku.to_string()).or_default() += line.quantity;
        }
    }
    for result in results.iter().filter(|r| r.is_err()) {
        assert!(is_insufficient(result), "{result:?}");
    }
    let hats = fx.level("HAT").await;
    let scarves = fx.level("SCARF").await;
    assert_eq!(hats, (30, held.get("HAT").copied().unwrap_or(0)));
    assert_eq!(scarves, (40, held.get("SCARF").copied().unwrap_or(0)));
    assert!(hats.1 <= 30 && scarves.1 <= 40);
    // Stock only went down while they raced, so every refused order is still short now.
    let available = |code: &str| match code {
        "HAT" => hats.0 - hats.1,
        _ => scarves.0 - scarves.1,
    };
    for (lines, result) in orders.iter().zip(&results) {
        if result.is_err() {
            let mut wanted: HashMap<&str, u32> = HashMap::new();
            for (sku, quantity) in lines {
                *wanted.entry(sku.as_str()).or_default() += quantity.get();
            }
            assert!(wanted.iter().any(|(code, n)| available(code) < *n));
        }
    }
    assert_eq!(
        fx.count("inventory_reservations").await,
        i64::try_from(results.iter().filter(|r| r.is_ok()).count()).unwrap()
    );

    let commits = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|reservation| {
            let inventory = fx.inventory.clone();
            let order_ref = reservation.order_ref.clone();
            async move { inventory.commit(&order_ref).await }
        })
        .collect();
    for result in all_at_once(commits).await {
        result.unwrap();
    }
    assert_eq!(fx.level("HAT").await, (30 - hats.1, 0));
    assert_eq!(fx.level("SCARF").await, (40 - scarves.1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_order_reserved_twenty_times_at_once_is_reserved_once() {
    let fx = fixture_with_pool(POOL_CONNECTIONS).await;
    fx.set("MUG", 10).await;
    let attempts = (0..20)
        .map(|_| {
            let inventory = fx.inventory.clone();
            async move {
                let lines = order_lines(&[("MUG", 3)]);
                inventory.reserve("ord-1".to_owned(), &lines, None).await
            }
        })
        .collect();
    let results = all_at_once(attempts).await;
    let first = results[0].as_ref().unwrap();
    for result in &results {
        assert_eq!(result.as_ref().unwrap(), first);
    }
    assert_eq!(fx.level("MUG").await, (10, 3));
    assert_eq!(fx.count("inventory_reservations").await, 1);
    assert_eq!(
        fx.event_types_all().await.get("inventory.reserved"),
        Some(&1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_commits_and_releases_of_one_reservation_apply_once() {
    let fx = fixture_with_pool(POOL_CONNECTIONS).await;
    fx.set("MUG", 20).await;
    for i in 0..20 {
        fx.reserve(&format!("ord-{i}"), &[("MUG", 1)])
            .await
            .unwrap();
    }

    // Per order: two commits and two releases at once.
    let calls = (0..80)
        .map(|n| {
            let inventory = fx.inventory.clone();
            let order_ref = format!("ord-{}", n % 20);
            async move {
                let result = if n % 40 < 20 {
                    inventory.commit(&order_ref).await
                } else {
                    inventory.release(&order_ref).await
                };
                (order_ref, n % 40 < 20, result)
            }
        })
        .collect();
    let results = all_at_once(calls).await;

    let mut committed = 0;
    for i in 0..20 {
        let order_ref = format!("ord-{i}");
        let status = fx.inventory.reservation(&order_ref).await.unwrap().status;
        for (_, is_commit, result) in results.iter().filter(|(o, _, _)| *o == order_ref) {
            match (status, is_commit, result) {
                (ReservationStatus::Committed, true, Ok(_))
                | (ReservationStatus::Released, false, Ok(_))
                | (
                    ReservationStatus::Committed,
                    false,
                    Err(InventoryError::ReservationCommitted { .. }),
                )
                | (
                    ReservationStatus::Released,
                    true,
                    Err(InventoryError::ReservationReleased { .. }),
                ) => {}
                other => panic!("{order_ref}: unexpected {other:?}"),
            }
        }
        if status == ReservationStatus::Committed {
            committed += 1;
        }
    }
    assert_eq!(fx.level("MUG").await, (20 - committed, 0));
    let types = fx.event_types_all().await;
    let finished = types.get("inventory.committed").copied().unwrap_or(0)
        + types.get("inventory.released").copied().unwrap_or(0);
    assert_eq!(finished, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sweepers_and_releases_racing_give_each_reservation_back_once() {
    let fx = fixture_with_pool(POOL_CONNECTIONS).await;
    fx.set("MUG", 30).await;
    for i in 0..30 {
        fx.reserve(&format!("ord-{i}"), &[("MUG", 1)])
            .await
            .unwrap();
    }
    fx.clock.advance(RESERVATION_TTL_DEFAULT);
    let now = fx.clock.now();

    let sweeps = (0..2)
        .map(|_| {
            let inventory = fx.inventory.clone();
            async move { inventory.expire_due(now, EXPIRE_BATCH_MAX).await.unwrap() }
        })
        .collect();
    let releases = (0..30)
        .map(|i| {
            let inventory = fx.inventory.clone();
            async move { inventory.release(&format!("ord-{i}")).await.unwrap() }
        })
        .collect();
    let (expired, released) = tokio::join!(all_at_once(sweeps), all_at_once(releases));

    let types = fx.event_types_all().await;
    let expired_events = types.get("inventory.expired").copied().unwrap_or(0);
    let released_events = types.get("inventory.released").copied().unwrap_or(0);
    assert_eq!(expired.iter().sum::<u32>(), expired_events);
    assert_eq!(expired_events + released_events, 30);
    // A release that lost to a sweeper reports the expired reservation; one that won, its own.
    let finished_by_release = released
        .iter()
        .filter(|r| r.status == ReservationStatus::Released)
        .count();
    assert_eq!(u32::try_from(finished_by_release).unwrap(), released_events);
    assert_eq!(fx.level("MUG").await, (30, 0));
}

impl Fixture {
    /// How many events of each type were recorded (paging through all of them).
    async fn event_types_all(&self) -> HashMap<String, u32> {
        let mut counts = HashMap::new();
        let mut after = None;
        loop {
            let page = self.inventory.events(after, EVENTS_PAGE_MAX).await.unwrap();
            let Some(last) = page.last() else {
                return counts;
            };
            after = Some(last.id);
            for event in page {
                *counts.entry(event.event_type).or_default() += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_restocks_of_one_order_put_the_units_back_once() {
    let fx = Arc::new(fixture_with_pool(POOL_CONNECTIONS).await);
    fx.set("MUG", 5).await;
    fx.reserve("ord-1", &[("MUG", 2)]).await.unwrap();
    fx.inventory.commit("ord-1").await.unwrap();
    assert_eq!(fx.level("MUG").await, (3, 0));

    let restocks = (0..10)
        .map(|_| {
            let inventory = fx.inventory.clone();
            async move { inventory.restock("ord-1").await }
        })
        .collect();
    let results = all_at_once(restocks).await;

    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(fx.level("MUG").await, (5, 0));
    assert_eq!(fx.count("inventory_restocks").await, 1);
}
