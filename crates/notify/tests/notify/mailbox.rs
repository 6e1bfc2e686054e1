//! Orders events becoming messages in the mailbox: what each kind says, how amounts and data
//! are written, which events queue nothing, and reading the mailbox.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use kassa_kernel::ids::{CustomerId, OrderId};
use kassa_kernel::{Currency, Money, Timestamp};
use kassa_notify::*;
use kassa_orders::{
    Checkout, CheckoutRequest, NewFulfilment, Order, OrderAccess, OrderError, OrderFilter,
    OrderPage, OrderRefund, OrderService, RecoveryReport,
};

use super::*;

#[tokio::test]
async fn a_confirmed_order_lands_in_the_mailbox_with_its_lines_and_totals() {
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);

    f.deliver(&placed(&order)).await.unwrap();

    let queued = f.only_message().await;
    assert_eq!(queued.kind, MessageKind::OrderConfirmed);
    assert_eq!(queued.status, MessageStatus::Queued);
    assert_eq!(queued.order_id, order.id);
    assert_eq!(queued.to.as_str(), SHOPPER);
    assert_eq!(queued.next_attempt_at, Some(f.now()), "due at once");
    assert_eq!(
        queued.subject,
        format!("Test Shop: your order {} is confirmed", order.id)
    );
    let text = &queued.text_body;
    for expected in [
        "Test Shop\n",
        &format!("Order: {}\n", order.id),
        "- Mug / Blue: 2 x EUR 12.50 = EUR 25.00\n",
        "- Poster / A2: 1 x EUR 19.99 = EUR 19.99\n",
        "Subtotal: EUR 44.99\n",
        "Shipping: EUR 4.90\n",
        "Tax: EUR 8.55\n",
        "Total: EUR 58.44\n",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    let html = &queued.html_body;
    for expected in [
        "<h1>Test Shop</h1>",
        "<tr><td>Mug</td><td>Blue</td><td>2</td><td>EUR 12.50</td><td>EUR 25.00</td></tr>",
        "<tr><td>Poster</td><td>A2</td><td>1</td><td>EUR 19.99</td><td>EUR 19.99</td></tr>",
        "<tr><td colspan=\"4\">Subtotal</td><td>EUR 44.99</td></tr>",
        "<tr><td colspan=\"4\">Shipping</td><td>EUR 4.90</td></tr>",
        "<tr><td colspan=\"4\">Tax</td><td>EUR 8.55</td></tr>",
        "<tr><td colspan=\"4\">Total</td><td>EUR 58.44</td></tr>",
    ] {
        assert!(html.contains(expected), "{expected:?} missing from\n{html}");
    }

    // The development mailbox "delivers" by keeping it: the row becomes sent, nothing leaves.
    let sender = f.sender(Arc::new(DevMailbox), &config());
    let pass = sender.send_due(f.now(), 10).await.unwrap();
    assert_eq!((pass.claimed, pass.sent), (1, 1));
    let sent = f.reload(&queued).await;
    assert_eq!(sent.status, MessageStatus::Sent);
    assert_eq!(sent.transport.as_deref(), Some("mailbox"));
    assert_eq!(sent.sent_at, Some(f.now()));
    assert_eq!(sent.attempts, 1);
    assert_eq!(sent.next_attempt_at, None);
    assert_eq!(sent.text_body, queued.text_body);
}

#[tokio::test]
async fn yen_amounts_are_written_without_decimals() {
    let f = fixture().await;
    let order = order(Currency::Jpy, &[("Tea", "Sencha", 2, 1250)], 500, 0);
    f.add(&order);

    f.deliver(&placed(&order)).await.unwrap();

    let message = f.only_message().await;
    let text = &message.text_body;
    assert!(
        text.contains("- Tea / Sencha: 2 x JPY 1250 = JPY 2500\n"),
        "{text}"
    );
    assert!(text.contains("Shipping: JPY 500\n"), "{text}");
    assert!(text.contains("Tax: JPY 0\n"), "{text}");
    assert!(text.contains("Total: JPY 3000\n"), "{text}");
    assert!(
        !text.contains("JPY 12.50") && !text.contains("JPY 25.00"),
        "{text}"
    );
    assert!(message
        .html_body
        .contains("<td>JPY 1250</td><td>JPY 2500</td>"));
}

