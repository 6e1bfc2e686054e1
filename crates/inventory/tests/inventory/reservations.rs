//! Reserving all or nothing, idempotency by order, commit and release, and the sweeper.

use kassa_kernel::{DomainError, ErrorCategory};
use serde_json::json;

use super::*;

#[tokio::test]
async fn reserve_holds_the_units_for_the_ttl_and_records_the_event() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    fx.set("TSHIRT-RED-M", 3).await;

    let reservation = fx
        .reserve("ord-1", &[("TSHIRT-RED-M", 2), ("MUG", 1)])
        .await
        .unwrap();
    assert_eq!(reservation.order_ref, "ord-1");
    assert_eq!(reservation.status, ReservationStatus::Active);
    let lines: Vec<(&str, u32)> = reservation
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity))
        .collect();
    assert_eq!(lines, [("MUG", 1), ("TSHIRT-RED-M", 2)]);
    assert!(reservation
        .lines
        .iter()
        .all(|l| l.location_id == LocationId::DEFAULT));
    assert_eq!(
        reservation.expires_at,
        Timestamp::from_millis(START_MS + 10 * 60 * 1_000)
    );
    assert_eq!(fx.level("MUG").await, (5, 1));
    assert_eq!(fx.level("TSHIRT-RED-M").await, (3, 2));
    assert_eq!(
        fx.inventory.reservation("ord-1").await.unwrap(),
        reservation
    );

    let events = fx.inventory.events(None, 10).await.unwrap();
    let reserved = events.last().unwrap();
    assert_eq!(reserved.event_type, "inventory.reserved");
    assert_eq!(reserved.aggregate_id, reservation.id.to_string());
    assert_eq!(
        reserved.data,
        json!({
            "reservation_id": reservation.id.to_string(),
            "order_ref": "ord-1",
            "status": "active",
            "expires_at": reservation.expires_at.to_rfc3339(),
            "lines": [
                {"sku": "MUG", "location_id": LocationId::DEFAULT.to_string(), "quantity": 1},
                {"sku": "TSHIRT-RED-M", "location_id": LocationId::DEFAULT.to_string(),
                 "quantity": 2},
            ],
        })
    );
}

#[tokio::test]
async fn a_reservation_whose_second_line_is_short_reserves_nothing() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    fx.set("TSHIRT-RED-M", 1).await;
    let events_before = fx.event_types().await.len();

    // MUG sorts first, so its units are taken before TSHIRT-RED-M turns out short.
    let err = fx
        .reserve("ord-1", &[("MUG", 2), ("TSHIRT-RED-M", 2)])
        .await
        .unwrap_err();
    assert_eq!(err.shortages(), [shortage("TSHIRT-RED-M", 2, 1)]);
    assert_eq!(err.problem_type().code, "insufficient_stock");
    assert_eq!(err.problem_type().category, ErrorCategory::Conflict);
    assert_eq!(
        err.detail(),
        "2 units of TSHIRT-RED-M requested, 1 available."
    );

    assert_eq!(fx.level("MUG").await, (5, 0));
    assert_eq!(fx.level("TSHIRT-RED-M").await, (1, 0));
    assert_eq!(fx.event_types().await.len(), events_before);
    assert_eq!(fx.count("inventory_reservations").await, 0);
    assert_eq!(fx.count("inventory_reservation_lines").await, 0);
    assert!(matches!(
        fx.inventory.reservation("ord-1").await,
        Err(InventoryError::ReservationNotFound { .. })
    ));

    // Nothing was recorded for the order, so it can try again once there is stock.
    fx.set("TSHIRT-RED-M", 2).await;
    fx.reserve("ord-1", &[("MUG", 2), ("TSHIRT-RED-M", 2)])
        .await
        .unwrap();
    assert_eq!(fx.level("TSHIRT-RED-M").await, (2, 2));
}

