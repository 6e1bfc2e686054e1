//! Cart service tests against the real catalog, each on a fresh database: SQLite always,
//! PostgreSQL when TEST_DATABASE_URL is set. Carts of signed-in customers are in the modules
//! `ownership` (who opens which cart) and `merge` (sign-in), in the same test binary.

#![allow(clippy::unwrap_used)]

// Under tests/cart/, so that Cargo does not build each as a test binary of its own.
#[path = "cart/merge.rs"]
mod merge;
#[path = "cart/ownership.rs"]
mod ownership;

use std::sync::Arc;
use std::time::Duration;

use kassa_cart::store::CartStore;
use kassa_cart::*;
use kassa_catalog::store::CatalogStore;
use kassa_catalog::{Catalog, CatalogService, Handle, NewProduct, NewVariant, Product, Title};
use kassa_kernel::ids::{CartId, CartLineId, ShippingOptionId, VariantId};
use kassa_kernel::rounding::Rate;
use kassa_kernel::{
    CountryCode, Currency, DomainError, Email, ManualClock, Money, Quantity, Sku, Timestamp,
};
use kassa_testkit::TestDb;

const START_MS: i64 = 1_795_000_000_000;

/// The cart service (behind the trait object other crates hold), the real catalog it prices
/// from, the clock both see, and the test database kept alive for the test's duration.
struct Fixture {
    carts: Arc<dyn CartService>,
    catalog: Arc<Catalog>,
    clock: ManualClock,
    _db: TestDb,
}

async fn fixture() -> Fixture {
    fixture_with(CartLimits::default()).await
}

async fn fixture_with(limits: CartLimits) -> Fixture {
    let test = TestDb::new().await;
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    let catalog_store = CatalogStore::new(test.district("catalog").await);
    catalog_store.migrate().await.unwrap();
    let catalog = Arc::new(Catalog::new(catalog_store, Arc::new(clock.clone())));
    let cart_store = CartStore::new(test.district("cart").await);
    cart_store.migrate().await.unwrap();
    let carts = Arc::new(Carts::new(
        cart_store,
        catalog.clone(),
        Arc::new(clock.clone()),
        limits,
    ));
    Fixture {
        carts,
        catalog,
        clock,
        _db: test,
    }
}

impl Fixture {
    /// A product with one variant `code`, weighing `grams`, with `prices`.
    async fn product(&self, code: &str, grams: u32, prices: &[Money]) -> Product {
        let slug = code.to_ascii_lowercase();
        self.catalog
            .create_product(NewProduct {
                handle: Handle::parse(&slug).unwrap(),
                title: Title::parse(&format!("Product {code}")).unwrap(),
                description: String::new(),
                category_ids: Vec::new(),
                variants: vec![NewVariant {
                    sku: sku(code),
                    title: Title::parse(code).unwrap(),
                    options: Vec::new(),
                    weight_grams: grams,
                    prices: prices.to_vec(),
                }],
            })
            .await
            .unwrap()
    }

    async fn variant(&self, code: &str, grams: u32, prices: &[Money]) -> VariantId {
        self.product(code, grams, prices).await.variants[0].id
    }

    async fn cart(&self, currency: Currency) -> (CartId, CartAccess) {
        let (priced, token) = self.carts.create_cart(currency, None).await.unwrap();
        (priced.cart.id, CartAccess::Token(token.expose().to_owned()))
    }

    async fn read(&self, id: CartId, access: &CartAccess) -> PricedCart {
        self.carts.cart(id, access).await.unwrap()
    }

    async fn add(&self, id: CartId, access: &CartAccess, code: &str, n: u32) -> PricedCart {
        self.carts
            .add_line(id, access, sku(code), quantity(n))
            .await
            .unwrap()
    }

    async fn ship_to(&self, id: CartId, access: &CartAccess, country: &str) -> PricedCart {
        self.carts
            .set_shipping_address(id, access, address(country))
            .await
            .unwrap()
    }

    async fn shipping_option(
        &self,
        name: &str,
        countries: &[&str],
        currency: Currency,
        rate: ShippingRate,
    ) -> ShippingOptionId {
        let countries = countries.iter().map(|c| country(c)).collect();
        let option = NewShippingOption::parse(name, countries, currency, rate).unwrap();
        self.carts
            .create_shipping_option(option)
            .await
            .unwrap()
            .id()
    }