#[tokio::test]
async fn the_html_body_escapes_every_value_from_data() {
    let f = fixture_with(NotifyConfig {
        shop_name: "Tom & Jerry's".into(),
        ..config()
    })
    .await;
    let order = order(Currency::Eur, &[(r#"<b>&""#, "<i>", 1, 100)], 0, 0);
    f.add(&order);

    f.deliver(&placed(&order)).await.unwrap();

    let message = f.only_message().await;
    let html = &message.html_body;
    assert!(
        html.contains("<td>&lt;b&gt;&amp;&quot;</td><td>&lt;i&gt;</td>"),
        "{html}"
    );
    assert!(html.contains("<h1>Tom &amp; Jerry&#39;s</h1>"), "{html}");
    assert!(!html.contains("<b>") && !html.contains("<i>"), "{html}");
    // The text body is plain text: the title is shown as it is.
    assert!(message.text_body.contains(r#"- <b>&" / <i>: 1 x EUR 1.00"#));
}

#[tokio::test]
async fn handling_the_same_event_twice_queues_one_message() {
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);
    let event = placed(&order);

    f.deliver(&event).await.unwrap();
    f.deliver(&event).await.unwrap();

    let message = f.only_message().await;
    assert_eq!(message.event_id, event.id);
    // Another event about the same order is another email.
    f.deliver(&placed(&order)).await.unwrap();
    assert_eq!(f.messages().await.len(), 2);
}

#[tokio::test]
async fn a_cancellation_before_confirmation_queues_nothing() {
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);

    f.deliver(&cancelled(&order, false, 0)).await.unwrap();

    assert!(f.messages().await.is_empty());
    assert_eq!(
        f.orders.calls.load(Ordering::SeqCst),
        0,
        "not even looked up"
    );
}

#[tokio::test]
async fn a_shipment_names_its_carrier_tracking_number_and_lines() {
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);

    f.deliver(&shipped(&order, true, &[(0, 1)])).await.unwrap();
    f.deliver(&shipped(&order, false, &[(0, 1), (1, 1)]))
        .await
        .unwrap();

    let messages = f.messages().await;
    assert_eq!(messages.len(), 2);
    let (partial, rest) = (&messages[0], &messages[1]);
    assert_eq!(partial.kind, MessageKind::OrderShipped);
    assert_eq!(
        partial.subject,
        format!("Test Shop: part of your order {} has shipped", order.id)
    );
    assert!(
        partial
            .text_body
            .contains("Carrier: DHL\nTracking number: JJD0099\n\nIn this shipment:\n- Mug / Blue: 1\n\nItems:"),
        "{}",
        partial.text_body
    );
    assert!(partial.html_body.contains("<li>1 &times; Mug / Blue</li>"));
    assert!(!partial.html_body.contains("Poster / A2</li>"));
    assert!(partial.html_body.contains("<strong>JJD0099</strong>"));
    assert_eq!(rest.kind, MessageKind::OrderShipped);
    assert_eq!(
        rest.subject,
        format!("Test Shop: your order {} has shipped", order.id)
    );
    assert!(rest
        .text_body
        .contains("In this shipment:\n- Mug / Blue: 1\n- Poster / A2: 1\n"));
    assert!(rest.text_body.contains("Total: EUR 58.44\n"));
}

#[tokio::test]
async fn a_cancellation_after_confirmation_says_what_was_refunded() {
    let f = fixture().await;
    let paid = eur_order();
    let unpaid = eur_order();
    f.add(&paid);
    f.add(&unpaid);

    f.deliver(&cancelled(&paid, true, 5844)).await.unwrap();
    f.deliver(&cancelled(&unpaid, true, 0)).await.unwrap();

    let messages = f.messages().await;
    assert_eq!(messages.len(), 2);
    assert!(messages
        .iter()
        .all(|m| m.kind == MessageKind::OrderCancelled));
    let paid_mail = messages.iter().find(|m| m.order_id == paid.id).unwrap();
    assert_eq!(
        paid_mail.subject,
        format!("Test Shop: your order {} was cancelled", paid.id)
    );
    assert!(paid_mail.text_body.contains("Refunded: EUR 58.44\n"));
    assert!(paid_mail.html_body.contains("<p>Refunded: EUR 58.44</p>"));
    let unpaid_mail = messages.iter().find(|m| m.order_id == unpaid.id).unwrap();
    assert!(
        !unpaid_mail.text_body.contains("Refunded"),
        "{}",
        unpaid_mail.text_body
    );
    assert!(!unpaid_mail.html_body.contains("Refunded"));
}

#[tokio::test]
async fn a_refund_says_its_amount_and_the_total_refunded_so_far() {
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);

    f.deliver(&refunded(&order, 1000, 1500)).await.unwrap();

    let message = f.only_message().await;
    assert_eq!(message.kind, MessageKind::OrderRefunded);
    assert_eq!(
        message.subject,
        format!("Test Shop: a refund for your order {}", order.id)
    );
    assert!(message
        .text_body
        .contains("Refund: EUR 10.00\nRefunded so far: EUR 15.00\n"));
    assert!(message
        .html_body
        .contains("<p>Refund: EUR 10.00<br>Refunded so far: EUR 15.00</p>"));
}

#[tokio::test]
async fn events_the_shopper_does_not_hear_about_queue_nothing() {
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);
    let captured = event(
        "order.captured",
        &order,
        serde_json::json!({"order_id": order.id.to_string()}),
    );
    let mut reserved = event("inventory.reserved", &order, serde_json::json!({}));
    reserved.aggregate_id = "SKU-0".into();

    f.deliver(&captured).await.unwrap();
    f.deliver(&reserved).await.unwrap();
    // Data that cannot be read is a bug upstream: logged and skipped, never retried forever.
    f.deliver(&event(
        "order.refunded",
        &order,
        serde_json::json!({"amount": 5}),
    ))
    .await
    .unwrap();

    assert!(f.messages().await.is_empty());
}

