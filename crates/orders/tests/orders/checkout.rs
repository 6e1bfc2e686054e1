//! The checkout saga's outcomes, one call at a time.

use kassa_cart::CartError;
use kassa_inventory::{InventoryError, ReservationStatus};
use kassa_kernel::ids::CustomerId;
use kassa_kernel::DomainError;
use kassa_payments::connectors::sandbox::{SandboxStatus, CHALLENGE_PATH};
use kassa_payments::{PaymentError, PaymentStatus};

use super::*;

#[tokio::test]
async fn a_checkout_confirms_captures_commits_the_stock_and_sets_the_cart_aside() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 2)]).await;

    let checkout = f.checkout(cart, &access, TOKENS.success).await.unwrap();

    let order = &checkout.order;
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert_eq!(order.saga_step, SagaStep::Done);
    assert_eq!(order.close_reason, None);
    assert_eq!(order.cart_id, cart);
    assert_eq!(order.totals.total, total_of(2));
    assert_eq!(order.captured, total_of(2));
    assert_eq!(order.lines.len(), 1);
    assert_eq!(order.lines[0].product_title, "Product MUG");
    assert_eq!(order.lines[0].line_total, eur(2 * UNIT_PRICE_MINOR));
    assert_eq!(order.confirmed_at, Some(f.clock.now()));
    assert!(order.reservation_expires_at.is_some());
    assert!(checkout.next_action.is_none());
    let token = checkout.order_token.clone().unwrap();
    assert!(token.starts_with("ordtok_"));

    assert_eq!(f.level("MUG").await, (3, 0));
    let reservation = f
        .inventory
        .reservation(&order.id.to_string())
        .await
        .unwrap();
    assert_eq!(reservation.status, ReservationStatus::Committed);
    let payment = f.payments.payment(order.payment_id.unwrap()).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Succeeded);
    assert_eq!(f.sandbox.authorizations_for(&order.id.to_string()), 1);
    // The cart is set aside: readable with its token, closed to writes.
    f.carts.cart(cart, &access).await.unwrap();
    let write = f
        .carts
        .set_email(cart, &access, Email::parse("x@example.com").unwrap())
        .await;
    assert!(
        matches!(write, Err(CartError::CartNotFound(_))),
        "{write:?}"
    );
    assert_eq!(
        f.order_event_types().await,
        ["order.placed", "order.captured"]
    );
    let placed = &f.orders.events(None, 10).await.unwrap()[0];
    assert_eq!(placed.aggregate_id, order.id.to_string());
    assert_eq!(placed.data["total"]["amount_minor"], 2_500);
    assert_eq!(placed.data["lines"][0]["sku"], "MUG");
    // The token opens the order, and only it.
    let read = f
        .orders
        .order(order.id, &OrderAccess::Token(token))
        .await
        .unwrap();
    assert_eq!(&read, order);
}

#[tokio::test]
async fn checking_out_a_checked_out_cart_again_answers_the_same_order() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 1)]).await;
    let first = f.checkout(cart, &access, TOKENS.success).await.unwrap();

    let again = f.checkout(cart, &access, TOKENS.success).await.unwrap();

    assert_eq!(again.order.id, first.order.id);
    assert_eq!(again.order.status, OrderStatus::Confirmed);
    assert_eq!(again.order_token, None);
    assert_eq!(f.level("MUG").await, (4, 0));
}