    /// Moves time on, so a write that should not have happened would show in `updated_at`.
    fn tick(&self) {
        self.clock.advance(Duration::from_secs(1));
    }
}

fn sku(code: &str) -> Sku {
    Sku::parse(code).unwrap()
}

fn quantity(n: u32) -> Quantity {
    Quantity::new(n).unwrap()
}

fn country(code: &str) -> CountryCode {
    CountryCode::parse(code).unwrap()
}

fn usd(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::Usd)
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::Eur)
}

fn percent(text: &str) -> Rate {
    Rate::parse_percent(text).unwrap()
}

fn address(country: &str) -> Address {
    Address::parse(AddressInput {
        name: "Grace Hopper".into(),
        line1: "1 Compiler Lane".into(),
        line2: None,
        city: "Arlington".into(),
        postal_code: "22201".into(),
        region: Some("VA".into()),
        country: country.into(),
        phone: None,
    })
    .unwrap()
}

fn flat(amount: Money) -> ShippingRate {
    ShippingRate::Flat { amount }
}

fn tiers(bands: &[(u32, Money)]) -> ShippingRate {
    ShippingRate::WeightTiers(
        bands
            .iter()
            .map(|&(max_weight_grams, amount)| WeightTier {
                max_weight_grams,
                amount,
            })
            .collect(),
    )
}

/// (SKU, quantity) of every line, in order.
fn lines(cart: &PricedCart) -> Vec<(&str, u32)> {
    cart.lines
        .iter()
        .map(|l| (l.line.sku.as_str(), l.line.quantity.get()))
        .collect()
}

/// subtotal, shipping, tax and total in minor units.
fn totals(cart: &PricedCart) -> [i64; 4] {
    let t = cart.totals;
    [
        t.subtotal.amount_minor(),
        t.shipping.amount_minor(),
        t.tax.amount_minor(),
        t.total.amount_minor(),
    ]
}

fn line_id(cart: &PricedCart, code: &str) -> CartLineId {
    cart.lines
        .iter()
        .find(|l| l.line.sku.as_str() == code)
        .unwrap()
        .line
        .id
}

fn quote_names(quotes: &[ShippingQuote]) -> Vec<&str> {
    quotes.iter().map(|q| q.name.as_str()).collect()
}

#[tokio::test]
async fn a_new_cart_is_empty_and_reads_back_with_its_token() {
    let f = fixture().await;
    let (created, token) = f.carts.create_cart(Currency::Eur, None).await.unwrap();
    assert!(created.lines.is_empty());
    assert_eq!(created.cart.currency, Currency::Eur);
    assert_eq!(totals(&created), [0, 0, 0, 0]);
    assert_eq!(created.totals.total.currency(), Currency::Eur);
    assert_eq!(created.cart.created_at, Timestamp::from_millis(START_MS));

    let access = CartAccess::Token(token.expose().to_owned());
    let read = f.read(created.cart.id, &access).await;
    assert_eq!(read, created);
}

#[tokio::test]
async fn a_wrong_token_another_carts_token_or_a_missing_cart_is_cart_not_found() {
    let f = fixture().await;
    let (mine, _) = f.cart(Currency::Usd).await;
    let (_, theirs) = f.cart(Currency::Usd).await;
    let missing = CartId::new();
    let attempts = [
        (mine, theirs.clone()),
        (mine, CartAccess::Token("A".repeat(43))),
        (mine, CartAccess::Token(String::new())),
        (missing, theirs),
    ];
    for (id, access) in attempts {
        let err = f.carts.cart(id, &access).await.unwrap_err();
        assert!(
            matches!(err, CartError::CartNotFound(found) if found == id),
            "{err:?}"
        );
        assert_eq!(err.problem_type().code, "cart_not_found");
    }
}