#[tokio::test]
async fn a_failed_lookup_is_retried_and_a_missing_order_is_skipped() {
    let f = fixture().await;
    let order = eur_order();
    f.add(&order);
    let event = placed(&order);
    f.orders.failures.store(1, Ordering::SeqCst);

    assert!(f.deliver(&event).await.is_err(), "the bus must try again");
    assert!(f.messages().await.is_empty());
    // The redelivery finds the order, and the inbox did not record the failed try.
    f.deliver(&event).await.unwrap();
    assert_eq!(f.only_message().await.event_id, event.id);

    let unknown = eur_order(); // never added to the lookup
    f.deliver(&placed(&unknown)).await.unwrap();
    assert_eq!(f.messages().await.len(), 1);
}

#[tokio::test]
async fn the_mailbox_pages_newest_first_and_counts_by_status() {
    let f = fixture().await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        let order = eur_order();
        f.add(&order);
        f.deliver(&placed(&order)).await.unwrap();
        orders.push(order);
    }

    let first = f.service.mailbox(None, 2).await.unwrap();
    let ids: Vec<OrderId> = first.iter().map(|m| m.order_id).collect();
    assert_eq!(ids, [orders[2].id, orders[1].id]);
    let second = f.service.mailbox(Some(first[1].id), 2).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].order_id, orders[0].id);
    assert!(f
        .service
        .mailbox(Some(second[0].id), 2)
        .await
        .unwrap()
        .is_empty());
    assert!(f.service.mailbox(None, 0).await.unwrap().is_empty());

    assert_eq!(
        f.service.message(first[0].id).await.unwrap().unwrap(),
        first[0]
    );
    assert_eq!(f.service.message(MessageId::new()).await.unwrap(), None);

    assert_eq!(
        f.service.counts().await.unwrap(),
        StatusCounts {
            queued: 3,
            sent: 0,
            failed: 0
        }
    );
    let sender = f.sender(Arc::new(DevMailbox), &config());
    assert_eq!(sender.send_due(f.now(), 2).await.unwrap().sent, 2);
    assert_eq!(
        f.service.counts().await.unwrap(),
        StatusCounts {
            queued: 1,
            sent: 2,
            failed: 0
        }
    );
}