#[tokio::test]
async fn a_declined_payment_fails_the_order_releases_the_stock_and_frees_the_cart() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 2)]).await;

    let err = f
        .checkout(cart, &access, TOKENS.insufficient_funds)
        .await
        .unwrap_err();

    assert!(
        matches!(&err, OrderError::Payment(PaymentError::Declined { decline, .. }) if decline.code == "insufficient_funds"),
        "{err:?}"
    );
    assert_eq!(err.problem_type().code, "payment_declined");
    assert_eq!(f.level("MUG").await, (5, 0));
    let failed = f
        .orders
        .orders(OrderFilter::default(), None, 10)
        .await
        .unwrap();
    let failed = &failed.items[0];
    assert_eq!(failed.status, OrderStatus::PaymentFailed);
    assert_eq!(failed.close_reason, Some(CloseReason::PaymentDeclined));
    assert_eq!(failed.saga_step, SagaStep::Done);
    let reservation = f
        .inventory
        .reservation(&failed.id.to_string())
        .await
        .unwrap();
    assert_eq!(reservation.status, ReservationStatus::Released);
    assert_eq!(f.order_event_types().await, ["order.payment_failed"]);

    // The claim on the cart was released: the shopper tries another card.
    let retried = f.checkout(cart, &access, TOKENS.success).await.unwrap();
    assert_ne!(retried.order.id, failed.id);
    assert_eq!(retried.order.status, OrderStatus::Confirmed);
    assert_eq!(f.level("MUG").await, (3, 0));
}

#[tokio::test]
async fn an_unavailable_gateway_fails_the_order_as_gateway_unavailable() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 1)]).await;

    let err = f
        .checkout(cart, &access, TOKENS.unavailable)
        .await
        .unwrap_err();

    assert_eq!(err.problem_type().code, "gateway_unavailable", "{err:?}");
    let order = &f
        .orders
        .orders(OrderFilter::default(), None, 1)
        .await
        .unwrap()
        .items[0];
    assert_eq!(order.status, OrderStatus::PaymentFailed);
    assert_eq!(order.close_reason, Some(CloseReason::GatewayUnavailable));
    assert_eq!(f.level("MUG").await, (5, 0));
    let payment = f.payments.payment(order.payment_id.unwrap()).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Canceled);
}

#[tokio::test]
async fn an_unknown_gateway_outcome_is_resolved_by_asking_again() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 1)]).await;

    let checkout = f.checkout(cart, &access, TOKENS.timeout).await.unwrap();

    assert_eq!(checkout.order.status, OrderStatus::Confirmed);
    assert_eq!(
        f.sandbox.authorizations_for(&checkout.order.id.to_string()),
        1
    );
}

#[tokio::test]
async fn insufficient_stock_cancels_the_order_and_reserves_nothing() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    f.stocked("HAT", 1).await;
    let (cart, access) = f.cart(&[("MUG", 2), ("HAT", 3)]).await;

    let err = f.checkout(cart, &access, TOKENS.success).await.unwrap_err();

    let OrderError::Inventory(inventory_err @ InventoryError::InsufficientStock { .. }) = &err
    else {
        panic!("{err:?}");
    };
    let short: Vec<_> = inventory_err
        .shortages()
        .iter()
        .map(|s| (s.sku.as_str(), s.requested, s.available))
        .collect();
    assert_eq!(short, [("HAT", 3, 1)]);
    assert_eq!(err.problem_type().code, "insufficient_stock");
    assert_eq!(
        (f.level("MUG").await, f.level("HAT").await),
        ((5, 0), (1, 0))
    );
    let order = &f
        .orders
        .orders(OrderFilter::default(), None, 1)
        .await
        .unwrap()
        .items[0];
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.close_reason, Some(CloseReason::InsufficientStock));
    assert_eq!(order.payment_id, None);
    assert!(f.sandbox.payments_for(&order.id.to_string()).is_empty());
    assert_eq!(f.order_event_types().await, ["order.cancelled"]);
}

