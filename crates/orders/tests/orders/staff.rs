//! Staff operations: fulfilments, capture, cancel, refunds, delivery, and the order list.

use kassa_kernel::DomainError;
use kassa_payments::PaymentStatus;

use super::*;

fn shipment(lines: Option<Vec<(&str, u32)>>) -> NewFulfilment {
    NewFulfilment {
        lines: lines.map(|lines| {
            lines
                .into_iter()
                .map(|(code, n)| (sku(code), Quantity::new(n).unwrap()))
                .collect()
        }),
        carrier: "DHL".into(),
        tracking_number: "JJD000390007".into(),
    }
}

fn on_fulfilment() -> OrdersConfig {
    OrdersConfig {
        capture: CaptureMode::OnFulfilment,
        ..OrdersConfig::default()
    }
}

#[tokio::test]
async fn fulfilling_part_then_the_rest_then_delivering_moves_the_order_along() {
    let f = fixture().await;
    let order = f.confirmed("MUG", 3).await;

    let partial = f
        .orders
        .fulfil(order.id, shipment(Some(vec![("MUG", 1)])))
        .await
        .unwrap();
    assert_eq!(partial.status, OrderStatus::PartiallyFulfilled);
    assert_eq!(partial.lines[0].fulfilled_quantity, 1);
    let too_many = f
        .orders
        .fulfil(order.id, shipment(Some(vec![("MUG", 3)])))
        .await
        .unwrap_err();
    assert!(
        matches!(too_many, OrderError::InvalidFulfilment(_)),
        "{too_many:?}"
    );
    let unknown = f
        .orders
        .fulfil(order.id, shipment(Some(vec![("HAT", 1)])))
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, OrderError::InvalidFulfilment(_)),
        "{unknown:?}"
    );
    let mut blank = shipment(None);
    blank.carrier = "  ".into();
    assert!(matches!(
        f.orders.fulfil(order.id, blank).await,
        Err(OrderError::InvalidFulfilment(_))
    ));
    let early = f.orders.mark_delivered(order.id).await.unwrap_err();
    assert_eq!(early.problem_type().code, "illegal_order_transition");

    let full = f.orders.fulfil(order.id, shipment(None)).await.unwrap();
    assert_eq!(full.status, OrderStatus::Fulfilled);
    assert_eq!(full.lines[0].fulfilled_quantity, 3);
    assert_eq!(full.fulfilments.len(), 2);
    assert_eq!(
        full.fulfilments[1].lines,
        [(sku("MUG"), Quantity::new(2).unwrap())]
    );
    assert!(matches!(
        f.orders.fulfil(order.id, shipment(None)).await,
        Err(OrderError::IllegalTransition { .. })
    ));
    let cancel = f.orders.cancel(order.id).await.unwrap_err();
    assert!(
        matches!(cancel, OrderError::IllegalTransition { .. }),
        "{cancel:?}"
    );

    let delivered = f.orders.mark_delivered(order.id).await.unwrap();
    assert_eq!(delivered.status, OrderStatus::Delivered);
    assert_eq!(
        f.orders.mark_delivered(order.id).await.unwrap().status,
        OrderStatus::Delivered
    );
    assert_eq!(
        f.order_event_types().await,
        [
            "order.placed",
            "order.captured",
            "order.partially_fulfilled",
            "order.fulfilled",
            "order.delivered"
        ]
    );
}

#[tokio::test]
async fn with_capture_at_fulfilment_the_first_fulfilment_captures() {
    let f = fixture_with(on_fulfilment()).await;
    let order = f.confirmed("MUG", 2).await;
    assert_eq!(order.captured, eur(0));
    let payment = f.payments.payment(order.payment_id.unwrap()).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::RequiresCapture);

    let fulfilled = f
        .orders
        .fulfil(order.id, shipment(Some(vec![("MUG", 1)])))
        .await
        .unwrap();

    assert_eq!(fulfilled.captured, total_of(2));
    let payment = f.payments.payment(order.payment_id.unwrap()).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Succeeded);
    // Capturing by hand afterwards is harmless.
    assert_eq!(
        f.orders.capture(order.id).await.unwrap().captured,
        total_of(2)
    );
    let captured_events = f
        .order_event_types()
        .await
        .into_iter()
        .filter(|t| t == "order.captured")
        .count();
    assert_eq!(captured_events, 1);
}