/// Only `order` is used; every other method says so if called.
struct OneOrderService {
    order: Order,
    fail: bool,
}

fn unused() -> OrderError {
    OrderError::Invariant("not used by the lookup".into())
}

#[async_trait::async_trait]
impl OrderService for OneOrderService {
    async fn checkout(&self, _: CheckoutRequest) -> Result<Checkout, OrderError> {
        Err(unused())
    }

    async fn flagged_orders(
        &self,
        _: kassa_orders::OrderFilter,
        _: Option<OrderId>,
        _: u32,
    ) -> Result<kassa_orders::OrderPage, OrderError> {
        Err(unused())
    }

    async fn flags(&self, _: OrderId) -> Result<Vec<kassa_orders::OrderFlag>, OrderError> {
        Err(unused())
    }

    async fn resolve_flag(
        &self,
        _: OrderId,
        _: kassa_orders::OrderFlagId,
        _: kassa_kernel::ids::StaffId,
    ) -> Result<kassa_orders::OrderFlag, OrderError> {
        Err(unused())
    }
    async fn continue_checkout(&self, _: OrderId) -> Result<Checkout, OrderError> {
        Err(unused())
    }
    async fn order(&self, id: OrderId, access: &OrderAccess) -> Result<Order, OrderError> {
        assert_eq!(access, &OrderAccess::Staff);
        if self.fail {
            return Err(OrderError::Invariant("the database is on fire".into()));
        }
        if id == self.order.id {
            Ok(self.order.clone())
        } else {
            Err(OrderError::OrderNotFound(id))
        }
    }
    async fn orders(
        &self,
        _: OrderFilter,
        _: Option<OrderId>,
        _: u32,
    ) -> Result<OrderPage, OrderError> {
        Err(unused())
    }
    async fn customer_orders(
        &self,
        _: CustomerId,
        _: Option<OrderId>,
        _: u32,
    ) -> Result<OrderPage, OrderError> {
        Err(unused())
    }
    async fn fulfil(&self, _: OrderId, _: NewFulfilment) -> Result<Order, OrderError> {
        Err(unused())
    }
    async fn capture(&self, _: OrderId) -> Result<Order, OrderError> {
        Err(unused())
    }
    async fn cancel(&self, _: OrderId) -> Result<Order, OrderError> {
        Err(unused())
    }
    async fn refund(&self, _: OrderId, _: Money) -> Result<OrderRefund, OrderError> {
        Err(unused())
    }
    async fn mark_delivered(&self, _: OrderId) -> Result<Order, OrderError> {
        Err(unused())
    }
    async fn recover(&self, _: Timestamp) -> Result<RecoveryReport, OrderError> {
        Err(unused())
    }
    async fn expire_due(&self, _: Timestamp, _: u32) -> Result<u32, OrderError> {
        Err(unused())
    }
    async fn events(
        &self,
        _: Option<kassa_events::EventId>,
        _: u32,
    ) -> Result<Vec<kassa_events::Event>, OrderError> {
        Err(unused())
    }
}

#[tokio::test]
async fn the_orders_service_lookup_reads_as_staff_and_maps_not_found_to_none() {
    let order = eur_order();
    let service: Arc<dyn OrderService> = Arc::new(OneOrderService {
        order: order.clone(),
        fail: false,
    });
    assert_eq!(
        OrderLookup::order(&service, order.id).await.unwrap(),
        Some(order.clone())
    );
    assert_eq!(
        OrderLookup::order(&service, OrderId::new()).await.unwrap(),
        None
    );
    let failing: Arc<dyn OrderService> = Arc::new(OneOrderService {
        order: order.clone(),
        fail: true,
    });
    assert!(OrderLookup::order(&failing, order.id).await.is_err());
}