#[tokio::test]
async fn a_cart_not_ready_lists_every_problem_and_makes_no_order() {
    let f = fixture().await;
    let (priced, token) = f.carts.create_cart(Currency::Eur, None).await.unwrap();
    let access = CartAccess::Token(token.expose().to_owned());

    let err = f
        .checkout(priced.cart.id, &access, TOKENS.success)
        .await
        .unwrap_err();

    let OrderError::CartNotReady(problems) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        problems,
        &[
            kassa_orders::error::CartProblem::Empty,
            kassa_orders::error::CartProblem::NoEmail,
            kassa_orders::error::CartProblem::NoShippingAddress,
            kassa_orders::error::CartProblem::NoShippingOption,
        ]
    );
    assert_eq!(err.field_errors().len(), 4);
    let wrong = CartAccess::Token("x".repeat(43));
    assert!(matches!(
        f.checkout(priced.cart.id, &wrong, TOKENS.success).await,
        Err(OrderError::Cart(CartError::CartNotFound(_)))
    ));
    assert!(f
        .orders
        .orders(OrderFilter::default(), None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
}

/// The sandbox's reference of the order's payment, from its challenge URL.
fn challenge_ref(checkout: &Checkout) -> String {
    let url = checkout
        .next_action
        .as_ref()
        .unwrap()
        .redirect_url
        .as_deref()
        .unwrap();
    url.strip_prefix(CHALLENGE_PATH).unwrap().to_owned()
}

#[tokio::test]
async fn three_d_secure_passed_then_continued_confirms_the_order() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 1)]).await;

    let waiting = f
        .checkout(cart, &access, TOKENS.three_d_secure)
        .await
        .unwrap();
    assert_eq!(waiting.order.status, OrderStatus::AwaitingPayment);
    assert_eq!(waiting.order.saga_step, SagaStep::AwaitAction);
    assert!(waiting.order_token.is_some());
    assert_eq!(f.level("MUG").await, (5, 1));
    // Continuing before the shopper passed the challenge changes nothing.
    let early = f.orders.continue_checkout(waiting.order.id).await.unwrap();
    assert_eq!(early.order.status, OrderStatus::AwaitingPayment);
    assert!(early.next_action.is_some());

    f.sandbox
        .complete_challenge(&challenge_ref(&waiting), true)
        .unwrap();
    let continued = f.orders.continue_checkout(waiting.order.id).await.unwrap();
    let again = f.orders.continue_checkout(waiting.order.id).await.unwrap();

    assert_eq!(continued.order.status, OrderStatus::Confirmed);
    assert_eq!(continued.order.captured, total_of(1));
    assert_eq!(again.order.id, continued.order.id);
    assert_eq!(again.order.status, OrderStatus::Confirmed);
    assert_eq!(f.level("MUG").await, (4, 0));
    assert_eq!(
        f.sandbox.authorizations_for(&waiting.order.id.to_string()),
        1
    );
}

#[tokio::test]
async fn three_d_secure_failed_fails_the_order_and_releases_the_stock() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 1)]).await;
    let waiting = f
        .checkout(cart, &access, TOKENS.three_d_secure)
        .await
        .unwrap();

    f.sandbox
        .complete_challenge(&challenge_ref(&waiting), false)
        .unwrap();
    let err = f
        .orders
        .continue_checkout(waiting.order.id)
        .await
        .unwrap_err();
    let again = f
        .orders
        .continue_checkout(waiting.order.id)
        .await
        .unwrap_err();

    for err in [&err, &again] {
        assert!(
            matches!(err, OrderError::Payment(PaymentError::Declined { decline, .. }) if decline.code == "authentication_failed"),
            "{err:?}"
        );
    }
    let order = f.staff_order(waiting.order.id).await;
    assert_eq!(order.status, OrderStatus::PaymentFailed);
    assert_eq!(order.close_reason, Some(CloseReason::PaymentDeclined));
    assert_eq!(f.level("MUG").await, (5, 0));
}

