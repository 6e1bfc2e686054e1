//! Stock levels, locations and staff adjustments, and the database's own refusal of a level
//! that breaks `0 <= reserved <= on_hand`.

use kassa_kernel::DomainError;
use serde_json::json;

use super::*;

#[tokio::test]
async fn the_migration_creates_the_default_location() {
    let fx = fixture().await;
    let locations = fx.inventory.locations().await.unwrap();
    assert_eq!(locations.len(), 1);
    assert_eq!(locations[0].id, LocationId::DEFAULT);
    assert_eq!(locations[0].name.as_str(), "Default");
}

#[tokio::test]
async fn set_stock_creates_stock_on_first_set_and_replaces_it_after() {
    let fx = fixture().await;
    let first = fx.set("tshirt-red-m", 10).await;
    assert_eq!(first.sku, sku("TSHIRT-RED-M"));
    assert_eq!(
        (first.on_hand, first.reserved, first.available()),
        (10, 0, 10)
    );
    assert_eq!(first.updated_at, Timestamp::from_millis(START_MS));

    fx.tick();
    let second = fx.set("TSHIRT-RED-M", 4).await;
    assert_eq!((second.on_hand, second.reserved), (4, 0));
    assert_eq!(second.updated_at, Timestamp::from_millis(START_MS + 1_000));
    assert_eq!(fx.level("TSHIRT-RED-M").await, (4, 0));

    let events = fx.inventory.events(None, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].event_type, "inventory.stock_set");
    assert_eq!(events[1].aggregate_id, "TSHIRT-RED-M");
    assert_eq!(
        events[1].data,
        json!({"sku": "TSHIRT-RED-M", "location_id": LocationId::DEFAULT.to_string(),
               "on_hand": 4, "reserved": 0})
    );
}

