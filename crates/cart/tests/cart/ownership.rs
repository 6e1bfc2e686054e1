//! Carts of signed-in customers: who may open which cart (`CartAccess::admits`), and a
//! customer's new cart setting the previous one aside.

use super::*;

use kassa_kernel::ids::CustomerId;

/// Calls that only read: a set-aside cart still answers them for its owner.
const READS: [&str; 2] = ["cart", "shipping_options"];

impl Fixture {
    /// A new cart owned by `customer`, and the access that opens it.
    pub(super) async fn owned_cart(
        &self,
        customer: CustomerId,
        currency: Currency,
    ) -> (CartId, CartAccess) {
        let (priced, _) = self
            .carts
            .create_cart(currency, Some(customer))
            .await
            .unwrap();
        (priced.cart.id, CartAccess::Customer(customer))
    }

    /// A new anonymous cart, as merge_on_sign_in takes it: its id and its token.
    pub(super) async fn anonymous_cart(&self, currency: Currency) -> (CartId, String) {
        let (priced, token) = self.carts.create_cart(currency, None).await.unwrap();
        (priced.cart.id, token.expose().to_owned())
    }

    /// Every `CartService` call that takes a cart id, made on cart `id` with `access`, in an
    /// order in which the owner of a USD cart shipping to the US with a `MUG` line (`line`)
    /// and the option `ground` sees them all succeed. Each result is named after its call.
    async fn every_cart_call(
        &self,
        id: CartId,
        access: &CartAccess,
        line: CartLineId,
        ground: ShippingOptionId,
    ) -> Vec<(&'static str, Result<(), CartError>)> {
        let carts = &self.carts;
        vec![
            ("cart", carts.cart(id, access).await.map(drop)),
            (
                "add_line",
                carts
                    .add_line(id, access, sku("MUG"), quantity(1))
                    .await
                    .map(drop),
            ),
            (
                "update_line",
                carts
                    .update_line(id, access, line, quantity(5))
                    .await
                    .map(drop),
            ),
            (
                "set_email",
                carts
                    .set_email(id, access, Email::parse("eve@example.com").unwrap())
                    .await
                    .map(drop),
            ),
            (
                "set_shipping_address",
                carts
                    .set_shipping_address(id, access, address("US"))
                    .await
                    .map(drop),
            ),
            (
                "shipping_options",
                carts.shipping_options(id, access).await.map(drop),
            ),
            (
                "choose_shipping_option",
                carts
                    .choose_shipping_option(id, access, ground)
                    .await
                    .map(drop),
            ),
            (
                "remove_line",
                carts.remove_line(id, access, line).await.map(drop),
            ),
        ]
    }

    /// A USD cart of `owner` with 2 `MUG`s and a US address, the access that opens it, and
    /// the `Ground` option it can choose.
    async fn mug_cart_shipping_to_us(
        &self,
        owner: CustomerId,
    ) -> (CartId, CartAccess, ShippingOptionId) {
        self.product("MUG", 300, &[usd(1_000)]).await;
        let ground = self
            .shipping_option("Ground", &["US"], Currency::Usd, flat(usd(500)))
            .await;
        let (id, access) = self.owned_cart(owner, Currency::Usd).await;
        self.add(id, &access, "MUG", 2).await;
        self.ship_to(id, &access, "US").await;
        (id, access, ground)
    }
}

#[track_caller]
fn assert_not_found(id: CartId, call: &str, result: &Result<(), CartError>) {
    assert!(
        matches!(result, Err(CartError::CartNotFound(found)) if *found == id),
        "{call}: {result:?}"
    );
}

#[tokio::test]
async fn every_call_on_another_customers_cart_is_cart_not_found_and_changes_nothing() {
    let f = fixture().await;
    let ada = CustomerId::new();
    let (id, access, ground) = f.mug_cart_shipping_to_us(ada).await;
    let before = f.read(id, &access).await;
    let line = line_id(&before, "MUG");
    f.tick();

    let eve = CartAccess::Customer(CustomerId::new());
    let results = f.every_cart_call(id, &eve, line, ground).await;
    assert_eq!(results.len(), 8);
    for (call, result) in &results {
        assert_not_found(id, call, result);
        assert_eq!(
            result.as_ref().unwrap_err().problem_type().code,
            "cart_not_found"
        );
    }
    assert_eq!(f.read(id, &access).await, before);
}