#[tokio::test]
async fn a_reservation_past_its_ttl_cancels_the_checkout_and_voids_the_hold() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 2)]).await;
    let waiting = f
        .checkout(cart, &access, TOKENS.three_d_secure)
        .await
        .unwrap();
    let expires_at = waiting.order.reservation_expires_at.unwrap();
    assert_eq!(f.orders.expire_due(f.clock.now(), 100).await.unwrap(), 0);

    f.clock.set(expires_at.plus_millis(1));
    assert_eq!(f.inventory.expire_due(f.clock.now(), 100).await.unwrap(), 1);
    let expired = f.orders.expire_due(f.clock.now(), 100).await.unwrap();
    let again = f.orders.expire_due(f.clock.now(), 100).await.unwrap();

    assert_eq!((expired, again), (1, 0));
    let order = f.staff_order(waiting.order.id).await;
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.close_reason, Some(CloseReason::ReservationExpired));
    assert_eq!(f.level("MUG").await, (5, 0));
    let payment = f.payments.payment(order.payment_id.unwrap()).await.unwrap();
    assert_eq!(payment.status(), PaymentStatus::Canceled);
    // Passing the challenge now is too late: the order answers how it ended.
    let _ = f.sandbox.complete_challenge(&challenge_ref(&waiting), true);
    let err = f.orders.continue_checkout(order.id).await.unwrap_err();
    assert_eq!(err.problem_type().code, "reservation_expired", "{err:?}");
    let state = f.sandbox.state(&challenge_ref(&waiting)).unwrap();
    assert_ne!(state.status, SandboxStatus::Authorized);
}

#[tokio::test]
async fn a_token_opens_only_its_order_and_a_customer_only_theirs() {
    let f = fixture().await;
    f.stocked("MUG", 5).await;
    let (cart, access) = f.cart(&[("MUG", 1)]).await;
    let guest = f.checkout(cart, &access, TOKENS.success).await.unwrap();
    let ada = CustomerId::new();
    let (priced, _) = f.carts.create_cart(Currency::Eur, Some(ada)).await.unwrap();
    let ada_access = CartAccess::Customer(ada);
    let ada_cart = priced.cart.id;
    f.carts
        .add_line(ada_cart, &ada_access, sku("MUG"), Quantity::new(1).unwrap())
        .await
        .unwrap();
    f.carts
        .set_email(
            ada_cart,
            &ada_access,
            Email::parse("ada@example.com").unwrap(),
        )
        .await
        .unwrap();
    f.carts
        .set_shipping_address(ada_cart, &ada_access, address())
        .await
        .unwrap();
    f.carts
        .choose_shipping_option(ada_cart, &ada_access, f.ground)
        .await
        .unwrap();
    let mut ada_request = request(ada_cart, &ada_access, TOKENS.success);
    ada_request.customer = Some(ada);
    let adas = f.orders.checkout(ada_request).await.unwrap();
    assert_eq!(adas.order.customer_id, Some(ada));

    let token = OrderAccess::Token(guest.order_token.clone().unwrap());
    let adas_token = OrderAccess::Token(adas.order_token.clone().unwrap());
    let customer = OrderAccess::Customer(ada);
    let eve = OrderAccess::Customer(CustomerId::new());
    let cases = [
        (guest.order.id, &token, true),
        (adas.order.id, &token, false),
        (adas.order.id, &adas_token, true),
        (adas.order.id, &customer, true),
        (guest.order.id, &customer, false),
        (adas.order.id, &eve, false),
        (
            guest.order.id,
            &OrderAccess::Token("ordtok_guess".into()),
            false,
        ),
        (OrderId::new(), &OrderAccess::Staff, false),
    ];
    for (id, access, opens) in cases {
        let result = f.orders.order(id, access).await;
        if opens {
            assert_eq!(result.unwrap().id, id);
        } else {
            let err = result.unwrap_err();
            assert!(matches!(err, OrderError::OrderNotFound(found) if found == id));
            assert_eq!(err.problem_type().code, "order_not_found");
        }
    }
    let page = f.orders.customer_orders(ada, None, 10).await.unwrap();
    assert_eq!(
        page.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        [adas.order.id]
    );
}