#[tokio::test]
async fn cancelling_before_capture_voids_the_hold_and_returns_the_stock() {
    let f = fixture_with(on_fulfilment()).await;
    let order = f.confirmed("MUG", 2).await;
    assert_eq!(f.level("MUG").await, (10, 0));

    let cancelled = f.orders.cancel(order.id).await.unwrap();
    let again = f.orders.cancel(order.id).await.unwrap();

    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.close_reason, Some(CloseReason::Staff));
    assert_eq!(again, cancelled);
    assert_eq!(f.level("MUG").await, (12, 0));
    let payment = f.payments.payment(order.payment_id.unwrap()).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Canceled);
    assert!(f.payments.refunds(payment.id()).await.unwrap().is_empty());
    for refused in [
        f.orders.capture(order.id).await.unwrap_err(),
        f.orders.refund(order.id, eur(100)).await.unwrap_err(),
        f.orders.fulfil(order.id, shipment(None)).await.unwrap_err(),
    ] {
        assert!(
            matches!(refused, OrderError::IllegalTransition { .. }),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn cancelling_after_capture_refunds_what_is_left_and_returns_the_stock() {
    let f = fixture().await;
    let order = f.confirmed("MUG", 2).await;
    f.orders.refund(order.id, eur(300)).await.unwrap();

    let cancelled = f.orders.cancel(order.id).await.unwrap();

    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.refunded, total_of(2));
    assert_eq!(f.level("MUG").await, (12, 0));
    let payment = f.payments.payment(order.payment_id.unwrap()).await.unwrap();
    assert_eq!(payment.refunded(), payment.captured());
    let refunds = f.payments.refunds(payment.id()).await.unwrap();
    let amounts: Vec<i64> = refunds.iter().map(|r| r.amount.amount_minor()).collect();
    assert_eq!(amounts, [300, 2_200]);
    let last = f.orders.events(None, 100).await.unwrap().pop().unwrap();
    assert_eq!(last.event_type, "order.cancelled");
    assert_eq!(last.data["confirmed"], true);
}

#[tokio::test]
async fn staff_cancel_ends_a_checkout_waiting_for_three_d_secure() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 1)]).await;
    let waiting = f
        .checkout(cart, &access, TOKENS.three_d_secure)
        .await
        .unwrap();

    let cancelled = f.orders.cancel(waiting.order.id).await.unwrap();

    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.close_reason, Some(CloseReason::Staff));
    assert_eq!(f.level("MUG").await, (5, 0));
    let payment = f
        .payments
        .payment(cancelled.payment_id.unwrap())
        .await
        .unwrap();
    assert_eq!(payment.status(), PaymentStatus::Canceled);
}

#[tokio::test]
async fn refunds_up_to_the_captured_amount_make_the_order_refunded() {
    let f = fixture().await;
    let order = f.confirmed("MUG", 1).await;

    let first = f.orders.refund(order.id, eur(1_000)).await.unwrap();
    assert_eq!(first.order.status, OrderStatus::Confirmed);
    assert_eq!(first.order.refunded, eur(1_000));
    let over = f.orders.refund(order.id, eur(600)).await.unwrap_err();
    assert_eq!(over.problem_type().code, "refund_exceeds_captured");
    let rest = f.orders.refund(order.id, eur(500)).await.unwrap();

    assert_eq!(rest.order.status, OrderStatus::Refunded);
    assert_eq!(rest.order.refunded, total_of(1));
    assert_eq!(rest.refund.amount, eur(500));
    let last = f.orders.events(None, 100).await.unwrap().pop().unwrap();
    assert_eq!(last.event_type, "order.refunded");
    assert_eq!(last.data["fully_refunded"], true);
    assert!(matches!(
        f.orders.cancel(order.id).await,
        Err(OrderError::IllegalTransition { .. })
    ));
}

#[tokio::test]
async fn the_staff_list_filters_and_pages_newest_first() {
    let f = fixture().await;
    f.stocked("MUG", 10).await;
    let mut confirmed = Vec::new();
    for _ in 0..3 {
        let (cart, access) = f.cart(&[("MUG", 1)]).await;
        confirmed.push(
            f.checkout(cart, &access, TOKENS.success)
                .await
                .unwrap()
                .order
                .id,
        );
    }
    let (cart, access) = f.cart(&[("MUG", 1)]).await;
    f.checkout(cart, &access, TOKENS.decline).await.unwrap_err();

    let first = f
        .orders
        .orders(OrderFilter::default(), None, 2)
        .await
        .unwrap();
    let second = f
        .orders
        .orders(OrderFilter::default(), first.next_cursor, 2)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0].status, OrderStatus::PaymentFailed);
    assert_eq!(first.items[1].id, confirmed[2]);
    assert_eq!(
        second.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        [confirmed[1], confirmed[0]]
    );
    assert_eq!(second.next_cursor, None);

    let only_confirmed = OrderFilter {
        status: Some(OrderStatus::Confirmed),
        email: Some(Email::parse("ada@example.com").unwrap()),
        ..OrderFilter::default()
    };
    let page = f.orders.orders(only_confirmed, None, 100).await.unwrap();
    assert_eq!(page.items.len(), 3);
    let nobody = OrderFilter {
        email: Some(Email::parse("nobody@example.com").unwrap()),
        ..OrderFilter::default()
    };
    assert!(f
        .orders
        .orders(nobody, None, 100)
        .await
        .unwrap()
        .items
        .is_empty());
}