#[tokio::test]
async fn the_owner_can_make_every_call_on_their_cart() {
    let f = fixture().await;
    let ada = CustomerId::new();
    let (id, access, ground) = f.mug_cart_shipping_to_us(ada).await;
    let line = line_id(&f.read(id, &access).await, "MUG");

    for (call, result) in f.every_cart_call(id, &access, line, ground).await {
        assert!(result.is_ok(), "{call}: {result:?}");
    }
    let after = f.read(id, &access).await;
    assert!(after.lines.is_empty());
    assert_eq!(
        after.cart.email,
        Some(Email::parse("eve@example.com").unwrap())
    );
    assert_eq!(after.cart.shipping_option_id, Some(ground));
    assert_eq!(f.carts.customer_cart(ada).await.unwrap(), Some(after));
}

#[tokio::test]
async fn the_token_of_a_cart_created_for_a_customer_opens_nothing() {
    let f = fixture().await;
    let ada = CustomerId::new();
    let (priced, token) = f.carts.create_cart(Currency::Usd, Some(ada)).await.unwrap();
    let id = priced.cart.id;
    let by_token = f
        .carts
        .cart(id, &CartAccess::Token(token.expose().to_owned()))
        .await
        .map(drop);
    assert_not_found(id, "cart", &by_token);
    assert_eq!(f.read(id, &CartAccess::Customer(ada)).await, priced);
}

#[tokio::test]
async fn a_customer_cannot_open_an_anonymous_cart() {
    let f = fixture().await;
    let (id, _) = f.anonymous_cart(Currency::Usd).await;
    let read = f
        .carts
        .cart(id, &CartAccess::Customer(CustomerId::new()))
        .await
        .map(drop);
    assert_not_found(id, "cart", &read);
}