#[tokio::test]
async fn insufficient_stock_names_every_short_sku() {
    let fx = fixture().await;
    fx.set("A", 1).await;
    fx.set("B", 9).await;
    fx.set("C", 0).await;
    let err = fx
        .reserve("ord-1", &[("D", 1), ("C", 1), ("B", 2), ("A", 3)])
        .await
        .unwrap_err();
    assert_eq!(
        err.shortages(),
        [
            shortage("A", 3, 1),
            shortage("C", 1, 0),
            shortage("D", 1, 0)
        ]
    );
    assert_eq!(
        err.detail(),
        "3 units of A requested, 1 available. 1 unit of C requested, 0 available. \
         1 unit of D requested, 0 available."
    );
    assert_eq!(fx.level("B").await, (9, 0));
}

#[tokio::test]
async fn lines_of_the_same_sku_are_reserved_together() {
    let fx = fixture().await;
    fx.set("MUG", 3).await;
    let err = fx
        .reserve("ord-1", &[("MUG", 2), ("MUG", 2)])
        .await
        .unwrap_err();
    assert_eq!(err.shortages(), [shortage("MUG", 4, 3)]);

    let reservation = fx
        .reserve("ord-2", &[("MUG", 2), ("mug", 1)])
        .await
        .unwrap();
    assert_eq!(reservation.lines.len(), 1);
    assert_eq!(reservation.lines[0].quantity, 3);
    assert_eq!(fx.level("MUG").await, (3, 3));
}

#[tokio::test]
async fn reserving_again_for_the_same_order_returns_the_first_reservation() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    let first = fx.reserve("ord-1", &[("MUG", 2)]).await.unwrap();
    fx.tick();
    let again = fx.reserve("ord-1", &[("MUG", 2)]).await.unwrap();
    assert_eq!(again, first);
    // Even with other lines: the order's reservation is the one it has.
    let other = fx.reserve("ord-1", &[("MUG", 5)]).await.unwrap();
    assert_eq!(other, first);
    assert_eq!(fx.level("MUG").await, (5, 2));
    assert_eq!(
        fx.event_types().await,
        ["inventory.stock_set", "inventory.reserved"]
    );

    // A released reservation is returned as it is, not reserved anew.
    fx.inventory.release("ord-1").await.unwrap();
    let released = fx.reserve("ord-1", &[("MUG", 2)]).await.unwrap();
    assert_eq!(released.status, ReservationStatus::Released);
    assert_eq!(fx.level("MUG").await, (5, 0));
}

#[tokio::test]
async fn invalid_reservation_requests_are_refused_before_any_stock_is_touched() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    let mug = order_lines(&[("MUG", 1)]);
    let too_many = vec![(sku("MUG"), quantity(1)); RESERVATION_LINES_MAX + 1];
    type Case<'a> = (&'a str, &'a [(Sku, Quantity)], Option<Duration>);
    let cases: [Case; 6] = [
        ("ord-1", &[], None),
        ("  ", &mug, None),
        (&"o".repeat(ORDER_REF_LEN_MAX + 1), &mug, None),
        ("ord-1", &too_many, None),
        ("ord-1", &mug, Some(Duration::from_millis(999))),
        (
            "ord-1",
            &mug,
            Some(RESERVATION_TTL_MAX + Duration::from_secs(1)),
        ),
    ];
    for (order_ref, lines, ttl) in cases {
        let err = fx
            .inventory
            .reserve(order_ref.to_owned(), lines, ttl)
            .await
            .unwrap_err();
        assert_eq!(err.problem_type().code, "invalid_reservation", "{err}");
    }
    assert_eq!(fx.level("MUG").await, (5, 0));

    let at_max = vec![(sku("MUG"), quantity(1)); 5];
    let reservation = fx
        .inventory
        .reserve("ord-1".into(), &at_max, Some(RESERVATION_TTL_MAX))
        .await
        .unwrap();
    assert_eq!(
        reservation.expires_at,
        Timestamp::from_millis(START_MS + 24 * 60 * 60 * 1_000)
    );
}

