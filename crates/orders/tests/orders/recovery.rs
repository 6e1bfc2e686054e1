//! Crashes: the fault hook stops the saga right after a step is recorded, leaving its lease
//! to expire as a dead process would; a second kassa over the same databases and the same
//! gateway then recovers every checkout — confirmed or compensated, never charged twice.

use kassa_inventory::ReservationStatus;
use kassa_payments::PaymentStatus;

use super::*;

/// Past the saga lease of the crashed driver (60 s by default), well within the TTL.
const PAST_THE_LEASE: Duration = Duration::from_secs(61);

#[tokio::test]
async fn a_checkout_interrupted_after_any_step_is_completed_by_recovery() {
    for step in [
        SagaStep::Reserve,
        SagaStep::Authorize,
        SagaStep::Commit,
        SagaStep::Capture,
        SagaStep::CloseCart,
    ] {
        let f = fixture_with(crashing_after(step)).await;
        f.stocked("MUG", 5).await;
        let (cart, access) = f.cart(&[("MUG", 2)]).await;

        let err = f.checkout(cart, &access, TOKENS.success).await.unwrap_err();
        assert!(
            matches!(err, OrderError::Interrupted { step: s, .. } if s == step),
            "{step:?}: {err:?}"
        );
        let id = f
            .orders
            .orders(OrderFilter::default(), None, 1)
            .await
            .unwrap()
            .items[0]
            .id;
        // Another request for the same cart finds the order owned by the dead driver and
        // answers with it as it stands rather than making a second order.
        let restarted = f.restarted(OrdersConfig {
            follow_wait: Duration::from_millis(100),
            ..OrdersConfig::default()
        });
        let follower = restarted
            .orders
            .checkout(request(cart, &access, TOKENS.success))
            .await
            .unwrap();
        assert_eq!(follower.order.id, id, "{step:?}");
        // Before the lease lapses, recovery leaves it to its driver.
        let early = restarted.orders.recover(f.clock.now()).await.unwrap();
        assert_eq!(early, RecoveryReport::default(), "{step:?}");

        f.clock.advance(PAST_THE_LEASE);
        let report = restarted.orders.recover(f.clock.now()).await.unwrap();

        // Interrupted after closing the cart, the saga was done already.
        let completed = u32::from(step != SagaStep::CloseCart);
        assert_eq!(report.completed, completed, "{step:?}: {report:?}");
        let order = restarted
            .orders
            .order(id, &OrderAccess::Staff)
            .await
            .unwrap();
        assert_eq!(order.status, OrderStatus::Confirmed, "{step:?}");
        assert_eq!(order.saga_step, SagaStep::Done, "{step:?}");
        assert_eq!(order.captured, total_of(2), "{step:?}");
        assert_eq!(f.level("MUG").await, (3, 0), "{step:?}");
        assert_eq!(f.sandbox.authorizations_for(&id.to_string()), 1, "{step:?}");
        let placed = f
            .order_event_types()
            .await
            .iter()
            .filter(|t| *t == "order.placed")
            .count();
        assert_eq!(placed, 1, "{step:?}");
        // Nothing is left to recover.
        let later = restarted.orders.recover(f.clock.now()).await.unwrap();
        assert_eq!(later, RecoveryReport::default(), "{step:?}");
    }
}

#[tokio::test]
async fn a_checkout_interrupted_after_authorizing_is_compensated_when_its_ttl_passed() {
    let f = fixture_with(crashing_after(SagaStep::Authorize)).await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 2)]).await;
    f.checkout(cart, &access, TOKENS.success).await.unwrap_err();
    let id = f
        .orders
        .orders(OrderFilter::default(), None, 1)
        .await
        .unwrap()
        .items[0]
        .id;
    assert_eq!(f.level("MUG").await, (5, 2));

    f.clock.advance(Duration::from_secs(11 * 60));
    let restarted = f.restarted(OrdersConfig::default());
    let report = restarted.orders.recover(f.clock.now()).await.unwrap();

    assert_eq!(report.compensated, 1, "{report:?}");
    let order = restarted
        .orders
        .order(id, &OrderAccess::Staff)
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.close_reason, Some(CloseReason::ReservationExpired));
    assert_eq!(f.level("MUG").await, (5, 0));
    let payment = f.payments.payment(order.payment_id.unwrap()).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Canceled);
    let ledger = f.sandbox.payments_for(&id.to_string());
    assert_eq!(ledger.len(), 1);
    assert!(!ledger[0].is_authorized() && ledger[0].is_voided());
    // The cart was given up: it can be checked out again.
    let again = restarted
        .orders
        .checkout(request(cart, &access, TOKENS.success))
        .await
        .unwrap();
    assert_eq!(again.order.status, OrderStatus::Confirmed);
}

#[tokio::test]
async fn a_declined_checkout_interrupted_before_compensating_is_compensated_by_recovery() {
    let f = fixture_with(crashing_after(SagaStep::Authorize)).await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 1)]).await;
    f.checkout(cart, &access, TOKENS.decline).await.unwrap_err();
    let id = f
        .orders
        .orders(OrderFilter::default(), None, 1)
        .await
        .unwrap()
        .items[0]
        .id;
    assert_eq!(f.staff_order(id).await.saga_step, SagaStep::Compensate);

    f.clock.advance(PAST_THE_LEASE);
    let report = f
        .restarted(OrdersConfig::default())
        .orders
        .recover(f.clock.now())
        .await
        .unwrap();

    assert_eq!(report.compensated, 1);
    let order = f.staff_order(id).await;
    assert_eq!(order.status, OrderStatus::PaymentFailed);
    assert_eq!(f.level("MUG").await, (5, 0));
    let reservation = f.inventory.reservation(&id.to_string()).await.unwrap();
    assert_eq!(reservation.status, ReservationStatus::Released);
}

#[tokio::test]
async fn many_interrupted_checkouts_are_all_confirmed_or_compensated_with_one_authorization_each() {
    let f = fixture_with(crashing_after(SagaStep::Reserve)).await;
    f.stocked("MUG", 3).await;
    // Five checkouts reserve before the crash would not fit: two are short at once.
    let mut ids = Vec::new();
    for token in [
        TOKENS.success,
        TOKENS.decline,
        TOKENS.three_d_secure,
        TOKENS.success,
        TOKENS.success,
    ] {
        let (cart, access) = f.cart(&[("MUG", 1)]).await;
        let result = f.checkout(cart, &access, token).await;
        ids.push((token, result));
    }
    let orders = f
        .orders
        .orders(OrderFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(orders.items.len(), 5);

    f.clock.advance(PAST_THE_LEASE);
    let restarted = f.restarted(OrdersConfig::default());
    let report = restarted.orders.recover(f.clock.now()).await.unwrap();

    // Three reserved (success, decline, 3-D Secure): one is confirmed, one declined, one
    // waits for its challenge. The two past the stock had begun compensating when they
    // stopped; recovery finishes that.
    assert_eq!(report.completed, 1, "{report:?}");
    assert_eq!(report.compensated, 3, "{report:?}");
    assert_eq!(report.open, 1, "{report:?}");
    for order in &orders.items {
        let ledger = f.sandbox.payments_for(&order.id.to_string());
        assert!(f.sandbox.authorizations_for(&order.id.to_string()) <= 1);
        let order = f.staff_order(order.id).await;
        if matches!(
            order.status,
            OrderStatus::Cancelled | OrderStatus::PaymentFailed
        ) {
            assert!(ledger.iter().all(|p| !p.is_authorized()), "{order:?}");
        }
    }
}