#[tokio::test]
async fn an_anonymous_token_no_longer_opens_a_cart_its_shopper_took_into_their_account() {
    let f = fixture().await;
    f.product("MUG", 300, &[usd(1_000)]).await;
    let ground = f
        .shipping_option("Ground", &["US"], Currency::Usd, flat(usd(500)))
        .await;
    let (id, token) = f.anonymous_cart(Currency::Usd).await;
    let old = CartAccess::Token(token.clone());
    let with_mug = f.add(id, &old, "MUG", 1).await;
    let ada = CustomerId::new();
    let taken = f
        .carts
        .merge_on_sign_in(ada, Some((id, token)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.cart.id, id);
    f.tick();

    let results = f
        .every_cart_call(id, &old, line_id(&with_mug, "MUG"), ground)
        .await;
    for (call, result) in &results {
        assert_not_found(id, call, result);
    }
    assert_eq!(f.read(id, &CartAccess::Customer(ada)).await, taken);
}

#[tokio::test]
async fn creating_a_second_customer_cart_sets_the_first_aside_which_its_owner_can_only_read() {
    let f = fixture().await;
    let ada = CustomerId::new();
    let (first, access, ground) = f.mug_cart_shipping_to_us(ada).await;
    let kept = f.read(first, &access).await;
    f.tick();

    let (second, _) = f.owned_cart(ada, Currency::Eur).await;
    let open = f.carts.customer_cart(ada).await.unwrap().unwrap();
    assert_eq!(open.cart.id, second);
    assert_eq!(open.cart.currency, Currency::Eur);
    assert!(open.lines.is_empty());

    let line = line_id(&kept, "MUG");
    let results = f.every_cart_call(first, &access, line, ground).await;
    for (call, result) in &results {
        if READS.contains(call) {
            assert!(result.is_ok(), "{call}: {result:?}");
        } else {
            assert_not_found(first, call, result);
        }
    }
    // Kept aside, not lost: its lines are as they were.
    let aside = f.read(first, &access).await;
    assert_eq!(lines(&aside), lines(&kept));
    assert_eq!(aside.cart.email, kept.cart.email);
    let eve = CartAccess::Customer(CustomerId::new());
    assert_not_found(first, "cart", &f.carts.cart(first, &eve).await.map(drop));
}

#[tokio::test]
async fn a_customer_without_an_open_cart_has_none_and_never_sees_another_customers() {
    let f = fixture().await;
    let ada = CustomerId::new();
    assert_eq!(f.carts.customer_cart(ada).await.unwrap(), None);
    f.owned_cart(CustomerId::new(), Currency::Usd).await;
    f.anonymous_cart(Currency::Usd).await;
    assert_eq!(f.carts.customer_cart(ada).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_new_carts_of_one_customer_leave_exactly_one_open() {
    let f = fixture().await;
    let ada = CustomerId::new();
    let create = || f.carts.create_cart(Currency::Usd, Some(ada));
    let results = tokio::join!(create(), create(), create(), create());
    let ids: Vec<CartId> = [results.0, results.1, results.2, results.3]
        .into_iter()
        .map(|r| r.unwrap().0.cart.id)
        .collect();

    let open = f.carts.customer_cart(ada).await.unwrap().unwrap().cart.id;
    assert!(ids.contains(&open));
    let access = CartAccess::Customer(ada);
    for id in ids {
        let email = Email::parse("ada@example.com").unwrap();
        let written = f.carts.set_email(id, &access, email).await.map(drop);
        if id == open {
            assert!(written.is_ok(), "{written:?}");
        } else {
            assert_not_found(id, "set_email", &written);
            f.read(id, &access).await;
        }
    }
}

#[tokio::test]
async fn completing_a_checkout_sets_an_anonymous_cart_aside_readable_by_its_token_only() {
    let f = fixture().await;
    f.product("MUG", 300, &[usd(1200)]).await;
    let ground = f
        .shipping_option("Ground", &["US"], Currency::Usd, flat(usd(500)))
        .await;
    let (id, token) = f.anonymous_cart(Currency::Usd).await;
    let access = CartAccess::Token(token);
    f.add(id, &access, "MUG", 2).await;
    let kept = f.ship_to(id, &access, "US").await;
    f.tick();

    f.carts.complete_checkout(id, "ord_1").await.unwrap();
    // Idempotent, and a second order cannot take the checkout over.
    f.carts.complete_checkout(id, "ord_1").await.unwrap();
    f.carts.complete_checkout(id, "ord_2").await.unwrap();

    let aside = f.read(id, &access).await;
    assert_eq!(lines(&aside), lines(&kept));
    let line = line_id(&kept, "MUG");
    let results = f.every_cart_call(id, &access, line, ground).await;
    for (call, result) in &results {
        if READS.contains(call) {
            assert!(result.is_ok(), "{call}: {result:?}");
        } else {
            assert_not_found(id, call, result);
        }
    }
    let (_, other) = f.anonymous_cart(Currency::Usd).await;
    let stranger = CartAccess::Token(other);
    assert_not_found(id, "cart", &f.carts.cart(id, &stranger).await.map(drop));
    assert!(matches!(
        f.carts.complete_checkout(CartId::new(), "ord_3").await,
        Err(CartError::CartNotFound(_))
    ));
}

#[tokio::test]
async fn a_customer_whose_cart_was_checked_out_gets_a_new_open_cart() {
    let f = fixture().await;
    let ada = CustomerId::new();
    let (first, access) = f.owned_cart(ada, Currency::Usd).await;

    f.carts.complete_checkout(first, "ord_1").await.unwrap();

    assert_eq!(f.carts.customer_cart(ada).await.unwrap(), None);
    f.read(first, &access).await;
    let (second, _) = f.owned_cart(ada, Currency::Usd).await;
    let open = f.carts.customer_cart(ada).await.unwrap().unwrap();
    assert_eq!(open.cart.id, second);
}