#[tokio::test]
async fn commit_takes_the_units_for_good_once() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    fx.set("CUP", 2).await;
    fx.reserve("ord-1", &[("MUG", 2), ("CUP", 2)])
        .await
        .unwrap();
    fx.tick();

    let committed = fx.inventory.commit("ord-1").await.unwrap();
    assert_eq!(committed.status, ReservationStatus::Committed);
    assert_eq!(
        committed.updated_at,
        Timestamp::from_millis(START_MS + 1_000)
    );
    assert_eq!(fx.level("MUG").await, (3, 0));
    assert_eq!(fx.level("CUP").await, (0, 0));

    let again = fx.inventory.commit("ord-1").await.unwrap();
    assert_eq!(again, committed);
    assert_eq!(fx.level("MUG").await, (3, 0));
    let types = fx.event_types().await;
    assert_eq!(types.last().unwrap(), "inventory.committed");
    assert_eq!(
        types.iter().filter(|t| *t == "inventory.committed").count(),
        1
    );

    let err = fx.inventory.release("ord-1").await.unwrap_err();
    assert!(matches!(err, InventoryError::ReservationCommitted { .. }));
    assert_eq!(err.problem_type().code, "reservation_committed");
    assert_eq!(fx.level("MUG").await, (3, 0));
}

#[tokio::test]
async fn release_gives_the_units_back_once_and_commit_after_it_is_refused() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    fx.reserve("ord-1", &[("MUG", 2)]).await.unwrap();

    let released = fx.inventory.release("ord-1").await.unwrap();
    assert_eq!(released.status, ReservationStatus::Released);
    assert_eq!(fx.level("MUG").await, (5, 0));
    assert_eq!(fx.inventory.release("ord-1").await.unwrap(), released);
    assert_eq!(fx.level("MUG").await, (5, 0));

    let err = fx.inventory.commit("ord-1").await.unwrap_err();
    assert!(matches!(err, InventoryError::ReservationReleased { .. }));
    assert_eq!(err.problem_type().code, "reservation_released");
    assert_eq!(
        err.detail(),
        "The stock reserved for order ord-1 was released and cannot be committed; reserve it \
         again."
    );
    assert_eq!(fx.level("MUG").await, (5, 0));
    assert_eq!(
        fx.event_types().await,
        [
            "inventory.stock_set",
            "inventory.reserved",
            "inventory.released"
        ]
    );
}

#[tokio::test]
async fn an_order_without_a_reservation_is_reservation_not_found() {
    let fx = fixture().await;
    for err in [
        fx.inventory.commit("ord-x").await.unwrap_err(),
        fx.inventory.release("ord-x").await.unwrap_err(),
        fx.inventory.reservation("ord-x").await.unwrap_err(),
    ] {
        assert_eq!(err.problem_type().code, "reservation_not_found");
        assert_eq!(err.detail(), "No stock is reserved for order ord-x.");
    }
    assert!(fx.event_types().await.is_empty());
}

#[tokio::test]
async fn the_sweeper_expires_a_reservation_past_its_ttl_once() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    let early = fx.reserve("ord-early", &[("MUG", 2)]).await.unwrap();
    fx.clock.advance(Duration::from_secs(60));
    fx.reserve("ord-late", &[("MUG", 1)]).await.unwrap();

    // Just before the TTL passes, nothing is due.
    let before = Timestamp::from_millis(early.expires_at.millis() - 1);
    assert_eq!(fx.inventory.expire_due(before, 100).await.unwrap(), 0);
    assert_eq!(fx.level("MUG").await, (5, 3));

    fx.clock.set(early.expires_at);
    let now = fx.clock.now();
    assert_eq!(fx.inventory.expire_due(now, 100).await.unwrap(), 1);
    assert_eq!(fx.level("MUG").await, (5, 1));
    let expired = fx.inventory.reservation("ord-early").await.unwrap();
    assert_eq!(expired.status, ReservationStatus::Expired);
    assert_eq!(expired.updated_at, now);
    assert_eq!(
        fx.inventory.reservation("ord-late").await.unwrap().status,
        ReservationStatus::Active
    );

    // A second sweep finds nothing more to do.
    assert_eq!(fx.inventory.expire_due(now, 100).await.unwrap(), 0);
    assert_eq!(fx.level("MUG").await, (5, 1));

    let err = fx.inventory.commit("ord-early").await.unwrap_err();
    assert!(matches!(err, InventoryError::ReservationExpired { .. }));
    assert_eq!(err.problem_type().code, "reservation_expired");
    assert_eq!(
        err.detail(),
        format!(
            "The stock reserved for order ord-early expired at {} and cannot be committed; \
             reserve it again.",
            early.expires_at
        )
    );
    assert_eq!(fx.inventory.release("ord-early").await.unwrap(), expired);
    assert_eq!(fx.level("MUG").await, (5, 1));
    let types = fx.event_types().await;
    assert_eq!(
        types.iter().filter(|t| *t == "inventory.expired").count(),
        1
    );
    assert_eq!(types.last().unwrap(), "inventory.expired");
}

