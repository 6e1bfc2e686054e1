//! Order flags: the payments consumer flags an order once per dispute, whatever is delivered how
//! often; staff list the flagged orders and resolve flags.

use kassa_events::{Consumer, Event, EventId};
use kassa_kernel::ids::StaffId;
use kassa_kernel::DomainError;
use kassa_orders::consumer::PAYMENT_DISPUTED;
use serde_json::{json, Value};

use super::*;

fn consumer(f: &Fixture) -> PaymentsConsumer {
    PaymentsConsumer::new(
        OrderStore::new(f.dbs.orders.clone()),
        Arc::new(f.clock.clone()),
    )
}

fn dispute_data(order: OrderId, dispute_ref: &str) -> Value {
    json!({
        "payment_id": "pay_0191b7c26d4e7cc28a113f2b4c5d6e7f",
        "order_ref": order.to_string(),
        "gateway": "stripe",
        "dispute_ref": dispute_ref,
        "amount": {"amount_minor": 2500, "currency": "EUR"},
        "reason": "fraudulent",
        "status": "needs_response",
    })
}

/// A new event (its own id) of `event_type` with `data`, as payments would publish it.
fn payments_event(event_type: &str, data: Value) -> Event {
    Event {
        id: EventId::new(),
        event_type: event_type.to_owned(),
        version: 1,
        aggregate_id: "pay_0191b7c26d4e7cc28a113f2b4c5d6e7f".to_owned(),
        occurred_at: Timestamp::from_millis(START_MS),
        data,
        published_at: None,
    }
}

fn disputed(order: OrderId, dispute_ref: &str) -> Event {
    payments_event(PAYMENT_DISPUTED, dispute_data(order, dispute_ref))
}

impl Fixture {
    /// The `order.flagged` events recorded so far.
    async fn flagged_events(&self) -> Vec<Event> {
        self.orders
            .events(None, EVENTS_PAGE_MAX)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == "order.flagged")
            .collect()
    }

    async fn flagged_ids(&self, filter: OrderFilter) -> Vec<OrderId> {
        let page = self
            .orders
            .flagged_orders(filter, None, ORDERS_PAGE_MAX)
            .await
            .unwrap();
        page.items.into_iter().map(|o| o.id).collect()
    }
}

#[tokio::test]
async fn a_dispute_flags_its_order_once_however_often_the_event_is_delivered() {
    // Arrange
    let f = fixture().await;
    let order = f.confirmed("MUG", 1).await;
    let consumer = consumer(&f);
    let event = disputed(order.id, "dp_1");

    // The inbox, not only the dispute id, stops a redelivery: the same event id carrying
    // another dispute (which a redelivery never would) applies nothing either.
    let mut same_id = disputed(order.id, "dp_2");
    same_id.id = event.id;

    // Act
    consumer.handle("payments", &event).await.unwrap();
    consumer.handle("payments", &event).await.unwrap();
    consumer.handle("payments", &same_id).await.unwrap();

    // Assert
    let flags = f.orders.flags(order.id).await.unwrap();
    assert_eq!(flags.len(), 1, "{flags:?}");
    let flag = &flags[0];
    assert_eq!(flag.order_id, order.id);
    assert_eq!(flag.kind, FlagKind::Dispute);
    assert_eq!(flag.source_ref, "dp_1");
    assert_eq!(flag.reason, "fraudulent");
    assert_eq!(flag.status, "needs_response");
    assert_eq!(flag.amount, eur(2500));
    assert_eq!(flag.payment_id, "pay_0191b7c26d4e7cc28a113f2b4c5d6e7f");
    assert_eq!(flag.raised_at, f.clock.now());
    assert!(flag.is_open());
    let flagged = f.flagged_events().await;
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0].aggregate_id, order.id.to_string());
    assert_eq!(
        flagged[0].data,
        json!({
            "order_id": order.id.to_string(),
            "flag_id": flag.id.to_string(),
            "kind": "dispute",
            "reason": "fraudulent",
            "amount": {"amount_minor": 2500, "currency": "EUR"},
            "dispute_ref": "dp_1",
        })
    );
}

#[tokio::test]
async fn two_events_of_the_same_dispute_flag_the_order_once_and_another_dispute_again() {
    // Arrange
    let f = fixture().await;
    let order = f.confirmed("MUG", 1).await;
    let consumer = consumer(&f);

    // Act
    consumer
        .handle("payments", &disputed(order.id, "dp_1"))
        .await
        .unwrap();
    consumer
        .handle("payments", &disputed(order.id, "dp_1"))
        .await
        .unwrap();
    let once = f.orders.flags(order.id).await.unwrap();
    consumer
        .handle("payments", &disputed(order.id, "dp_2"))
        .await
        .unwrap();

    // Assert
    assert_eq!(once.len(), 1, "{once:?}");
    let flags = f.orders.flags(order.id).await.unwrap();
    let refs: Vec<&str> = flags.iter().map(|f| f.source_ref.as_str()).collect();
    assert_eq!(refs, ["dp_1", "dp_2"]);
    assert_eq!(f.flagged_events().await.len(), 2);
}

