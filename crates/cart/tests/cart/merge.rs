//! Merging an anonymous cart into the customer's cart at sign-in, rule by rule (see
//! `CartService::merge_on_sign_in`).

use super::*;

use kassa_kernel::ids::CustomerId;

impl Fixture {
    async fn sign_in(&self, customer: CustomerId, anonymous: &(CartId, String)) -> PricedCart {
        self.carts
            .merge_on_sign_in(customer, Some(anonymous.clone()))
            .await
            .unwrap()
            .unwrap()
    }
}

fn token_of(anonymous: &(CartId, String)) -> CartAccess {
    CartAccess::Token(anonymous.1.clone())
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(id: CartId, result: Result<T, CartError>) {
    assert!(
        matches!(result, Err(CartError::CartNotFound(found)) if found == id),
        "{result:?}"
    );
}

#[tokio::test]
async fn signing_in_without_an_anonymous_cart_returns_the_customers_open_cart_or_none() {
    let f = fixture().await;
    f.product("MUG", 300, &[usd(1_000)]).await;
    let ada = CustomerId::new();
    assert_eq!(f.carts.merge_on_sign_in(ada, None).await.unwrap(), None);

    let (id, access) = f.owned_cart(ada, Currency::Usd).await;
    let own = f.add(id, &access, "MUG", 1).await;
    assert_eq!(
        f.carts.merge_on_sign_in(ada, None).await.unwrap(),
        Some(own)
    );
}

#[tokio::test]
async fn an_anonymous_cart_becomes_the_cart_of_a_customer_without_one() {
    let f = fixture().await;
    f.product("TEE", 200, &[usd(2_000)]).await;
    f.product("MUG", 300, &[usd(1_000)]).await;
    let anonymous = f.anonymous_cart(Currency::Usd).await;
    let (id, _) = anonymous;
    let before = f.add(id, &token_of(&anonymous), "TEE", 2).await;
    let ada = CustomerId::new();

    let merged = f.sign_in(ada, &anonymous).await;
    assert_eq!(merged.cart.id, id);
    assert_eq!(lines(&merged), lines(&before));
    assert_eq!(f.carts.customer_cart(ada).await.unwrap(), Some(merged));
    let access = CartAccess::Customer(ada);
    let added = f.add(id, &access, "MUG", 1).await;
    assert_eq!(lines(&added), [("TEE", 2), ("MUG", 1)]);
}

#[tokio::test]
async fn a_same_currency_merge_adds_up_skus_to_999_at_most_and_closes_the_anonymous_cart() {
    let f = fixture().await;
    for code in ["MUG", "TEE", "CAP"] {
        f.product(code, 100, &[usd(1_000)]).await;
    }
    let ada = CustomerId::new();
    let (own, access) = f.owned_cart(ada, Currency::Usd).await;
    f.add(own, &access, "MUG", 2).await;
    f.add(own, &access, "TEE", 998).await;
    let anonymous = f.anonymous_cart(Currency::Usd).await;
    let (anonymous_id, _) = anonymous;
    let token = token_of(&anonymous);
    f.add(anonymous_id, &token, "TEE", 5).await;
    f.add(anonymous_id, &token, "CAP", 1).await;
    f.add(anonymous_id, &token, "MUG", 3).await;

    let merged = f.sign_in(ada, &anonymous).await;
    assert_eq!(merged.cart.id, own);
    assert_eq!(lines(&merged), [("MUG", 5), ("TEE", 999), ("CAP", 1)]);
    assert_eq!(f.read(own, &access).await, merged);
    assert_eq!(f.carts.customer_cart(ada).await.unwrap(), Some(merged));

    // The merged anonymous cart opens for nobody, by its token or for the customer.
    assert_not_found(anonymous_id, f.carts.cart(anonymous_id, &token).await);
    assert_not_found(anonymous_id, f.carts.cart(anonymous_id, &access).await);
    let written = f
        .carts
        .add_line(anonymous_id, &token, sku("CAP"), quantity(1))
        .await;
    assert_not_found(anonymous_id, written);
}

#[tokio::test]
async fn a_same_currency_merge_leaves_out_new_skus_once_the_cart_holds_lines_max() {
    let f = fixture_with(CartLimits { lines_max: 3 }).await;
    for code in ["A-1", "A-2", "A-3", "A-4"] {
        f.product(code, 10, &[usd(100)]).await;
    }
    let ada = CustomerId::new();
    let (own, access) = f.owned_cart(ada, Currency::Usd).await;
    f.add(own, &access, "A-1", 1).await;
    f.add(own, &access, "A-2", 1).await;
    let anonymous = f.anonymous_cart(Currency::Usd).await;
    let token = token_of(&anonymous);
    for (code, n) in [("A-3", 1), ("A-4", 1), ("A-2", 2)] {
        f.add(anonymous.0, &token, code, n).await;
    }

    // A-3 takes the last free line and A-4 is left out; A-2, already there, is still added up.
    let merged = f.sign_in(ada, &anonymous).await;
    assert_eq!(lines(&merged), [("A-1", 1), ("A-2", 3), ("A-3", 1)]);
}

#[tokio::test]
async fn a_same_currency_merge_fills_in_only_an_empty_email_or_address_never_shipping() {
    let f = fixture().await;
    let ground = f
        .shipping_option("Ground", &["US"], Currency::Usd, flat(usd(500)))
        .await;
    let europe = f
        .shipping_option("Europe", &["DE"], Currency::Usd, flat(usd(900)))
        .await;
    let ada_email = Email::parse("ada@example.com").unwrap();
    let anonymous_email = Email::parse("shopper@example.com").unwrap();

    // Ada's cart has everything: it keeps it all.
    let ada = CustomerId::new();
    let (own, access) = f.owned_cart(ada, Currency::Usd).await;
    f.carts
        .set_email(own, &access, ada_email.clone())
        .await
        .unwrap();
    f.ship_to(own, &access, "US").await;
    f.carts
        .choose_shipping_option(own, &access, ground)
        .await
        .unwrap();
    let anonymous = f.anonymous_cart(Currency::Usd).await;
    let token = token_of(&anonymous);
    f.carts
        .set_email(anonymous.0, &token, anonymous_email.clone())
        .await
        .unwrap();
    f.ship_to(anonymous.0, &token, "DE").await;
    f.carts
        .choose_shipping_option(anonymous.0, &token, europe)
        .await
        .unwrap();
    let merged = f.sign_in(ada, &anonymous).await;
    assert_eq!(merged.cart.email, Some(ada_email));
    assert_eq!(merged.cart.shipping_address, Some(address("US")));
    assert_eq!(merged.cart.shipping_option_id, Some(ground));

    // Bob's cart has none: it takes the email and address, but not the shipping choice.
    let bob = CustomerId::new();
    f.owned_cart(bob, Currency::Usd).await;
    let anonymous = f.anonymous_cart(Currency::Usd).await;
    let token = token_of(&anonymous);
    f.carts
        .set_email(anonymous.0, &token, anonymous_email.clone())
        .await
        .unwrap();
    f.ship_to(anonymous.0, &token, "DE").await;
    f.carts
        .choose_shipping_option(anonymous.0, &token, europe)
        .await
        .unwrap();
    let merged = f.sign_in(bob, &anonymous).await;
    assert_eq!(merged.cart.email, Some(anonymous_email));
    assert_eq!(merged.cart.shipping_address, Some(address("DE")));
    assert_eq!(merged.cart.shipping_option_id, None);
}

#[tokio::test]
async fn a_merge_in_another_currency_keeps_the_anonymous_cart_and_sets_the_old_one_aside() {
    let f = fixture().await;
    f.product("MUG", 300, &[eur(900)]).await;
    f.product("TEE", 200, &[usd(2_000)]).await;
    let ada = CustomerId::new();
    let (old, access) = f.owned_cart(ada, Currency::Eur).await;
    let kept = f.add(old, &access, "MUG", 1).await;
    let anonymous = f.anonymous_cart(Currency::Usd).await;
    let token = token_of(&anonymous);
    f.add(anonymous.0, &token, "TEE", 1).await;

    let merged = f.sign_in(ada, &anonymous).await;
    assert_eq!(merged.cart.id, anonymous.0);
    assert_eq!(merged.cart.currency, Currency::Usd);
    assert_eq!(lines(&merged), [("TEE", 1)]);
    assert_eq!(f.carts.customer_cart(ada).await.unwrap(), Some(merged));

    // The old cart is kept aside: readable by its owner, closed to writes.
    let aside = f.read(old, &access).await;
    assert_eq!(lines(&aside), lines(&kept));
    let written = f
        .carts
        .add_line(old, &access, sku("MUG"), quantity(1))
        .await;
    assert_not_found(old, written);
    // The winner is now the customer's, no longer the anonymous token's.
    assert_not_found(anonymous.0, f.carts.cart(anonymous.0, &token).await);
    let added = f.add(anonymous.0, &access, "TEE", 1).await;
    assert_eq!(lines(&added), [("TEE", 2)]);
}

#[tokio::test]
async fn an_anonymous_cart_that_does_not_open_with_its_token_is_ignored_and_left_untouched() {
    let f = fixture().await;
    f.product("MUG", 300, &[usd(1_000)]).await;
    let ada = CustomerId::new();
    let (own, access) = f.owned_cart(ada, Currency::Usd).await;
    let ada_s = f.add(own, &access, "MUG", 1).await;

    let anonymous = f.anonymous_cart(Currency::Usd).await;
    let untouched = f.add(anonymous.0, &token_of(&anonymous), "MUG", 2).await;
    // Merged into Bob's cart already: neither owned nor open any more.
    let bob = CustomerId::new();
    f.owned_cart(bob, Currency::Usd).await;
    let merged_into_bob = f.anonymous_cart(Currency::Usd).await;
    f.add(merged_into_bob.0, &token_of(&merged_into_bob), "MUG", 4)
        .await;
    f.sign_in(bob, &merged_into_bob).await;
    // Owned by Eve: its token opens nothing.
    let (eve_s, eve_token) = f
        .carts
        .create_cart(Currency::Usd, Some(CustomerId::new()))
        .await
        .unwrap();
    f.tick();

    let stale = [
        (anonymous.0, "A".repeat(43)),
        (anonymous.0, String::new()),
        (CartId::new(), anonymous.1.clone()),
        merged_into_bob,
        (eve_s.cart.id, eve_token.expose().to_owned()),
        (own, anonymous.1.clone()),
    ];
    for given in stale {
        let signed_in = f.carts.merge_on_sign_in(ada, Some(given)).await.unwrap();
        assert_eq!(signed_in.as_ref(), Some(&ada_s));
    }
    assert_eq!(f.read(anonymous.0, &token_of(&anonymous)).await, untouched);

    // Without a cart of their own, a customer signing in with a stale cart gets none.
    let cy = CustomerId::new();
    let wrong = (anonymous.0, "B".repeat(43));
    assert_eq!(
        f.carts.merge_on_sign_in(cy, Some(wrong)).await.unwrap(),
        None
    );
    assert_eq!(f.read(anonymous.0, &token_of(&anonymous)).await, untouched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sign_ins_racing_with_one_anonymous_cart_merge_its_lines_once() {
    let f = fixture().await;
    f.product("MUG", 300, &[usd(1_000)]).await;
    f.product("TEE", 200, &[usd(2_000)]).await;
    let ada = CustomerId::new();
    let (own, access) = f.owned_cart(ada, Currency::Usd).await;
    f.add(own, &access, "MUG", 1).await;
    let anonymous = f.anonymous_cart(Currency::Usd).await;
    f.add(anonymous.0, &token_of(&anonymous), "MUG", 2).await;
    f.add(anonymous.0, &token_of(&anonymous), "TEE", 1).await;

    let spawn_sign_in = || {
        let carts = Arc::clone(&f.carts);
        let anonymous = anonymous.clone();
        tokio::spawn(async move { carts.merge_on_sign_in(ada, Some(anonymous)).await })
    };
    let (first, second) = tokio::join!(spawn_sign_in(), spawn_sign_in());
    for signed_in in [first.unwrap(), second.unwrap()] {
        assert_eq!(signed_in.unwrap().unwrap().cart.id, own);
    }
    assert_eq!(lines(&f.read(own, &access).await), [("MUG", 3), ("TEE", 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sign_ins_racing_without_a_customer_cart_take_the_anonymous_cart_once() {
    let f = fixture().await;
    f.product("MUG", 300, &[usd(1_000)]).await;
    let ada = CustomerId::new();
    let anonymous = f.anonymous_cart(Currency::Usd).await;
    f.add(anonymous.0, &token_of(&anonymous), "MUG", 2).await;

    let spawn_sign_in = || {
        let carts = Arc::clone(&f.carts);
        let anonymous = anonymous.clone();
        tokio::spawn(async move { carts.merge_on_sign_in(ada, Some(anonymous)).await })
    };
    let (first, second) = tokio::join!(spawn_sign_in(), spawn_sign_in());
    for signed_in in [first.unwrap(), second.unwrap()] {
        let cart = signed_in.unwrap().unwrap();
        assert_eq!(cart.cart.id, anonymous.0);
        assert_eq!(lines(&cart), [("MUG", 2)]);
    }
}
