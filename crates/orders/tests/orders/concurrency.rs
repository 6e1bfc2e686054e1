//! Real concurrency: many checkouts and refunds at once on a multi-threaded runtime, over
//! pools of several connections. No in-process lock is involved: the `open_cart_id` key, the
//! saga lease, stock's conditional updates and payments' refund reservation decide.

use kassa_payments::PaymentError;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_checkouts_of_one_cart_make_one_order_and_one_authorization() {
    let f = Arc::new(fixture().await);
    f.stocked("MUG", 50).await;
    let (cart, access) = f.cart(&[("MUG", 2)]).await;

    let checkouts = (0..20)
        .map(|_| {
            let orders = f.orders.clone();
            let request = request(cart, &access, TOKENS.success);
            async move { orders.checkout(request).await }
        })
        .collect();
    let results = all_at_once(checkouts).await;

    let ids: std::collections::HashSet<OrderId> = results
        .iter()
        .map(|result| result.as_ref().unwrap().order.id)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = *ids.iter().next().unwrap();
    assert!(results
        .iter()
        .all(|r| r.as_ref().unwrap().order.status == OrderStatus::Confirmed));
    // Exactly one caller made the order and got its token.
    let tokens = results
        .iter()
        .filter(|r| r.as_ref().unwrap().order_token.is_some())
        .count();
    assert_eq!(tokens, 1);
    let all = f
        .orders
        .orders(OrderFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
    assert_eq!(f.sandbox.authorizations_for(&id.to_string()), 1);
    assert_eq!(f.level("MUG").await, (48, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_buyers_racing_for_twenty_units_get_exactly_twenty_orders() {
    let f = Arc::new(fixture().await);
    f.stocked("MUG", 20).await;
    let mut carts = Vec::new();
    for _ in 0..60 {
        carts.push(f.cart(&[("MUG", 1)]).await);
    }

    let checkouts = carts
        .iter()
        .map(|(cart, access)| {
            let orders = f.orders.clone();
            let request = request(*cart, access, TOKENS.success);
            async move { orders.checkout(request).await }
        })
        .collect();
    let results = all_at_once(checkouts).await;

    let confirmed = results
        .iter()
        .filter(|r| matches!(r, Ok(c) if c.order.status == OrderStatus::Confirmed))
        .count();
    let short = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(OrderError::Inventory(
                    kassa_inventory::InventoryError::InsufficientStock { .. }
                ))
            )
        })
        .count();
    assert_eq!((confirmed, short), (20, 40), "{results:?}");
    assert_eq!(f.level("MUG").await, (0, 0));
    let confirmed_orders = f
        .orders
        .orders(
            OrderFilter {
                status: Some(OrderStatus::Confirmed),
                ..OrderFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(confirmed_orders.items.len(), 20);
    for order in &confirmed_orders.items {
        assert_eq!(f.sandbox.authorizations_for(&order.id.to_string()), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_refunds_never_exceed_what_was_captured() {
    let f = Arc::new(fixture().await);
    let order = f.confirmed("MUG", 2).await;
    let captured = order.captured;
    assert_eq!(captured, total_of(2));

    // Ten refunds of 800 against 2500 captured: at most three fit.
    let refunds = (0..10)
        .map(|_| {
            let orders = f.orders.clone();
            async move { orders.refund(order.id, eur(800)).await }
        })
        .collect();
    let results = all_at_once(refunds).await;

    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(succeeded, 3, "{results:?}");
    assert!(results.iter().all(|r| match r {
        Ok(_) => true,
        Err(OrderError::Payment(PaymentError::RefundExceedsCaptured { .. })) => true,
        Err(_) => false,
    }));
    let after = f.staff_order(order.id).await;
    assert_eq!(after.refunded, eur(2_400));
    assert_eq!(after.captured, captured);
    assert_eq!(after.status, OrderStatus::Confirmed);
    let refund_events = f
        .order_event_types()
        .await
        .into_iter()
        .filter(|t| t == "order.refunded")
        .count();
    assert_eq!(refund_events, 3);
}