#[tokio::test]
async fn a_write_with_a_wrong_token_is_cart_not_found_and_changes_nothing() {
    let f = fixture().await;
    f.product("MUG", 300, &[usd(1_000)]).await;
    let (id, access) = f.cart(Currency::Usd).await;
    let before = f.add(id, &access, "MUG", 1).await;
    let (_, other) = f.cart(Currency::Usd).await;
    f.tick();

    let line = line_id(&before, "MUG");
    let refusals = [
        f.carts.add_line(id, &other, sku("MUG"), quantity(1)).await,
        f.carts.update_line(id, &other, line, quantity(5)).await,
        f.carts.remove_line(id, &other, line).await,
        f.carts
            .set_email(id, &other, Email::parse("eve@example.com").unwrap())
            .await,
        f.carts
            .set_shipping_address(id, &other, address("US"))
            .await,
    ];
    for refused in refusals {
        assert!(
            matches!(refused, Err(CartError::CartNotFound(_))),
            "{refused:?}"
        );
    }
    assert_eq!(f.read(id, &access).await, before);
}

#[tokio::test]
async fn lines_are_added_merged_by_sku_updated_and_removed() {
    let f = fixture().await;
    f.product("TSHIRT-RED-M", 200, &[usd(1_999)]).await;
    f.product("MUG-BLUE", 450, &[usd(1_250)]).await;
    let (id, access) = f.cart(Currency::Usd).await;

    f.add(id, &access, "tshirt-red-m", 2).await;
    f.add(id, &access, "MUG-BLUE", 1).await;
    let merged = f.add(id, &access, "TSHIRT-RED-M", 3).await;
    assert_eq!(lines(&merged), [("TSHIRT-RED-M", 5), ("MUG-BLUE", 1)]);
    assert_eq!(merged.lines[0].line_total, Some(usd(9_995)));
    assert_eq!(merged.totals.subtotal, usd(11_245));

    let updated = f
        .carts
        .update_line(id, &access, line_id(&merged, "MUG-BLUE"), quantity(4))
        .await
        .unwrap();
    assert_eq!(lines(&updated), [("TSHIRT-RED-M", 5), ("MUG-BLUE", 4)]);

    let removed = f
        .carts
        .remove_line(id, &access, line_id(&updated, "TSHIRT-RED-M"))
        .await
        .unwrap();
    assert_eq!(lines(&removed), [("MUG-BLUE", 4)]);
    assert_eq!(totals(&removed), [5_000, 0, 0, 5_000]);
    assert_eq!(f.read(id, &access).await, removed);
}

#[tokio::test]
async fn an_email_set_on_the_cart_reads_back() {
    let f = fixture().await;
    let (id, access) = f.cart(Currency::Usd).await;
    let email = Email::parse("Ada@Example.COM").unwrap();
    let priced = f.carts.set_email(id, &access, email.clone()).await.unwrap();
    assert_eq!(priced.cart.email, Some(email));
    assert_eq!(f.read(id, &access).await.cart.email, priced.cart.email);
}

#[tokio::test]
async fn adding_an_unknown_archived_or_unpriced_sku_is_refused_and_changes_nothing() {
    let f = fixture().await;
    f.product("MUG", 300, &[usd(1_000)]).await;
    let archived = f.product("POSTER", 100, &[usd(4_000)]).await;
    f.catalog.archive_product(archived.id).await.unwrap();
    f.product("SOCKS", 80, &[eur(500)]).await;
    let (id, access) = f.cart(Currency::Usd).await;
    let before = f.add(id, &access, "MUG", 1).await;
    f.tick();

    let unknown = f
        .carts
        .add_line(id, &access, sku("NOPE"), quantity(1))
        .await;
    assert!(matches!(&unknown, Err(CartError::UnknownSku(s)) if s.as_str() == "NOPE"));
    let archived = f
        .carts
        .add_line(id, &access, sku("POSTER"), quantity(1))
        .await;
    assert!(matches!(&archived, Err(CartError::SkuUnavailable(s)) if s.as_str() == "POSTER"));
    let unpriced = f
        .carts
        .add_line(id, &access, sku("SOCKS"), quantity(1))
        .await;
    match unpriced {
        Err(err @ CartError::PriceUnavailable { .. }) => {
            assert_eq!(err.problem_type().code, "price_unavailable");
            assert_eq!(
                err.detail(),
                "SOCKS has no price in USD, the currency of this cart."
            );
        }
        other => panic!("expected PriceUnavailable, got {other:?}"),
    }
    assert_eq!(f.read(id, &access).await, before);
}