#[tokio::test]
async fn the_sweeper_expires_at_most_a_batch_and_oldest_first() {
    let fx = fixture().await;
    fx.set("MUG", 10).await;
    for i in 0..5 {
        fx.reserve(&format!("ord-{i}"), &[("MUG", 1)])
            .await
            .unwrap();
        fx.tick();
    }
    fx.clock.advance(Duration::from_secs(3_600));
    let now = fx.clock.now();
    assert_eq!(fx.inventory.expire_due(now, 0).await.unwrap(), 0);
    assert_eq!(fx.inventory.expire_due(now, 2).await.unwrap(), 2);
    let statuses: Vec<ReservationStatus> = {
        let mut statuses = Vec::new();
        for i in 0..5 {
            let r = fx.inventory.reservation(&format!("ord-{i}")).await.unwrap();
            statuses.push(r.status);
        }
        statuses
    };
    use ReservationStatus::{Active, Expired};
    assert_eq!(statuses, [Expired, Expired, Active, Active, Active]);
    assert_eq!(fx.inventory.expire_due(now, 100).await.unwrap(), 3);
    assert_eq!(fx.level("MUG").await, (10, 0));
}

#[tokio::test]
async fn a_commit_after_the_ttl_fails_even_before_the_sweeper_runs() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    let ttl = Duration::from_secs(30);
    let reservation = fx
        .inventory
        .reserve("ord-1".into(), &order_lines(&[("MUG", 2)]), Some(ttl))
        .await
        .unwrap();
    assert_eq!(
        reservation.expires_at,
        Timestamp::from_millis(START_MS + 30_000)
    );

    // Another order, with the default TTL of 10 minutes.
    fx.reserve("ord-2", &[("MUG", 1)]).await.unwrap();
    fx.clock.advance(ttl);
    let err = fx.inventory.commit("ord-1").await.unwrap_err();
    assert!(matches!(err, InventoryError::ReservationExpired { .. }));
    // The commit expired it, as the sweeper would have: units back, one event.
    assert_eq!(fx.level("MUG").await, (5, 1));
    assert_eq!(
        fx.inventory.reservation("ord-1").await.unwrap().status,
        ReservationStatus::Expired
    );
    assert_eq!(fx.event_types().await.last().unwrap(), "inventory.expired");
    assert_eq!(
        fx.inventory.expire_due(fx.clock.now(), 100).await.unwrap(),
        0
    );
    assert!(fx.inventory.commit("ord-1").await.is_err());
    assert_eq!(fx.level("MUG").await, (5, 1));

    // One millisecond before its deadline, a commit goes through.
    fx.clock
        .set(Timestamp::from_millis(START_MS + 10 * 60 * 1_000 - 1));
    let committed = fx.inventory.commit("ord-2").await.unwrap();
    assert_eq!(committed.status, ReservationStatus::Committed);
    assert_eq!(fx.level("MUG").await, (4, 0));
}