#[tokio::test]
async fn events_other_than_disputes_are_ignored_without_being_recorded() {
    // Arrange
    let f = fixture().await;
    let order = f.confirmed("MUG", 1).await;
    let consumer = consumer(&f);
    let captured = payments_event("payment.captured", dispute_data(order.id, "dp_1"));
    let placed = payments_event("order.placed", json!({"order_id": order.id.to_string()}));

    // Act
    consumer.handle("payments", &captured).await.unwrap();
    consumer.handle("orders", &placed).await.unwrap();

    // Assert
    assert!(f.orders.flags(order.id).await.unwrap().is_empty());
    assert!(f.flagged_events().await.is_empty());
    // Not recorded in the inbox: a dispute under the same event id still applies.
    let mut same_id = disputed(order.id, "dp_1");
    same_id.id = captured.id;
    consumer.handle("payments", &same_id).await.unwrap();
    assert_eq!(f.orders.flags(order.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_dispute_of_an_unknown_order_or_with_malformed_data_is_skipped() {
    // Arrange
    let f = fixture().await;
    let order = f.confirmed("MUG", 1).await;
    let consumer = consumer(&f);
    let unknown = OrderId::new();
    let mut malformed = dispute_data(order.id, "dp_2");
    malformed["amount"] = json!("25.00");
    let mut not_an_order = dispute_data(order.id, "dp_3");
    not_an_order["order_ref"] = json!("cart_0191b7c26d4e7cc28a113f2b4c5d6e7f");

    // Act + Assert: each is answered Ok, so the relay moves on, and changes nothing.
    let unknown_event = disputed(unknown, "dp_1");
    consumer.handle("payments", &unknown_event).await.unwrap();
    consumer
        .handle("payments", &payments_event(PAYMENT_DISPUTED, malformed))
        .await
        .unwrap();
    consumer
        .handle("payments", &payments_event(PAYMENT_DISPUTED, not_an_order))
        .await
        .unwrap();
    assert!(f.orders.flags(order.id).await.unwrap().is_empty());
    assert!(f.flagged_ids(OrderFilter::default()).await.is_empty());
    assert!(f.flagged_events().await.is_empty());
    assert!(matches!(
        f.orders.flags(unknown).await,
        Err(OrderError::OrderNotFound(id)) if id == unknown
    ));
    // The skipped dispute did not take its id: the same dispute on a real order flags it.
    consumer
        .handle("payments", &disputed(order.id, "dp_1"))
        .await
        .unwrap();
    assert_eq!(f.orders.flags(order.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn flagged_orders_are_listed_newest_first_in_pages_until_their_flags_are_resolved() {
    // Arrange: three orders; the first and the third disputed.
    let f = fixture().await;
    let first = f.confirmed("MUG", 1).await;
    let second = f.confirmed("HAT", 1).await;
    let third = f.confirmed("TEE", 1).await;
    let consumer = consumer(&f);
    consumer
        .handle("payments", &disputed(first.id, "dp_1"))
        .await
        .unwrap();
    consumer
        .handle("payments", &disputed(third.id, "dp_3"))
        .await
        .unwrap();

    // Act + Assert: the list, paged.
    assert_eq!(
        f.flagged_ids(OrderFilter::default()).await,
        [third.id, first.id]
    );
    let page = f
        .orders
        .flagged_orders(OrderFilter::default(), None, 1)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, third.id);
    let rest = f
        .orders
        .flagged_orders(OrderFilter::default(), page.next_cursor, 1)
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        [first.id]
    );
    assert_eq!(rest.next_cursor, None);
    // Other filters still narrow it, and the plain list is unchanged.
    let refunded = OrderFilter {
        status: Some(OrderStatus::Refunded),
        ..OrderFilter::default()
    };
    assert!(f.flagged_ids(refunded).await.is_empty());
    let all = f
        .orders
        .orders(OrderFilter::default(), None, ORDERS_PAGE_MAX)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    assert!(all.items.iter().any(|o| o.id == second.id));

    // Resolving takes the order off the list, once.
    let flag = f.orders.flags(third.id).await.unwrap().remove(0);
    let staff = StaffId::new();
    let resolved = f
        .orders
        .resolve_flag(third.id, flag.id, staff)
        .await
        .unwrap();
    assert_eq!(resolved.id, flag.id);
    assert_eq!(resolved.resolved_at, Some(f.clock.now()));
    assert_eq!(resolved.resolved_by, Some(staff));
    assert_eq!(f.flagged_ids(OrderFilter::default()).await, [first.id]);
    f.clock.advance(Duration::from_secs(60));
    let again = f
        .orders
        .resolve_flag(third.id, flag.id, StaffId::new())
        .await
        .unwrap();
    assert_eq!(again, resolved);
    assert_eq!(f.orders.flags(third.id).await.unwrap(), [resolved]);

    // Refusals name what is missing.
    let other_flag = f
        .orders
        .resolve_flag(second.id, flag.id, staff)
        .await
        .unwrap_err();
    assert!(
        matches!(other_flag, OrderError::OrderFlagNotFound { order_id, flag_id }
            if order_id == second.id && flag_id == flag.id),
        "{other_flag:?}"
    );
    assert_eq!(other_flag.problem_type().code, "order_flag_not_found");
    let unknown = OrderId::new();
    assert!(matches!(
        f.orders.resolve_flag(unknown, flag.id, staff).await,
        Err(OrderError::OrderNotFound(id)) if id == unknown
    ));
    assert!(matches!(
        f.orders
            .resolve_flag(first.id, OrderFlagId::new(), staff)
            .await,
        Err(OrderError::OrderFlagNotFound { .. })
    ));
}