#[tokio::test]
async fn a_sku_never_stocked_has_no_levels_and_zero_totals() {
    let fx = fixture().await;
    let summary = fx.inventory.stock(sku("GHOST")).await.unwrap();
    assert!(summary.levels.is_empty());
    assert_eq!(
        (summary.on_hand, summary.reserved, summary.available),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn stock_adds_up_the_levels_of_every_location() {
    let fx = fixture().await;
    let name = LocationName::parse("Berlin warehouse").unwrap();
    let berlin = fx.inventory.create_location(name).await.unwrap();
    fx.set("MUG", 5).await;
    fx.inventory
        .set_stock(sku("MUG"), berlin.id, 7)
        .await
        .unwrap();
    fx.reserve("ord-1", &[("MUG", 2)]).await.unwrap();

    let summary = fx.inventory.stock(sku("MUG")).await.unwrap();
    assert_eq!(summary.levels.len(), 2);
    assert_eq!(
        (summary.on_hand, summary.reserved, summary.available),
        (12, 2, 10)
    );
    assert_eq!(summary.at(LocationId::DEFAULT).unwrap().available(), 3);
    assert_eq!(summary.at(berlin.id).unwrap().available(), 7);

    let locations = fx.inventory.locations().await.unwrap();
    assert_eq!(locations.len(), 2);
    assert_eq!(locations[1], berlin);
    assert_eq!(fx.event_types().await[0], "inventory.location_created");
}

#[tokio::test]
async fn stock_many_gives_one_summary_per_distinct_sku_in_the_order_asked() {
    let fx = fixture().await;
    fx.set("A", 1).await;
    fx.set("B", 2).await;
    let skus = [sku("B"), sku("NONE"), sku("A"), sku("B")];
    let summaries = fx.inventory.stock_many(&skus).await.unwrap();
    let got: Vec<(&str, u64)> = summaries
        .iter()
        .map(|s| (s.sku.as_str(), s.available))
        .collect();
    assert_eq!(got, [("B", 2), ("NONE", 0), ("A", 1)]);
    assert!(fx.inventory.stock_many(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn stock_many_takes_up_to_the_maximum_number_of_skus() {
    let fx = fixture().await;
    let skus: Vec<Sku> = (0..=STOCK_MANY_SKUS_MAX)
        .map(|i| sku(&format!("SKU-{i}")))
        .collect();
    let at_max = fx
        .inventory
        .stock_many(&skus[..STOCK_MANY_SKUS_MAX])
        .await
        .unwrap();
    assert_eq!(at_max.len(), STOCK_MANY_SKUS_MAX);
    let err = fx.inventory.stock_many(&skus).await.unwrap_err();
    assert!(matches!(
        err,
        InventoryError::TooManySkus {
            count: 501,
            max: 500
        }
    ));
    assert_eq!(err.problem_type().code, "too_many_skus");
}

#[tokio::test]
async fn setting_stock_below_what_is_reserved_is_refused_and_changes_nothing() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    fx.reserve("ord-1", &[("MUG", 3)]).await.unwrap();
    let events_before = fx.event_types().await.len();

    let err = fx
        .inventory
        .set_stock(sku("MUG"), LocationId::DEFAULT, 2)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        InventoryError::StockBelowReserved {
            on_hand: 2,
            reserved: 3,
            ..
        }
    ));
    assert_eq!(err.problem_type().code, "stock_below_reserved");
    assert_eq!(
        err.detail(),
        format!(
            "MUG cannot have 2 on hand at location {}: 3 are reserved for orders.",
            LocationId::DEFAULT
        )
    );
    assert_eq!(fx.level("MUG").await, (5, 3));
    assert_eq!(fx.event_types().await.len(), events_before);

    // Exactly what is reserved is allowed: nothing is left available.
    fx.set("MUG", 3).await;
    assert_eq!(fx.level("MUG").await, (3, 3));
}

#[tokio::test]
async fn set_stock_is_refused_above_the_maximum_and_at_an_unknown_location() {
    let fx = fixture().await;
    let at_max = fx.set("MUG", STOCK_ON_HAND_MAX).await;
    assert_eq!(at_max.on_hand, STOCK_ON_HAND_MAX);
    let err = fx
        .inventory
        .set_stock(sku("MUG"), LocationId::DEFAULT, STOCK_ON_HAND_MAX + 1)
        .await
        .unwrap_err();
    assert_eq!(err.problem_type().code, "invalid_stock_level");

    let nowhere = LocationId::new();
    let err = fx
        .inventory
        .set_stock(sku("MUG"), nowhere, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, InventoryError::LocationNotFound(id) if id == nowhere));
    assert_eq!(fx.event_types().await, ["inventory.stock_set"]);
}

#[tokio::test]
async fn adjust_stock_adds_and_removes_units_and_records_why() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    fx.tick();
    let added = fx
        .inventory
        .adjust_stock(sku("MUG"), LocationId::DEFAULT, 3, "  delivery 42 ".into())
        .await
        .unwrap();
    assert_eq!(added.delta, 3);
    assert_eq!(added.reason.as_str(), "delivery 42");
    assert_eq!(added.level.on_hand, 8);
    assert_eq!(added.at, Timestamp::from_millis(START_MS + 1_000));
    let removed = fx
        .inventory
        .adjust_stock(sku("MUG"), LocationId::DEFAULT, -8, "broken".into())
        .await
        .unwrap();
    assert_eq!(removed.level.on_hand, 0);
    assert_eq!(fx.level("MUG").await, (0, 0));

    let rows = kassa_db::query(
        "SELECT id, sku, location_id, delta, reason, on_hand_after, at_ms \
         FROM inventory_adjustments ORDER BY id",
    )
    .fetch_all(fx.db.reader())
    .await
    .unwrap();
    let stored: Vec<(String, i64, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("sku").unwrap(),
                r.try_get("delta").unwrap(),
                r.try_get("reason").unwrap(),
                r.try_get("on_hand_after").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stored,
        [
            ("MUG".to_owned(), 3, "delivery 42".to_owned(), 8),
            ("MUG".to_owned(), -8, "broken".to_owned(), 0)
        ]
    );
    assert_eq!(
        rows[0].try_get::<String, _>("id").unwrap(),
        added.id.to_string()
    );

    let events = fx.inventory.events(None, 10).await.unwrap();
    assert_eq!(events[1].event_type, "inventory.stock_adjusted");
    assert_eq!(
        events[1].data,
        json!({"adjustment_id": added.id.to_string(), "sku": "MUG",
               "location_id": LocationId::DEFAULT.to_string(), "delta": 3,
               "reason": "delivery 42", "on_hand": 8, "reserved": 0})
    );
}