#[tokio::test]
async fn a_line_takes_999_units_and_a_merge_past_that_is_refused_and_changes_nothing() {
    let f = fixture().await;
    f.product("TSHIRT-RED-M", 200, &[usd(1_999)]).await;
    let (id, access) = f.cart(Currency::Usd).await;
    f.add(id, &access, "TSHIRT-RED-M", 998).await;
    let full = f.add(id, &access, "TSHIRT-RED-M", 1).await;
    assert_eq!(lines(&full), [("TSHIRT-RED-M", 999)]);
    f.tick();

    let err = f
        .carts
        .add_line(id, &access, sku("TSHIRT-RED-M"), quantity(2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CartError::QuantityTooLarge {
                in_cart: 999,
                added: 2,
                max: 999,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.detail(),
        "Adding 2 units of TSHIRT-RED-M to the 999 already in the cart would exceed the \
         maximum of 999 per line."
    );
    assert_eq!(f.read(id, &access).await, full);
}

#[tokio::test]
async fn a_cart_takes_lines_up_to_lines_max_and_refuses_one_more_but_still_merges() {
    let f = fixture_with(CartLimits { lines_max: 3 }).await;
    for code in ["A-1", "A-2", "A-3", "A-4"] {
        f.product(code, 10, &[usd(100)]).await;
    }
    let (id, access) = f.cart(Currency::Usd).await;
    f.add(id, &access, "A-1", 1).await;
    f.add(id, &access, "A-2", 1).await;
    let full = f.add(id, &access, "A-3", 1).await;
    assert_eq!(full.lines.len(), 3);
    f.tick();

    let err = f
        .carts
        .add_line(id, &access, sku("A-4"), quantity(1))
        .await
        .unwrap_err();
    assert!(matches!(err, CartError::TooManyLines { max: 3 }), "{err:?}");
    assert_eq!(err.problem_type().code, "too_many_lines");
    assert_eq!(f.read(id, &access).await, full);

    let merged = f.add(id, &access, "A-2", 4).await;
    assert_eq!(merged.lines.len(), 3);
    assert_eq!(merged.lines[1].line.quantity.get(), 5);
}

#[tokio::test]
async fn the_default_limit_is_100_lines() {
    let f = fixture().await;
    let skus: Vec<String> = (1..=101).map(|i| format!("SKU-{i}")).collect();
    for code in &skus {
        f.product(code, 10, &[usd(100)]).await;
    }
    let (id, access) = f.cart(Currency::Usd).await;
    for code in &skus[..100] {
        f.carts
            .add_line(id, &access, sku(code), quantity(1))
            .await
            .unwrap();
    }
    let err = f
        .carts
        .add_line(id, &access, sku(&skus[100]), quantity(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CartError::TooManyLines { max: 100 }),
        "{err:?}"
    );
    let read = f.read(id, &access).await;
    assert_eq!(read.lines.len(), 100);
    assert_eq!(read.totals.subtotal, usd(10_000));
}

#[tokio::test]
async fn updating_or_removing_a_line_not_in_this_cart_is_line_not_found() {
    let f = fixture().await;
    f.product("MUG", 300, &[usd(1_000)]).await;
    let (mine, my_access) = f.cart(Currency::Usd).await;
    let (theirs, their_access) = f.cart(Currency::Usd).await;
    let before = f.add(mine, &my_access, "MUG", 1).await;
    let their_cart = f.add(theirs, &their_access, "MUG", 2).await;
    let their_line = line_id(&their_cart, "MUG");
    f.tick();

    for line in [their_line, CartLineId::new()] {
        let updated = f
            .carts
            .update_line(mine, &my_access, line, quantity(7))
            .await;
        assert!(matches!(updated, Err(CartError::LineNotFound(l)) if l == line));
        let removed = f.carts.remove_line(mine, &my_access, line).await;
        assert!(matches!(removed, Err(CartError::LineNotFound(l)) if l == line));
    }
    assert_eq!(f.read(mine, &my_access).await, before);
    assert_eq!(lines(&f.read(theirs, &their_access).await), [("MUG", 2)]);
}

#[tokio::test]
async fn a_price_change_in_the_catalog_shows_on_the_next_read() {
    let f = fixture().await;
    let mug = f.variant("MUG", 300, &[usd(1_000)]).await;
    let (id, access) = f.cart(Currency::Usd).await;
    assert_eq!(
        f.add(id, &access, "MUG", 3).await.totals.subtotal,
        usd(3_000)
    );

    f.catalog.set_price(mug, usd(1_250)).await.unwrap();
    let read = f.read(id, &access).await;
    assert_eq!(read.lines[0].unit_price, Some(usd(1_250)));
    assert_eq!(read.totals.subtotal, usd(3_750));
}

#[tokio::test]
async fn an_archived_or_unpriced_skus_line_stays_unavailable_and_leaves_the_totals() {
    let f = fixture().await;
    let mug = f.variant("MUG", 300, &[usd(1_000)]).await;
    let tee = f.variant("TEE", 200, &[usd(2_000)]).await;
    f.product("CAP", 100, &[usd(1_500)]).await;
    let (id, access) = f.cart(Currency::Usd).await;
    f.add(id, &access, "MUG", 1).await;
    f.add(id, &access, "TEE", 2).await;
    f.add(id, &access, "CAP", 1).await;

    f.catalog.archive_variant(mug).await.unwrap();
    f.catalog.remove_price(tee, Currency::Usd).await.unwrap();
    let read = f.read(id, &access).await;
    let available: Vec<bool> = read.lines.iter().map(|l| l.available).collect();
    assert_eq!(available, [false, false, true]);
    assert!(read.lines[0].offer.as_ref().is_some_and(|o| !o.purchasable));
    assert_eq!(read.lines[0].line_total, None);
    assert_eq!(read.lines[1].unit_price, None);
    assert_eq!(totals(&read), [1_500, 0, 0, 1_500]);

    // The lines stay and can still be removed.
    let removed = f
        .carts
        .remove_line(id, &access, line_id(&read, "MUG"))
        .await
        .unwrap();
    assert_eq!(lines(&removed), [("TEE", 2), ("CAP", 1)]);
}

#[tokio::test]
async fn shipping_options_need_a_shipping_address() {
    let f = fixture().await;
    let ground = f
        .shipping_option("Ground", &["US"], Currency::Usd, flat(usd(500)))
        .await;
    let (id, access) = f.cart(Currency::Usd).await;
    let before = f.read(id, &access).await;
    f.tick();
    let listed = f.carts.shipping_options(id, &access).await;
    assert!(
        matches!(listed, Err(CartError::AddressRequired)),
        "{listed:?}"
    );
    let chosen = f.carts.choose_shipping_option(id, &access, ground).await;
    assert!(
        matches!(chosen, Err(CartError::AddressRequired)),
        "{chosen:?}"
    );
    assert_eq!(f.read(id, &access).await, before);
}

#[tokio::test]
async fn shipping_options_are_filtered_by_country_currency_and_weight_tier() {
    let f = fixture().await;
    f.product("BRICK", 1_500, &[usd(300)]).await;
    f.shipping_option("Ground", &["US", "CA"], Currency::Usd, flat(usd(500)))
        .await;
    f.shipping_option("Express", &["US"], Currency::Usd, flat(usd(2_500)))
        .await;
    f.shipping_option("Europe", &["DE"], Currency::Usd, flat(usd(900)))
        .await;
    f.shipping_option("Ground EUR", &["US"], Currency::Eur, flat(eur(400)))
        .await;
    f.shipping_option(
        "Parcel",
        &["US"],
        Currency::Usd,
        tiers(&[(1_000, usd(300)), (3_000, usd(700))]),
    )
    .await;
    let (id, access) = f.cart(Currency::Usd).await;
    f.ship_to(id, &access, "US").await;

    // Empty cart: 0 g, the lightest tier.
    let quotes = f.carts.shipping_options(id, &access).await.unwrap();
    assert_eq!(quote_names(&quotes), ["Parcel", "Ground", "Express"]);
    assert_eq!(quotes[0].amount, usd(300));

    // 1500 g: the second tier, now dearer than Ground.
    f.add(id, &access, "BRICK", 1).await;
    let quotes = f.carts.shipping_options(id, &access).await.unwrap();
    assert_eq!(quote_names(&quotes), ["Ground", "Parcel", "Express"]);
    assert_eq!(quotes[1].amount, usd(700));

    // 3000 g is the last tier's maximum, 4500 g is past it.
    f.add(id, &access, "BRICK", 1).await;
    let quotes = f.carts.shipping_options(id, &access).await.unwrap();
    assert_eq!(quote_names(&quotes), ["Ground", "Parcel", "Express"]);
    assert_eq!(quotes[1].amount, usd(700));
    f.add(id, &access, "BRICK", 1).await;
    let quotes = f.carts.shipping_options(id, &access).await.unwrap();
    assert_eq!(quote_names(&quotes), ["Ground", "Express"]);

    f.ship_to(id, &access, "CA").await;
    let quotes = f.carts.shipping_options(id, &access).await.unwrap();
    assert_eq!(quote_names(&quotes), ["Ground"]);

    f.ship_to(id, &access, "FR").await;
    assert!(f
        .carts
        .shipping_options(id, &access)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn choosing_an_option_that_does_not_apply_or_does_not_exist_is_refused_and_changes_nothing() {
    let f = fixture().await;
    f.product("BRICK", 2_000, &[usd(300)]).await;
    let europe = f
        .shipping_option("Europe", &["DE"], Currency::Usd, flat(usd(900)))
        .await;
    let in_euros = f
        .shipping_option("Ground EUR", &["US"], Currency::Eur, flat(eur(400)))
        .await;
    let light = f
        .shipping_option(
            "Letter",
            &["US"],
            Currency::Usd,
            tiers(&[(1_000, usd(100))]),
        )
        .await;
    let (id, access) = f.cart(Currency::Usd).await;
    f.add(id, &access, "BRICK", 1).await;
    let before = f.ship_to(id, &access, "US").await;
    f.tick();

    for option in [europe, in_euros, light] {
        let err = f
            .carts
            .choose_shipping_option(id, &access, option)
            .await
            .unwrap_err();
        assert!(
            matches!(err, CartError::ShippingOptionNotApplicable(o) if o == option),
            "{err:?}"
        );
        assert_eq!(err.problem_type().code, "shipping_option_not_applicable");
    }
    let missing = ShippingOptionId::new();
    let err = f
        .carts
        .choose_shipping_option(id, &access, missing)
        .await
        .unwrap_err();
    assert!(matches!(err, CartError::ShippingOptionNotFound(o) if o == missing));
    assert_eq!(f.read(id, &access).await, before);
}

#[tokio::test]
async fn a_chosen_option_counts_only_while_it_applies_and_a_new_country_drops_it() {
    let f = fixture().await;
    f.product("BRICK", 800, &[usd(300)]).await;
    let parcel = f
        .shipping_option(
            "Parcel",
            &["US", "CA"],
            Currency::Usd,
            tiers(&[(1_000, usd(450))]),
        )
        .await;
    let (id, access) = f.cart(Currency::Usd).await;
    f.add(id, &access, "BRICK", 1).await;
    f.ship_to(id, &access, "US").await;
    let chosen = f
        .carts
        .choose_shipping_option(id, &access, parcel)
        .await
        .unwrap();
    assert_eq!(chosen.cart.shipping_option_id, Some(parcel));
    assert_eq!(chosen.shipping.as_ref().map(|q| q.amount), Some(usd(450)));
    assert_eq!(totals(&chosen), [300, 450, 0, 750]);

    // Too heavy for every tier: still chosen, but it counts nothing until it applies again.
    let heavy = f.add(id, &access, "BRICK", 1).await;
    assert_eq!(heavy.cart.shipping_option_id, Some(parcel));
    assert_eq!(heavy.shipping, None);
    assert_eq!(totals(&heavy), [600, 0, 0, 600]);
    let light = f
        .carts
        .update_line(id, &access, line_id(&heavy, "BRICK"), quantity(1))
        .await
        .unwrap();
    assert_eq!(light.shipping.map(|q| q.amount), Some(usd(450)));

    // Another country the option delivers to keeps it; one it does not deliver to drops it.
    let canada = f.ship_to(id, &access, "CA").await;
    assert_eq!(canada.cart.shipping_option_id, Some(parcel));
    let mexico = f.ship_to(id, &access, "MX").await;
    assert_eq!(mexico.cart.shipping_option_id, None);
    assert_eq!(mexico.shipping, None);
    let back = f.ship_to(id, &access, "US").await;
    assert_eq!(back.cart.shipping_option_id, None);
}

#[tokio::test]
async fn deleting_a_chosen_shipping_option_unchooses_it() {
    let f = fixture().await;
    let ground = f
        .shipping_option("Ground", &["US"], Currency::Usd, flat(usd(500)))
        .await;
    let (id, access) = f.cart(Currency::Usd).await;
    f.ship_to(id, &access, "US").await;
    f.carts
        .choose_shipping_option(id, &access, ground)
        .await
        .unwrap();

    f.carts.delete_shipping_option(ground).await.unwrap();
    let read = f.read(id, &access).await;
    assert_eq!(read.cart.shipping_option_id, None);
    assert_eq!(read.shipping, None);
    let again = f.carts.delete_shipping_option(ground).await;
    assert!(matches!(again, Err(CartError::ShippingOptionNotFound(o)) if o == ground));
}

#[tokio::test]
async fn staff_shipping_options_round_trip_through_storage() {
    let f = fixture().await;
    let rate = tiers(&[(500, eur(490)), (2_000, eur(690)), (31_500, eur(1_690))]);
    let countries = vec![country("DE"), country("AT")];
    let option = NewShippingOption::parse("DHL Paket", countries, Currency::Eur, rate).unwrap();
    let created = f.carts.create_shipping_option(option).await.unwrap();
    let flat_id = f
        .shipping_option("Pickup", &["DE"], Currency::Eur, flat(eur(0)))
        .await;

    let all = f.carts.shipping_options_all().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], created);
    assert_eq!(all[1].id(), flat_id);
    assert_eq!(all[1].rate(), &flat(eur(0)));
    let codes: Vec<&str> = all[0].countries().iter().map(CountryCode::as_str).collect();
    assert_eq!(codes, ["AT", "DE"]);
}

#[tokio::test]
async fn tax_rates_are_upserted_listed_and_deleted() {
    let f = fixture().await;
    f.carts
        .set_tax_rate(country("DE"), percent("7"))
        .await
        .unwrap();
    f.tick();
    let replaced = f
        .carts
        .set_tax_rate(country("DE"), percent("19"))
        .await
        .unwrap();
    f.carts
        .set_tax_rate(country("AT"), percent("20"))
        .await
        .unwrap();
    let rates = f.carts.tax_rates().await.unwrap();
    assert_eq!(rates.len(), 2);
    assert_eq!(rates[0].country.as_str(), "AT");
    assert_eq!(rates[1], replaced);
    assert_eq!(rates[1].rate, percent("19"));
    assert_eq!(
        rates[1].updated_at,
        Timestamp::from_millis(START_MS + 1_000)
    );

    f.carts.delete_tax_rate(country("AT")).await.unwrap();
    assert_eq!(f.carts.tax_rates().await.unwrap(), [replaced]);
    let missing = f.carts.delete_tax_rate(country("AT")).await;
    assert!(matches!(missing, Err(CartError::TaxRateNotFound(c)) if c.as_str() == "AT"));
}

#[tokio::test]
async fn a_mixed_usd_cart_totals_with_tiered_shipping_and_tax_to_the_cent() {
    let f = fixture().await;
    f.product("TSHIRT-RED-M", 200, &[usd(1_999)]).await;
    f.product("MUG-BLUE", 450, &[usd(1_250)]).await;
    let poster = f.product("POSTER", 100, &[usd(4_000)]).await;
    let socks = f.variant("SOCKS", 80, &[usd(900), eur(800)]).await;
    let ground = f
        .shipping_option(
            "Ground",
            &["US"],
            Currency::Usd,
            tiers(&[(1_000, usd(595)), (5_000, usd(1_295))]),
        )
        .await;
    f.carts
        .set_tax_rate(country("US"), percent("8.875"))
        .await
        .unwrap();
    let (id, access) = f.cart(Currency::Usd).await;
    f.add(id, &access, "TSHIRT-RED-M", 2).await;
    f.add(id, &access, "MUG-BLUE", 3).await;
    f.add(id, &access, "POSTER", 1).await;
    f.add(id, &access, "SOCKS", 5).await;
    f.ship_to(id, &access, "US").await;
    f.carts
        .choose_shipping_option(id, &access, ground)
        .await
        .unwrap();

    // The poster is archived and the socks lose their dollar price: both stop counting.
    f.catalog.archive_product(poster.id).await.unwrap();
    f.catalog.remove_price(socks, Currency::Usd).await.unwrap();
    let priced = f.read(id, &access).await;
    let available: Vec<bool> = priced.lines.iter().map(|l| l.available).collect();
    assert_eq!(available, [true, true, false, false]);
    assert_eq!(priced.tax_rate, Some(percent("8.875")));
    // 2 × 19.99 + 3 × 12.50 = 77.48; 2 × 200 g + 3 × 450 g = 1750 g → 12.95 shipping;
    // tax 8.875% of 90.43 = 8.0256625 → 8.03; total 98.46.
    assert_eq!(totals(&priced), [7_748, 1_295, 803, 9_846]);
    assert_eq!(priced.totals.total.currency(), Currency::Usd);
}

#[tokio::test]
async fn a_eur_cart_totals_with_flat_shipping_and_vat_to_the_cent() {
    let f = fixture().await;
    f.product("BOOK-1", 350, &[eur(1_299), usd(1_499)]).await;
    f.product("PEN-2", 10, &[eur(149)]).await;
    let dhl = f
        .shipping_option("DHL Paket", &["DE", "AT"], Currency::Eur, flat(eur(499)))
        .await;
    f.carts
        .set_tax_rate(country("DE"), percent("19"))
        .await
        .unwrap();
    f.carts
        .set_tax_rate(country("AT"), percent("20"))
        .await
        .unwrap();
    let (id, access) = f.cart(Currency::Eur).await;
    f.add(id, &access, "BOOK-1", 3).await;
    f.add(id, &access, "PEN-2", 7).await;

    // No address yet: no shipping, no tax.
    assert_eq!(totals(&f.read(id, &access).await), [4_940, 0, 0, 4_940]);

    f.ship_to(id, &access, "DE").await;
    let priced = f
        .carts
        .choose_shipping_option(id, &access, dhl)
        .await
        .unwrap();
    // 3 × 12.99 + 7 × 1.49 = 49.40; + 4.99 = 54.39; 19% = 10.3341 → 10.33; total 64.72.
    assert_eq!(totals(&priced), [4_940, 499, 1_033, 6_472]);
    assert_eq!(priced.lines[0].unit_price, Some(eur(1_299)));

    // Austria: the same option, 20% of 54.39 = 10.878 → 10.88.
    let austria = f.ship_to(id, &access, "AT").await;
    assert_eq!(totals(&austria), [4_940, 499, 1_088, 6_527]);
}

#[tokio::test]
async fn tax_exactly_half_a_cent_rounds_up_on_the_whole_cart() {
    let f = fixture().await;
    f.product("GUM", 5, &[usd(335)]).await;
    f.carts
        .set_tax_rate(country("US"), percent("10"))
        .await
        .unwrap();
    let (id, access) = f.cart(Currency::Usd).await;
    f.ship_to(id, &access, "US").await;
    // 3 × 3.35 = 10.05; 10% = 1.005 → 1.01.
    let priced = f.add(id, &access, "GUM", 3).await;
    assert_eq!(totals(&priced), [1_005, 0, 101, 1_106]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_of_one_sku_merge_into_one_line() {
    let f = fixture().await;
    f.product("MUG", 300, &[usd(1_000)]).await;
    let (id, access) = f.cart(Currency::Usd).await;
    let add = || f.carts.add_line(id, &access, sku("MUG"), quantity(1));
    let results = tokio::join!(add(), add(), add(), add(), add(), add());
    for result in [
        results.0, results.1, results.2, results.3, results.4, results.5,
    ] {
        result.unwrap();
    }
    assert_eq!(lines(&f.read(id, &access).await), [("MUG", 6)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_to_a_cart_with_room_for_one_more_line_admit_exactly_one() {
    let f = fixture_with(CartLimits { lines_max: 2 }).await;
    for code in ["A-0", "A-1", "A-2", "A-3", "A-4"] {
        f.product(code, 10, &[usd(100)]).await;
    }
    let (id, access) = f.cart(Currency::Usd).await;
    f.add(id, &access, "A-0", 1).await;
    let add = |code: &'static str| f.carts.add_line(id, &access, sku(code), quantity(1));
    let results = tokio::join!(add("A-1"), add("A-2"), add("A-3"), add("A-4"));
    let results = [results.0, results.1, results.2, results.3];
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(CartError::TooManyLines { max: 2 })))
        .count();
    assert_eq!((admitted, refused), (1, 3));
    assert_eq!(f.read(id, &access).await.lines.len(), 2);
}