#[tokio::test]
async fn events_record_each_change_and_nothing_for_refused_calls() {
    let fx = fixture().await;
    fx.set("MUG", 2).await;
    fx.inventory
        .adjust_stock(sku("MUG"), LocationId::DEFAULT, 1, "found".into())
        .await
        .unwrap();
    fx.reserve("ord-1", &[("MUG", 1)]).await.unwrap();
    fx.reserve("ord-2", &[("MUG", 1)]).await.unwrap();
    fx.reserve("ord-3", &[("MUG", 1)]).await.unwrap();
    // Refused: nothing recorded.
    assert!(fx.reserve("ord-4", &[("MUG", 1)]).await.is_err());
    assert!(fx
        .inventory
        .set_stock(sku("MUG"), LocationId::DEFAULT, 1)
        .await
        .is_err());
    fx.inventory.commit("ord-1").await.unwrap();
    fx.inventory.release("ord-2").await.unwrap();
    assert!(fx.inventory.commit("ord-2").await.is_err());
    fx.clock.advance(RESERVATION_TTL_DEFAULT);
    fx.inventory.expire_due(fx.clock.now(), 10).await.unwrap();
    // Idempotent repeats: nothing recorded.
    fx.inventory.commit("ord-1").await.unwrap();
    fx.inventory.release("ord-2").await.unwrap();
    fx.reserve("ord-1", &[("MUG", 1)]).await.unwrap();

    assert_eq!(
        fx.event_types().await,
        [
            "inventory.stock_set",
            "inventory.stock_adjusted",
            "inventory.reserved",
            "inventory.reserved",
            "inventory.reserved",
            "inventory.committed",
            "inventory.released",
            "inventory.expired",
        ]
    );
    let events = fx.inventory.events(None, 100).await.unwrap();
    let orders: Vec<&str> = events[2..]
        .iter()
        .map(|e| e.data["order_ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        orders,
        ["ord-1", "ord-2", "ord-3", "ord-1", "ord-2", "ord-3"]
    );
    assert_eq!(events[5].data["status"], "committed");

    let page = fx.inventory.events(Some(events[5].id), 2).await.unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].id, events[6].id);
    assert_eq!(fx.level("MUG").await, (2, 0));
}

#[tokio::test]
async fn restock_puts_a_committed_reservations_units_back_on_hand_once() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    fx.set("TSHIRT-RED-M", 3).await;
    fx.reserve("ord-1", &[("TSHIRT-RED-M", 2), ("MUG", 1)])
        .await
        .unwrap();
    fx.inventory.commit("ord-1").await.unwrap();
    assert_eq!(fx.level("MUG").await, (4, 0));
    assert_eq!(fx.level("TSHIRT-RED-M").await, (1, 0));
    fx.tick();

    let restocked = fx.inventory.restock("ord-1").await.unwrap();
    let again = fx.inventory.restock("ord-1").await.unwrap();

    assert_eq!(restocked.status, ReservationStatus::Committed);
    assert_eq!(again, restocked);
    assert_eq!(fx.level("MUG").await, (5, 0));
    assert_eq!(fx.level("TSHIRT-RED-M").await, (3, 0));
    assert_eq!(fx.count("inventory_restocks").await, 1);
    let events = fx.inventory.events(None, EVENTS_PAGE_MAX).await.unwrap();
    let restocks: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "inventory.restocked")
        .collect();
    assert_eq!(restocks.len(), 1);
    assert_eq!(restocks[0].data["order_ref"], json!("ord-1"));
    assert_eq!(restocks[0].data["lines"][0]["quantity"], json!(1));
    assert_eq!(restocks[0].occurred_at, fx.clock.now());
}

#[tokio::test]
async fn restock_refuses_a_reservation_that_is_not_committed() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    fx.reserve("ord-active", &[("MUG", 1)]).await.unwrap();
    fx.reserve("ord-released", &[("MUG", 1)]).await.unwrap();
    fx.inventory.release("ord-released").await.unwrap();

    for (order_ref, status) in [
        ("ord-active", ReservationStatus::Active),
        ("ord-released", ReservationStatus::Released),
    ] {
        let err = fx.inventory.restock(order_ref).await.unwrap_err();
        assert!(
            matches!(&err, InventoryError::ReservationNotCommitted { status: s, .. } if *s == status),
            "{err:?}"
        );
        assert_eq!(err.problem_type().code, "reservation_not_committed");
        assert_eq!(err.problem_type().category, ErrorCategory::Conflict);
    }
    assert!(matches!(
        fx.inventory.restock("ord-none").await,
        Err(InventoryError::ReservationNotFound { .. })
    ));
    assert_eq!(fx.level("MUG").await, (5, 1));
    assert_eq!(fx.count("inventory_restocks").await, 0);
}