#[tokio::test]
async fn adjusting_stock_that_was_never_set_is_stock_not_found() {
    let fx = fixture().await;
    let err = fx
        .inventory
        .adjust_stock(sku("GHOST"), LocationId::DEFAULT, 1, "found one".into())
        .await
        .unwrap_err();
    assert!(matches!(err, InventoryError::StockNotFound { .. }));
    assert_eq!(err.problem_type().code, "stock_not_found");
    assert!(fx.event_types().await.is_empty());
    assert_eq!(fx.count("inventory_adjustments").await, 0);
}

#[tokio::test]
async fn adjustments_that_would_break_the_stock_are_refused_and_leave_no_trace() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    fx.reserve("ord-1", &[("MUG", 2)]).await.unwrap();
    let events_before = fx.event_types().await.len();
    let adjust = |delta: i64, reason: &str| {
        fx.inventory
            .adjust_stock(sku("MUG"), LocationId::DEFAULT, delta, reason.to_owned())
    };

    let below_reserved = adjust(-4, "recount").await.unwrap_err();
    assert!(matches!(
        below_reserved,
        InventoryError::StockBelowReserved {
            on_hand: 1,
            reserved: 2,
            ..
        }
    ));
    let below_zero = adjust(-6, "recount").await.unwrap_err();
    assert_eq!(below_zero.problem_type().code, "invalid_stock_adjustment");
    assert_eq!(
        below_zero.detail(),
        "The stock adjustment is invalid: removing 6 units would leave MUG below zero: 5 on \
         hand."
    );
    let above_max = adjust(i64::from(STOCK_ON_HAND_MAX), "typo")
        .await
        .unwrap_err();
    assert_eq!(above_max.problem_type().code, "invalid_stock_adjustment");
    for (delta, reason) in [(0, "nothing"), (1, "   "), (1, &"x".repeat(201)[..])] {
        let err = adjust(delta, reason).await.unwrap_err();
        assert_eq!(err.problem_type().code, "invalid_stock_adjustment", "{err}");
    }

    // Down to exactly what is reserved is allowed.
    assert_eq!(adjust(-3, "recount").await.unwrap().level.on_hand, 2);
    assert_eq!(fx.level("MUG").await, (2, 2));
    assert_eq!(fx.event_types().await.len(), events_before + 1);
    assert_eq!(fx.count("inventory_adjustments").await, 1);
}

#[tokio::test]
async fn the_database_itself_refuses_a_level_that_breaks_the_invariant() {
    let fx = fixture().await;
    fx.set("MUG", 5).await;
    fx.reserve("ord-1", &[("MUG", 2)]).await.unwrap();

    // These bypass the service: only the table's CHECK constraints stand in the way.
    for sql in [
        "UPDATE inventory_stock SET reserved = on_hand + 1 WHERE sku = 'MUG'",
        "UPDATE inventory_stock SET reserved = -1 WHERE sku = 'MUG'",
        "UPDATE inventory_stock SET on_hand = 1 WHERE sku = 'MUG'",
        "UPDATE inventory_stock SET on_hand = -1, reserved = -1 WHERE sku = 'MUG'",
        "UPDATE inventory_stock SET on_hand = 1000000001 WHERE sku = 'MUG'",
        "INSERT INTO inventory_stock (sku, location_id, on_hand, reserved, updated_at_ms) \
         VALUES ('CUP', 'loc_00000000000000000000000000000000', 1, 2, 0)",
    ] {
        let err = fx.execute(sql).await.unwrap_err();
        assert!(err.is_check_violation(), "{sql}: {err:?}");
    }
    assert_eq!(fx.level("MUG").await, (5, 2));
    assert_eq!(
        fx.execute("UPDATE inventory_stock SET reserved = on_hand WHERE sku = 'MUG'")
            .await
            .unwrap(),
        1
    );
}
