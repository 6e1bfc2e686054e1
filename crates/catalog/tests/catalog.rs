//! Catalog store and service tests, each on a fresh database: SQLite always, PostgreSQL when
//! TEST_DATABASE_URL is set.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use kassa_catalog::store::CatalogStore;
use kassa_catalog::*;
use kassa_kernel::ids::{CategoryId, ProductId, VariantId};
use kassa_kernel::{Currency, DomainError, ErrorCategory, ManualClock, Money, Sku, Timestamp};
use kassa_testkit::TestDb;

const START_MS: i64 = 1_795_000_000_000;

/// The service under test, its clock, and the database kept alive for the test's duration.
struct Fixture {
    catalog: Catalog,
    /// The same tables, for reading the outbox and for a cache watcher.
    store: CatalogStore,
    clock: ManualClock,
    _db: TestDb,
}

async fn fixture() -> Fixture {
    let test = TestDb::new().await;
    let store = CatalogStore::new(test.district("catalog").await);
    store.migrate().await.unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    Fixture {
        catalog: Catalog::new(store.clone(), Arc::new(clock.clone())),
        store,
        clock,
        _db: test,
    }
}

fn sku(text: &str) -> Sku {
    Sku::parse(text).unwrap()
}

fn title(text: &str) -> Title {
    Title::parse(text).unwrap()
}

fn handle(text: &str) -> Handle {
    Handle::parse(text).unwrap()
}

fn usd(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::Usd)
}

fn eur(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::Eur)
}

fn option(name: &str, value: &str) -> OptionValue {
    OptionValue {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

fn variant(code: &str) -> NewVariant {
    NewVariant {
        sku: sku(code),
        title: title(code),
        options: Vec::new(),
        weight_grams: 250,
        prices: vec![usd(1000)],
    }
}

fn product(slug: &str, variants: Vec<NewVariant>) -> NewProduct {
    NewProduct {
        handle: handle(slug),
        title: title(slug),
        description: String::new(),
        category_ids: Vec::new(),
        variants,
    }
}

fn priced(code: &str, prices: Vec<Money>) -> NewVariant {
    NewVariant {
        prices,
        ..variant(code)
    }
}

fn filter(limit: u32) -> ProductFilter {
    ProductFilter {
        limit,
        ..ProductFilter::default()
    }
}

async fn category(catalog: &Catalog, slug: &str) -> CategoryId {
    let input = NewCategory {
        handle: handle(slug),
        name: title(slug),
    };
    catalog.create_category(input).await.unwrap().id
}

/// Creates a product with one variant whose SKU is the handle upper-cased.
async fn simple_product(catalog: &Catalog, slug: &str) -> Product {
    let code = slug.to_ascii_uppercase();
    catalog
        .create_product(product(slug, vec![variant(&code)]))
        .await
        .unwrap()
}

fn ids(page: &ProductPage) -> Vec<ProductId> {
    page.items.iter().map(|p| p.id).collect()
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, CatalogError>, expected_pointer: &str) {
    match result {
        Err(CatalogError::Invalid { pointer, message }) => {
            assert_eq!(pointer, expected_pointer, "{message}");
            assert!(message.ends_with('.'), "not a sentence: {message}");
        }
        other => panic!("expected Invalid at {expected_pointer}, got {other:?}"),
    }
}

fn offer_for<'a>(offers: &'a [Offer], code: &str) -> &'a Offer {
    offers.iter().find(|o| o.sku.as_str() == code).unwrap()
}

#[tokio::test]
async fn a_product_with_two_variants_options_prices_and_a_category_reads_back_as_created() {
    let f = fixture().await;
    let mugs = category(&f.catalog, "mugs").await;
    let input = NewProduct {
        handle: handle("enamel-mug"),
        title: title("Enamel Mug"),
        description: "Camp coffee, tin-cup style.".to_owned(),
        category_ids: vec![mugs],
        variants: vec![
            NewVariant {
                sku: sku("mug-blue-s"),
                title: title("Blue, small"),
                options: vec![option(" colour ", " blue "), option("size", "S")],
                weight_grams: 180,
                prices: vec![usd(1200), eur(1100)],
            },
            NewVariant {
                sku: sku("MUG-RED-L"),
                title: title("Red, large"),
                options: vec![option("colour", "red"), option("size", "L")],
                weight_grams: 260,
                prices: vec![eur(1500), usd(1600)],
            },
        ],
    };

    let created = f.catalog.create_product(input).await.unwrap();

    assert_eq!(created.handle.as_str(), "enamel-mug");
    assert_eq!(created.title, "Enamel Mug");
    assert_eq!(created.description, "Camp coffee, tin-cup style.");
    assert_eq!(created.status, Status::Active);
    assert_eq!(created.category_ids, vec![mugs]);
    assert_eq!(created.created_at, Timestamp::from_millis(START_MS));
    assert_eq!(created.updated_at, created.created_at);
    let [small, large] = created.variants.as_slice() else {
        panic!("expected two variants: {:?}", created.variants);
    };
    assert_eq!(small.sku.as_str(), "MUG-BLUE-S");
    assert_eq!(small.title, "Blue, small");
    assert_eq!(small.product_id, created.id);
    assert_eq!(
        small.options,
        vec![option("colour", "blue"), option("size", "S")]
    );
    assert_eq!(small.weight_grams, 180);
    assert_eq!(
        small.prices,
        vec![eur(1100), usd(1200)],
        "ordered by currency code"
    );
    assert_eq!(small.status, Status::Active);
    assert_eq!(large.sku.as_str(), "MUG-RED-L");
    assert_eq!(large.price_in(Currency::Usd), Some(usd(1600)));
    assert_eq!(large.price_in(Currency::Gbp), None);

    let public = f.catalog.product(created.id, false).await.unwrap();
    assert_eq!(public, created);
    let by_handle = f
        .catalog
        .product_by_handle(&handle("enamel-mug"), false)
        .await
        .unwrap();
    assert_eq!(by_handle, created);
    let categories = f.catalog.categories().await.unwrap();
    assert_eq!(categories.len(), 1);
    assert_eq!(categories[0].handle.as_str(), "mugs");
}

#[tokio::test]
async fn a_duplicate_product_handle_is_refused_as_handle_taken() {
    let f = fixture().await;
    simple_product(&f.catalog, "mug").await;

    let again = f
        .catalog
        .create_product(product("mug", vec![variant("OTHER-SKU")]))
        .await;

    match again {
        Err(err @ CatalogError::HandleTaken(_)) => {
            assert_eq!(err.problem_type().code, "handle_taken");
            assert_eq!(err.problem_type().category, ErrorCategory::Conflict);
        }
        other => panic!("expected HandleTaken, got {other:?}"),
    }
    let offers = f.catalog.offers(&[sku("OTHER-SKU")], Currency::Usd).await;
    assert!(
        offers.unwrap().is_empty(),
        "the refused product's variant was written"
    );
}

#[tokio::test]
async fn a_duplicate_category_handle_is_refused_as_handle_taken() {
    let f = fixture().await;
    category(&f.catalog, "mugs").await;

    let again = f
        .catalog
        .create_category(NewCategory {
            handle: handle("mugs"),
            name: title("Other mugs"),
        })
        .await;

    assert!(matches!(again, Err(CatalogError::HandleTaken(h)) if h == "mugs"));
}

#[tokio::test]
async fn a_sku_used_by_another_product_is_refused_and_nothing_of_the_new_product_is_written() {
    let f = fixture().await;
    let shop = category(&f.catalog, "shop").await;
    simple_product(&f.catalog, "mug").await;
    let input = NewProduct {
        category_ids: vec![shop],
        ..product("cup", vec![variant("CUP-1"), variant("mug")])
    };

    let result = f.catalog.create_product(input).await;

    match result {
        Err(err @ CatalogError::SkuTaken(_)) => {
            assert!(matches!(&err, CatalogError::SkuTaken(s) if s.as_str() == "MUG"));
            assert_eq!(err.problem_type().code, "sku_taken");
        }
        other => panic!("expected SkuTaken, got {other:?}"),
    }
    let cup = f.catalog.product_by_handle(&handle("cup"), true).await;
    assert!(matches!(cup, Err(CatalogError::ProductHandleNotFound(_))));
    let offers = f.catalog.offers(&[sku("CUP-1")], Currency::Usd).await;
    assert!(offers.unwrap().is_empty(), "the first variant was written");
    let page = f
        .catalog
        .list_products(ProductFilter {
            category: Some(shop),
            include_archived: true,
            ..filter(10)
        })
        .await
        .unwrap();
    assert!(page.items.is_empty(), "the category link was written");
}

#[tokio::test]
async fn a_sku_given_to_two_variants_of_one_product_is_refused() {
    let f = fixture().await;

    let result = f
        .catalog
        .create_product(product("mug", vec![variant("MUG-1"), variant("mug-1")]))
        .await;

    assert_invalid(result, "/variants/1/sku");
}

#[tokio::test]
async fn an_unknown_category_is_refused_and_nothing_is_written() {
    let f = fixture().await;
    let known = category(&f.catalog, "mugs").await;
    let unknown = CategoryId::new();
    let input = NewProduct {
        category_ids: vec![known, unknown],
        ..product("mug", vec![variant("MUG-1")])
    };

    let result = f.catalog.create_product(input).await;

    assert!(matches!(result, Err(CatalogError::CategoryNotFound(id)) if id == unknown));
    let mug = f.catalog.product_by_handle(&handle("mug"), true).await;
    assert!(mug.is_err());
}

#[tokio::test]
async fn updating_a_product_changes_the_given_fields_and_bumps_updated_at() {
    let f = fixture().await;
    let mugs = category(&f.catalog, "mugs").await;
    let gifts = category(&f.catalog, "gifts").await;
    let created = f
        .catalog
        .create_product(NewProduct {
            category_ids: vec![mugs],
            ..product("mug", vec![variant("MUG-1")])
        })
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(60));

    let patch = ProductPatch {
        handle: Some(handle("big-mug")),
        title: Some(title("Big Mug")),
        description: Some("Holds a litre.".to_owned()),
        category_ids: Some(vec![gifts, mugs]),
        status: None,
    };
    let updated = f.catalog.update_product(created.id, patch).await.unwrap();

    assert_eq!(updated.handle.as_str(), "big-mug");
    assert_eq!(updated.title, "Big Mug");
    assert_eq!(updated.description, "Holds a litre.");
    let mut expected_categories = vec![gifts, mugs];
    expected_categories.sort();
    assert_eq!(updated.category_ids, expected_categories);
    assert_eq!(updated.status, Status::Active);
    assert_eq!(updated.variants, created.variants);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(
        updated.updated_at,
        Timestamp::from_millis(START_MS + 60_000)
    );
    assert_eq!(f.catalog.product(created.id, false).await.unwrap(), updated);
    let old = f.catalog.product_by_handle(&handle("mug"), true).await;
    assert!(matches!(old, Err(CatalogError::ProductHandleNotFound(h)) if h == "mug"));
    let search = ProductFilter {
        title_contains: Some("big".to_owned()),
        ..filter(10)
    };
    let page = f.catalog.list_products(search).await.unwrap();
    assert_eq!(
        ids(&page),
        vec![created.id],
        "the search text follows the new title"
    );
}

#[tokio::test]
async fn an_empty_patch_changes_nothing_and_does_not_bump_updated_at() {
    let f = fixture().await;
    let created = simple_product(&f.catalog, "mug").await;
    f.clock.advance(Duration::from_secs(60));

    let same = f
        .catalog
        .update_product(created.id, ProductPatch::default())
        .await
        .unwrap();

    assert_eq!(same, created);
}

#[tokio::test]
async fn updating_a_product_to_a_taken_handle_or_unknown_category_is_refused() {
    let f = fixture().await;
    simple_product(&f.catalog, "mug").await;
    let cup = simple_product(&f.catalog, "cup").await;

    let taken = ProductPatch {
        handle: Some(handle("mug")),
        title: Some(title("Renamed")),
        ..ProductPatch::default()
    };
    let result = f.catalog.update_product(cup.id, taken).await;
    assert!(matches!(result, Err(CatalogError::HandleTaken(h)) if h == "mug"));

    let unknown = ProductPatch {
        category_ids: Some(vec![CategoryId::new()]),
        ..ProductPatch::default()
    };
    let result = f.catalog.update_product(cup.id, unknown).await;
    assert!(matches!(result, Err(CatalogError::CategoryNotFound(_))));
    assert_eq!(f.catalog.product(cup.id, false).await.unwrap(), cup);
}

#[tokio::test]
async fn writes_to_an_unknown_product_or_variant_are_not_found() {
    let f = fixture().await;
    let (product_id, variant_id) = (ProductId::new(), VariantId::new());

    let results = [
        f.catalog.archive_product(product_id).await,
        f.catalog
            .update_product(product_id, ProductPatch::default())
            .await,
        f.catalog.add_variant(product_id, variant("NEW-1")).await,
        f.catalog.product(product_id, true).await,
    ];
    for result in results {
        match result {
            Err(err @ CatalogError::ProductNotFound(_)) => {
                assert_eq!(err.problem_type().code, "product_not_found");
                assert_eq!(err.problem_type().category, ErrorCategory::NotFound);
            }
            other => panic!("expected ProductNotFound, got {other:?}"),
        }
    }
    let results = [
        f.catalog.archive_variant(variant_id).await,
        f.catalog
            .update_variant(variant_id, VariantPatch::default())
            .await,
        f.catalog.set_price(variant_id, usd(100)).await,
        f.catalog.remove_price(variant_id, Currency::Usd).await,
    ];
    for result in results {
        assert!(
            matches!(result, Err(CatalogError::VariantNotFound(id)) if id == variant_id),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn an_archived_product_is_hidden_from_the_public_seen_by_staff_and_not_purchasable() {
    let f = fixture().await;
    let created = simple_product(&f.catalog, "mug").await;
    f.clock.advance(Duration::from_secs(5));

    let archived = f.catalog.archive_product(created.id).await.unwrap();

    assert_eq!(archived.status, Status::Archived);
    assert_eq!(
        archived.updated_at,
        Timestamp::from_millis(START_MS + 5_000)
    );
    assert_eq!(
        archived.variants[0].status,
        Status::Active,
        "variants keep their status"
    );
    let public = f.catalog.product(created.id, false).await;
    assert!(matches!(public, Err(CatalogError::ProductNotFound(id)) if id == created.id));
    let by_handle = f.catalog.product_by_handle(&handle("mug"), false).await;
    assert!(matches!(
        by_handle,
        Err(CatalogError::ProductHandleNotFound(_))
    ));
    assert_eq!(f.catalog.product(created.id, true).await.unwrap(), archived);
    let offers = f
        .catalog
        .offers(&[sku("MUG")], Currency::Usd)
        .await
        .unwrap();
    assert_eq!(offers.len(), 1);
    assert!(!offers[0].purchasable);
    assert_eq!(offers[0].unit_price, Some(usd(1000)));

    f.clock.advance(Duration::from_secs(5));
    let again = f.catalog.archive_product(created.id).await.unwrap();
    assert_eq!(again, archived, "archiving twice changes nothing");
}

#[tokio::test]
async fn a_restored_product_is_public_and_purchasable_again() {
    let f = fixture().await;
    let created = simple_product(&f.catalog, "mug").await;
    f.catalog.archive_product(created.id).await.unwrap();

    let restore = ProductPatch {
        status: Some(Status::Active),
        ..ProductPatch::default()
    };
    f.catalog.update_product(created.id, restore).await.unwrap();

    assert!(f.catalog.product(created.id, false).await.is_ok());
    let offers = f
        .catalog
        .offers(&[sku("MUG")], Currency::Usd)
        .await
        .unwrap();
    assert!(offers[0].purchasable);
}

#[tokio::test]
async fn adding_a_variant_to_an_archived_product_is_refused() {
    let f = fixture().await;
    let created = simple_product(&f.catalog, "mug").await;
    f.catalog.archive_product(created.id).await.unwrap();

    let result = f.catalog.add_variant(created.id, variant("MUG-2")).await;

    match result {
        Err(err @ CatalogError::ProductArchived(_)) => {
            assert_eq!(err.problem_type().code, "product_archived");
            assert_eq!(err.problem_type().category, ErrorCategory::Conflict);
        }
        other => panic!("expected ProductArchived, got {other:?}"),
    }
}

#[tokio::test]
async fn an_added_variant_comes_after_the_others_and_a_taken_sku_is_refused() {
    let f = fixture().await;
    let mug = simple_product(&f.catalog, "mug").await;
    let cup = simple_product(&f.catalog, "cup").await;
    f.clock.advance(Duration::from_secs(1));

    let grown = f
        .catalog
        .add_variant(mug.id, priced("mug-xl", vec![eur(2500)]))
        .await
        .unwrap();

    let skus: Vec<&str> = grown.variants.iter().map(|v| v.sku.as_str()).collect();
    assert_eq!(skus, ["MUG", "MUG-XL"]);
    assert_eq!(grown.variants[1].prices, vec![eur(2500)]);
    assert_eq!(grown.updated_at, Timestamp::from_millis(START_MS + 1_000));
    let taken = f.catalog.add_variant(mug.id, variant("CUP")).await;
    assert!(matches!(taken, Err(CatalogError::SkuTaken(s)) if s.as_str() == "CUP"));
    assert_eq!(f.catalog.product(cup.id, true).await.unwrap(), cup);
    assert_eq!(f.catalog.product(mug.id, true).await.unwrap(), grown);
}

#[tokio::test]
async fn updating_a_variant_changes_its_fields_and_replaces_its_options() {
    let f = fixture().await;
    let created = f
        .catalog
        .create_product(product(
            "mug",
            vec![NewVariant {
                options: vec![option("colour", "blue"), option("size", "S")],
                ..variant("MUG-1")
            }],
        ))
        .await
        .unwrap();
    let id = created.variants[0].id;
    f.clock.advance(Duration::from_secs(2));

    let patch = VariantPatch {
        title: Some(title("Blue, medium")),
        options: Some(vec![option("size", "M")]),
        weight_grams: Some(0),
        status: None,
    };
    let updated = f.catalog.update_variant(id, patch).await.unwrap();

    let v = &updated.variants[0];
    assert_eq!(v.title, "Blue, medium");
    assert_eq!(v.options, vec![option("size", "M")]);
    assert_eq!(v.weight_grams, 0);
    assert_eq!(v.prices, created.variants[0].prices);
    assert_eq!(updated.updated_at, Timestamp::from_millis(START_MS + 2_000));
    let offers = f
        .catalog
        .offers(&[sku("MUG-1")], Currency::Usd)
        .await
        .unwrap();
    assert_eq!(offers[0].variant_title, "Blue, medium");
    assert_eq!(offers[0].weight_grams, 0);
}

#[tokio::test]
async fn archiving_the_last_active_variant_is_allowed_and_makes_it_not_purchasable() {
    let f = fixture().await;
    let created = simple_product(&f.catalog, "mug").await;

    let archived = f
        .catalog
        .archive_variant(created.variants[0].id)
        .await
        .unwrap();

    assert_eq!(archived.status, Status::Active);
    assert_eq!(archived.variants[0].status, Status::Archived);
    let public = f.catalog.product(created.id, false).await.unwrap();
    assert!(
        public.variants.is_empty(),
        "the public sees no archived variant"
    );
    let offers = f
        .catalog
        .offers(&[sku("MUG")], Currency::Usd)
        .await
        .unwrap();
    assert_eq!(offers.len(), 1);
    assert!(!offers[0].purchasable);
}

#[tokio::test]
async fn setting_a_price_inserts_or_replaces_it_and_removing_it_deletes_it() {
    let f = fixture().await;
    let created = simple_product(&f.catalog, "mug").await;
    let id = created.variants[0].id;

    f.clock.advance(Duration::from_secs(1));
    let with_eur = f.catalog.set_price(id, eur(900)).await.unwrap();
    assert_eq!(with_eur.variants[0].prices, vec![eur(900), usd(1000)]);
    assert_eq!(
        with_eur.updated_at,
        Timestamp::from_millis(START_MS + 1_000)
    );

    f.clock.advance(Duration::from_secs(1));
    let replaced = f.catalog.set_price(id, usd(1250)).await.unwrap();
    assert_eq!(replaced.variants[0].prices, vec![eur(900), usd(1250)]);
    assert_eq!(
        replaced.updated_at,
        Timestamp::from_millis(START_MS + 2_000)
    );
    let offers = f
        .catalog
        .offers(&[sku("MUG")], Currency::Usd)
        .await
        .unwrap();
    assert_eq!(offers[0].unit_price, Some(usd(1250)));

    f.clock.advance(Duration::from_secs(1));
    let removed = f.catalog.remove_price(id, Currency::Usd).await.unwrap();
    assert_eq!(removed.variants[0].prices, vec![eur(900)]);
    assert_eq!(removed.updated_at, Timestamp::from_millis(START_MS + 3_000));
    let offers = f
        .catalog
        .offers(&[sku("MUG")], Currency::Usd)
        .await
        .unwrap();
    assert_eq!(offers[0].unit_price, None);
    assert!(offers[0].purchasable);

    f.clock.advance(Duration::from_secs(1));
    let unchanged = f.catalog.remove_price(id, Currency::Usd).await.unwrap();
    assert_eq!(
        unchanged, removed,
        "removing a missing price changes nothing"
    );
}

#[tokio::test]
async fn listing_by_category_returns_only_that_categorys_products() {
    let f = fixture().await;
    let mugs = category(&f.catalog, "mugs").await;
    let plates = category(&f.catalog, "plates").await;
    let mug = f
        .catalog
        .create_product(NewProduct {
            category_ids: vec![mugs],
            ..product("mug", vec![variant("MUG")])
        })
        .await
        .unwrap();
    let both = f
        .catalog
        .create_product(NewProduct {
            category_ids: vec![plates, mugs],
            ..product("mug-and-plate", vec![variant("SET")])
        })
        .await
        .unwrap();
    simple_product(&f.catalog, "spoon").await;

    let in_mugs = ProductFilter {
        category: Some(mugs),
        ..filter(10)
    };
    let page = f.catalog.list_products(in_mugs).await.unwrap();
    assert_eq!(ids(&page), vec![mug.id, both.id]);
    assert_eq!(page.items[1], both);
    assert_eq!(page.next_cursor, None);

    let in_plates = ProductFilter {
        category: Some(plates),
        ..filter(10)
    };
    let page = f.catalog.list_products(in_plates).await.unwrap();
    assert_eq!(ids(&page), vec![both.id]);
}

#[tokio::test]
async fn listing_by_title_is_a_case_insensitive_substring_match_with_wildcards_taken_literally() {
    let f = fixture().await;
    let create = |slug: &'static str, name: &'static str| {
        let catalog = &f.catalog;
        async move {
            let code = slug.to_ascii_uppercase();
            let input = NewProduct {
                title: title(name),
                ..product(slug, vec![variant(&code)])
            };
            catalog.create_product(input).await.unwrap().id
        }
    };
    let fifty = create("fifty", "Mug, 50% off").await;
    let five = create("five", "Mug 500 ml").await;
    let under = create("under", "Mug_Blue").await;
    let blue = create("blue", "BLUE mug").await;
    let umlaut = create("apfel", "ÄPFEL-Becher").await;

    let search = |text: &str| ProductFilter {
        title_contains: Some(text.to_owned()),
        ..filter(10)
    };
    let page = f.catalog.list_products(search("mug")).await.unwrap();
    assert_eq!(ids(&page), vec![fifty, five, under, blue]);
    let page = f.catalog.list_products(search("50%")).await.unwrap();
    assert_eq!(ids(&page), vec![fifty], "'%' matched more than itself");
    let page = f.catalog.list_products(search("g_b")).await.unwrap();
    assert_eq!(ids(&page), vec![under], "'_' matched more than itself");
    let page = f.catalog.list_products(search(" Blue ")).await.unwrap();
    assert_eq!(ids(&page), vec![under, blue]);
    let page = f.catalog.list_products(search("äpfel")).await.unwrap();
    assert_eq!(ids(&page), vec![umlaut]);
    let page = f.catalog.list_products(search("\\")).await.unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn listing_by_price_range_matches_a_price_in_that_currency_within_the_bounds() {
    let f = fixture().await;
    let cheap = f
        .catalog
        .create_product(product("cheap", vec![priced("CHEAP", vec![usd(500)])]))
        .await
        .unwrap();
    let mid = f
        .catalog
        .create_product(product(
            "mid",
            vec![
                priced("MID-1", vec![usd(5000)]),
                priced("MID-2", vec![usd(1000), eur(900)]),
            ],
        ))
        .await
        .unwrap();
    let euro_only = f
        .catalog
        .create_product(product("euro", vec![priced("EURO", vec![eur(1000)])]))
        .await
        .unwrap();
    let range = |min, max| ProductFilter {
        price: Some(PriceRange {
            currency: Currency::Usd,
            min_minor: min,
            max_minor: max,
        }),
        ..filter(10)
    };

    let page = f
        .catalog
        .list_products(range(Some(1000), Some(1000)))
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![mid.id], "bounds are inclusive");
    let page = f
        .catalog
        .list_products(range(None, Some(999)))
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![cheap.id]);
    let page = f
        .catalog
        .list_products(range(Some(501), None))
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![mid.id]);
    let page = f.catalog.list_products(range(None, None)).await.unwrap();
    assert_eq!(ids(&page), vec![cheap.id, mid.id], "no USD price, no match");
    assert!(!ids(&page).contains(&euro_only.id));

    // An archived variant's price counts for staff only.
    f.catalog.archive_variant(mid.variants[1].id).await.unwrap();
    let page = f
        .catalog
        .list_products(range(Some(1000), Some(1000)))
        .await
        .unwrap();
    assert!(page.items.is_empty());
    let staff = ProductFilter {
        include_archived: true,
        ..range(Some(1000), Some(1000))
    };
    let page = f.catalog.list_products(staff).await.unwrap();
    assert_eq!(ids(&page), vec![mid.id]);
    let reversed = f.catalog.list_products(range(Some(2), Some(1))).await;
    assert_invalid(reversed, "/price/max_minor");
}

#[tokio::test]
async fn the_public_listing_leaves_out_archived_products_and_the_staff_listing_includes_them() {
    let f = fixture().await;
    let kept = simple_product(&f.catalog, "kept").await;
    let gone = simple_product(&f.catalog, "gone").await;
    f.catalog.archive_product(gone.id).await.unwrap();

    let public = f.catalog.list_products(filter(10)).await.unwrap();
    let staff = f
        .catalog
        .list_products(ProductFilter {
            include_archived: true,
            ..filter(10)
        })
        .await
        .unwrap();

    assert_eq!(ids(&public), vec![kept.id]);
    assert_eq!(ids(&staff), vec![kept.id, gone.id]);
    assert_eq!(staff.items[1].status, Status::Archived);
}

#[tokio::test]
async fn a_cursor_pages_through_products_in_creation_order_without_duplicates_or_gaps() {
    let f = fixture().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(simple_product(&f.catalog, &format!("product-{i}")).await.id);
    }

    let mut seen = Vec::new();
    let mut after = None;
    let mut sizes = Vec::new();
    loop {
        let page = f
            .catalog
            .list_products(ProductFilter { after, ..filter(3) })
            .await
            .unwrap();
        sizes.push(page.items.len());
        seen.extend(ids(&page));
        match page.next_cursor {
            Some(cursor) => {
                assert_eq!(Some(&cursor), seen.last());
                after = Some(cursor);
            }
            None => break,
        }
    }

    assert_eq!(sizes, vec![3, 3, 1]);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn a_page_that_ends_exactly_at_the_last_product_has_no_next_cursor() {
    let f = fixture().await;
    for i in 0..3 {
        simple_product(&f.catalog, &format!("product-{i}")).await;
    }

    let page = f.catalog.list_products(filter(3)).await.unwrap();

    assert_eq!(page.items.len(), 3);
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn offers_leave_out_unknown_skus_and_carry_the_price_in_the_requested_currency() {
    let f = fixture().await;
    let mug = f
        .catalog
        .create_product(NewProduct {
            title: title("Mug"),
            ..product(
                "mug",
                vec![
                    priced("MUG-1", vec![usd(1000), eur(900)]),
                    priced("MUG-2", vec![usd(1100)]),
                ],
            )
        })
        .await
        .unwrap();
    let asked = [sku("MUG-2"), sku("NOPE"), sku("MUG-1"), sku("mug-2")];

    let offers = f.catalog.offers(&asked, Currency::Eur).await.unwrap();

    let skus: Vec<&str> = offers.iter().map(|o| o.sku.as_str()).collect();
    assert_eq!(
        skus,
        ["MUG-2", "MUG-1"],
        "asked order, unknown and repeated SKUs left out"
    );
    let one = offer_for(&offers, "MUG-1");
    assert_eq!(
        one,
        &Offer {
            sku: sku("MUG-1"),
            product_id: mug.id,
            variant_id: mug.variants[0].id,
            product_title: "Mug".to_owned(),
            variant_title: "MUG-1".to_owned(),
            weight_grams: 250,
            unit_price: Some(eur(900)),
            purchasable: true,
        }
    );
    assert_eq!(offer_for(&offers, "MUG-2").unit_price, None);
    assert!(f
        .catalog
        .offers(&[], Currency::Usd)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_product_with_the_most_variants_is_accepted_and_one_more_is_refused() {
    let f = fixture().await;
    let many =
        |n: usize| -> Vec<NewVariant> { (0..n).map(|i| variant(&format!("V-{i}"))).collect() };

    let full = f
        .catalog
        .create_product(product("full", many(VARIANTS_PER_PRODUCT_MAX)))
        .await
        .unwrap();
    assert_eq!(full.variants.len(), VARIANTS_PER_PRODUCT_MAX);
    assert_eq!(full.variants[99].sku.as_str(), "V-99");

    let over = f
        .catalog
        .create_product(product("over", many(VARIANTS_PER_PRODUCT_MAX + 1)))
        .await;
    assert_invalid(over, "/variants");
    let added = f.catalog.add_variant(full.id, variant("V-100")).await;
    assert_invalid(added, "");
}

#[tokio::test]
async fn a_product_without_variants_is_refused() {
    let f = fixture().await;

    let result = f.catalog.create_product(product("empty", Vec::new())).await;

    assert_invalid(result, "/variants");
}

#[tokio::test]
async fn a_weight_at_the_maximum_is_accepted_and_one_gram_more_is_refused() {
    let f = fixture().await;
    let heavy = NewVariant {
        weight_grams: WEIGHT_GRAMS_MAX,
        ..variant("ANVIL-1")
    };
    let created = f
        .catalog
        .create_product(product("anvil", vec![heavy]))
        .await
        .unwrap();
    assert_eq!(created.variants[0].weight_grams, WEIGHT_GRAMS_MAX);

    let too_heavy = NewVariant {
        weight_grams: WEIGHT_GRAMS_MAX + 1,
        ..variant("ANVIL-2")
    };
    let result = f
        .catalog
        .create_product(product("anvil-2", vec![variant("X"), too_heavy.clone()]))
        .await;
    assert_invalid(result, "/variants/1/weight_grams");
    let added = f.catalog.add_variant(created.id, too_heavy).await;
    assert_invalid(added, "/weight_grams");
    let patch = VariantPatch {
        weight_grams: Some(WEIGHT_GRAMS_MAX + 1),
        ..VariantPatch::default()
    };
    let updated = f
        .catalog
        .update_variant(created.variants[0].id, patch)
        .await;
    assert_invalid(updated, "/weight_grams");
}

#[tokio::test]
async fn a_price_at_the_maximum_is_accepted_and_one_more_or_zero_is_refused() {
    let f = fixture().await;
    let created = f
        .catalog
        .create_product(product(
            "gold",
            vec![priced("GOLD", vec![eur(1), usd(PRICE_MINOR_MAX)])],
        ))
        .await
        .unwrap();
    assert_eq!(
        created.variants[0].prices,
        vec![eur(1), usd(PRICE_MINOR_MAX)]
    );

    let over = priced("GOLD-2", vec![eur(5), usd(PRICE_MINOR_MAX + 1)]);
    let result = f
        .catalog
        .create_product(product("gold-2", vec![over]))
        .await;
    assert_invalid(result, "/variants/0/prices/1/amount_minor");
    let zero = priced("GOLD-3", vec![usd(0)]);
    let result = f
        .catalog
        .create_product(product("gold-3", vec![zero]))
        .await;
    assert_invalid(result, "/variants/0/prices/0/amount_minor");

    let id = created.variants[0].id;
    assert_invalid(
        f.catalog.set_price(id, usd(PRICE_MINOR_MAX + 1)).await,
        "/amount_minor",
    );
    assert_invalid(f.catalog.set_price(id, usd(-1)).await, "/amount_minor");
    let at_max = f.catalog.set_price(id, eur(PRICE_MINOR_MAX)).await.unwrap();
    assert_eq!(
        at_max.variants[0].price_in(Currency::Eur),
        Some(eur(PRICE_MINOR_MAX))
    );
}

#[tokio::test]
async fn two_prices_in_one_currency_are_refused() {
    let f = fixture().await;

    let result = f
        .catalog
        .create_product(product(
            "mug",
            vec![priced("MUG", vec![usd(1), eur(2), usd(3)])],
        ))
        .await;

    assert_invalid(result, "/variants/0/prices/2/currency");
}

#[tokio::test]
async fn a_title_at_the_maximum_length_is_accepted_and_one_character_more_is_refused() {
    let f = fixture().await;
    let longest = "é".repeat(TITLE_LEN_MAX);
    let input = NewProduct {
        title: Title::parse(&longest).unwrap(),
        ..product("long", vec![variant("LONG")])
    };

    let created = f.catalog.create_product(input).await.unwrap();

    assert_eq!(created.title, longest);
    let too_long = Title::parse(&format!("{longest}e"));
    match too_long {
        Err(err @ CatalogError::InvalidTitle) => {
            assert_eq!(err.problem_type().code, "invalid_title");
        }
        other => panic!("expected InvalidTitle, got {other:?}"),
    }
}

#[tokio::test]
async fn a_handle_at_the_maximum_length_is_accepted_and_one_character_more_is_refused() {
    let f = fixture().await;
    let longest = "h".repeat(HANDLE_LEN_MAX);

    let created = f
        .catalog
        .create_product(product(&longest, vec![variant("H")]))
        .await
        .unwrap();

    assert_eq!(created.handle.as_str(), longest);
    let too_long = Handle::parse(&format!("{longest}h"));
    assert!(matches!(too_long, Err(CatalogError::InvalidHandle(_))));
}

#[tokio::test]
async fn a_variant_with_the_most_options_is_accepted_and_one_more_is_refused() {
    let f = fixture().await;
    let options = |n: usize| -> Vec<OptionValue> {
        (0..n)
            .map(|i| option(&format!("option {i}"), &format!("value {i}")))
            .collect()
    };
    let full = NewVariant {
        options: options(OPTIONS_PER_VARIANT_MAX),
        ..variant("FULL")
    };
    let created = f
        .catalog
        .create_product(product("full", vec![full]))
        .await
        .unwrap();
    assert_eq!(
        created.variants[0].options,
        options(OPTIONS_PER_VARIANT_MAX)
    );

    let over = NewVariant {
        options: options(OPTIONS_PER_VARIANT_MAX + 1),
        ..variant("OVER")
    };
    let result = f.catalog.create_product(product("over", vec![over])).await;
    assert_invalid(result, "/variants/0/options");
    let patch = VariantPatch {
        options: Some(options(OPTIONS_PER_VARIANT_MAX + 1)),
        ..VariantPatch::default()
    };
    let result = f
        .catalog
        .update_variant(created.variants[0].id, patch)
        .await;
    assert_invalid(result, "/options");
}

#[tokio::test]
async fn option_names_and_values_are_checked_for_length_blanks_and_repeats() {
    let f = fixture().await;
    let with = |options: Vec<OptionValue>| {
        product(
            "mug",
            vec![NewVariant {
                options,
                ..variant("MUG")
            }],
        )
    };
    let name_max = "n".repeat(OPTION_NAME_LEN_MAX);
    let value_max = "v".repeat(OPTION_VALUE_LEN_MAX);

    let cases = [
        (
            vec![option("size", "S"), option(" Size", "M")],
            "/variants/0/options/1/name",
        ),
        (vec![option(" ", "S")], "/variants/0/options/0/name"),
        (vec![option("size", "")], "/variants/0/options/0/value"),
        (
            vec![option(&format!("{name_max}n"), "S")],
            "/variants/0/options/0/name",
        ),
        (
            vec![option("size", &format!("{value_max}v"))],
            "/variants/0/options/0/value",
        ),
    ];
    for (options, pointer) in cases {
        assert_invalid(f.catalog.create_product(with(options)).await, pointer);
    }
    let created = f
        .catalog
        .create_product(with(vec![option(&name_max, &value_max)]))
        .await
        .unwrap();
    assert_eq!(
        created.variants[0].options,
        vec![option(&name_max, &value_max)]
    );
}

#[tokio::test]
async fn a_description_at_the_maximum_length_is_accepted_and_one_character_more_is_refused() {
    let f = fixture().await;
    let longest = "ü".repeat(DESCRIPTION_LEN_MAX);
    let created = f
        .catalog
        .create_product(NewProduct {
            description: longest.clone(),
            ..product("mug", vec![variant("MUG")])
        })
        .await
        .unwrap();
    assert_eq!(created.description, longest);

    let patch = ProductPatch {
        description: Some(format!("{longest}ü")),
        ..ProductPatch::default()
    };
    assert_invalid(
        f.catalog.update_product(created.id, patch).await,
        "/description",
    );
}

#[tokio::test]
async fn the_most_categories_are_accepted_and_one_more_or_a_repeat_is_refused() {
    let f = fixture().await;
    let mut all = Vec::new();
    for i in 0..=CATEGORIES_PER_PRODUCT_MAX {
        all.push(category(&f.catalog, &format!("category-{i}")).await);
    }
    let created = f
        .catalog
        .create_product(NewProduct {
            category_ids: all[..CATEGORIES_PER_PRODUCT_MAX].to_vec(),
            ..product("mug", vec![variant("MUG")])
        })
        .await
        .unwrap();
    assert_eq!(created.category_ids, all[..CATEGORIES_PER_PRODUCT_MAX]);

    let too_many = ProductPatch {
        category_ids: Some(all.clone()),
        ..ProductPatch::default()
    };
    assert_invalid(
        f.catalog.update_product(created.id, too_many).await,
        "/category_ids",
    );
    let repeated = ProductPatch {
        category_ids: Some(vec![all[0], all[1], all[0]]),
        ..ProductPatch::default()
    };
    assert_invalid(
        f.catalog.update_product(created.id, repeated).await,
        "/category_ids/2",
    );
}

#[tokio::test]
async fn a_page_size_from_one_to_the_maximum_is_accepted_and_others_are_refused() {
    let f = fixture().await;
    simple_product(&f.catalog, "mug").await;

    for limit in [1, PRODUCT_PAGE_LIMIT_MAX] {
        let page = f.catalog.list_products(filter(limit)).await.unwrap();
        assert_eq!(page.items.len(), 1);
    }
    for limit in [0, PRODUCT_PAGE_LIMIT_MAX + 1] {
        assert_invalid(f.catalog.list_products(filter(limit)).await, "/limit");
    }
}

#[tokio::test]
async fn the_most_skus_in_one_offer_lookup_are_accepted_and_one_more_is_refused() {
    let f = fixture().await;
    simple_product(&f.catalog, "mug").await;
    let mut skus: Vec<Sku> = (1..OFFER_SKUS_MAX)
        .map(|i| sku(&format!("S-{i}")))
        .collect();
    skus.push(sku("MUG"));

    let offers = f.catalog.offers(&skus, Currency::Usd).await.unwrap();
    assert_eq!(offers.len(), 1);

    skus.push(sku("ONE-MORE"));
    assert_invalid(f.catalog.offers(&skus, Currency::Usd).await, "/skus");
}

// ---- CachedCatalog ----

const CACHE_TTL: Duration = Duration::from_millis(1_000);

/// A `CachedCatalog` over a `Catalog` that the test can also write to directly, as another node
/// would: such writes bypass this cache.
struct CachedFixture {
    inner: Arc<Catalog>,
    cached: CachedCatalog,
    store: CatalogStore,
    clock: ManualClock,
    _db: TestDb,
}

async fn cached_fixture(max_entries: usize) -> CachedFixture {
    let f = fixture().await;
    let inner = Arc::new(f.catalog);
    let config = CacheConfig {
        ttl: CACHE_TTL,
        max_entries,
    };
    let cached = CachedCatalog::new(inner.clone(), Arc::new(f.clock.clone()), config);
    CachedFixture {
        inner,
        cached,
        store: f.store,
        clock: f.clock,
        _db: f._db,
    }
}

fn retitle(text: &str) -> ProductPatch {
    ProductPatch {
        title: Some(title(text)),
        ..ProductPatch::default()
    }
}

#[tokio::test]
async fn a_public_read_within_the_ttl_is_served_from_the_cache_and_fresh_after_it() {
    let f = cached_fixture(100).await;
    let mug = simple_product(&f.inner, "mug").await;
    assert_eq!(f.cached.product(mug.id, false).await.unwrap().title, "mug");
    assert_eq!(
        f.cached
            .product_by_handle(&handle("mug"), false)
            .await
            .unwrap()
            .title,
        "mug"
    );
    assert_eq!(
        f.cached.list_products(filter(10)).await.unwrap().items[0].title,
        "mug"
    );

    // Another node renames it: this node keeps its answers until the TTL has passed.
    f.inner
        .update_product(mug.id, retitle("cup"))
        .await
        .unwrap();
    f.clock.advance(CACHE_TTL - Duration::from_millis(1));
    assert_eq!(f.cached.product(mug.id, false).await.unwrap().title, "mug");
    assert_eq!(
        f.cached
            .product_by_handle(&handle("mug"), false)
            .await
            .unwrap()
            .title,
        "mug"
    );
    assert_eq!(
        f.cached.list_products(filter(10)).await.unwrap().items[0].title,
        "mug"
    );
    // Staff reads are never cached.
    assert_eq!(f.cached.product(mug.id, true).await.unwrap().title, "cup");
    let staff = ProductFilter {
        include_archived: true,
        ..filter(10)
    };
    assert_eq!(
        f.cached.list_products(staff).await.unwrap().items[0].title,
        "cup"
    );

    f.clock.advance(Duration::from_millis(1));
    assert_eq!(f.cached.product(mug.id, false).await.unwrap().title, "cup");
    assert_eq!(
        f.cached
            .product_by_handle(&handle("mug"), false)
            .await
            .unwrap()
            .title,
        "cup"
    );
    assert_eq!(
        f.cached.list_products(filter(10)).await.unwrap().items[0].title,
        "cup"
    );
}

#[tokio::test]
async fn a_write_through_the_cache_is_visible_at_once() {
    let f = cached_fixture(100).await;
    let mug = simple_product(&f.inner, "mug").await;
    assert_eq!(f.cached.product(mug.id, false).await.unwrap().title, "mug");
    assert_eq!(
        f.cached
            .list_products(filter(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    f.cached
        .update_product(mug.id, retitle("cup"))
        .await
        .unwrap();
    assert_eq!(f.cached.product(mug.id, false).await.unwrap().title, "cup");

    let variant_id = mug.variants[0].id;
    f.cached.set_price(variant_id, usd(1234)).await.unwrap();
    let read = f.cached.product(mug.id, false).await.unwrap();
    assert_eq!(read.variants[0].price_in(Currency::Usd), Some(usd(1234)));

    f.cached
        .create_product(product("bowl", vec![variant("BOWL")]))
        .await
        .unwrap();
    assert_eq!(
        f.cached
            .list_products(filter(10))
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    f.cached.archive_product(mug.id).await.unwrap();
    assert!(matches!(
        f.cached.product(mug.id, false).await,
        Err(CatalogError::ProductNotFound(_))
    ));
    assert_eq!(
        f.cached
            .list_products(filter(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn errors_are_not_cached() {
    let f = cached_fixture(100).await;
    assert!(matches!(
        f.cached.product_by_handle(&handle("mug"), false).await,
        Err(CatalogError::ProductHandleNotFound(_))
    ));
    // Created on another node: found at once, as the miss was not remembered.
    simple_product(&f.inner, "mug").await;
    assert!(f
        .cached
        .product_by_handle(&handle("mug"), false)
        .await
        .is_ok());
}

#[tokio::test]
async fn offers_are_never_cached() {
    let f = cached_fixture(100).await;
    let mug = simple_product(&f.inner, "mug").await;
    let first = f.cached.offers(&[sku("MUG")], Currency::Usd).await.unwrap();
    assert_eq!(first[0].unit_price, Some(usd(1000)));

    f.inner
        .set_price(mug.variants[0].id, usd(1500))
        .await
        .unwrap();
    let second = f.cached.offers(&[sku("MUG")], Currency::Usd).await.unwrap();
    assert_eq!(second[0].unit_price, Some(usd(1500)));
    f.inner.archive_product(mug.id).await.unwrap();
    let third = f.cached.offers(&[sku("MUG")], Currency::Usd).await.unwrap();
    assert!(!third[0].purchasable);
}

#[tokio::test]
async fn the_cache_holds_at_most_max_entries_answers() {
    let f = cached_fixture(3).await;
    let mut ids = Vec::new();
    for slug in ["a", "b", "c", "d", "e"] {
        ids.push(simple_product(&f.inner, slug).await.id);
    }
    for id in &ids {
        f.cached.product(*id, false).await.unwrap();
        assert!(f.cached.len() <= 3, "{}", f.cached.len());
    }
    for limit in 1..=5 {
        f.cached.list_products(filter(limit)).await.unwrap();
        assert!(f.cached.len() <= 3, "{}", f.cached.len());
    }
    assert!(!f.cached.is_empty());
}

#[tokio::test]
async fn a_zero_ttl_disables_the_cache() {
    let f = fixture().await;
    let inner = Arc::new(f.catalog);
    let config = CacheConfig {
        ttl: Duration::ZERO,
        max_entries: 100,
    };
    let cached = CachedCatalog::new(inner.clone(), Arc::new(f.clock.clone()), config);
    let mug = simple_product(&inner, "mug").await;
    assert_eq!(cached.product(mug.id, false).await.unwrap().title, "mug");
    inner.update_product(mug.id, retitle("cup")).await.unwrap();
    assert_eq!(cached.product(mug.id, false).await.unwrap().title, "cup");
    assert!(cached.is_empty());
}

async fn event_types(store: &CatalogStore) -> Vec<String> {
    store
        .events(None, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.event_type)
        .collect()
}

#[tokio::test]
async fn every_catalog_change_records_its_event_and_a_write_that_changes_nothing_records_none() {
    let f = fixture().await;
    let shoes = f
        .catalog
        .create_category(NewCategory {
            handle: handle("shoes"),
            name: title("Shoes"),
        })
        .await
        .unwrap();
    let mug = simple_product(&f.catalog, "mug").await;
    let xl = f
        .catalog
        .add_variant(mug.id, variant("MUG-XL"))
        .await
        .unwrap()
        .variants[1]
        .id;
    f.catalog.set_price(xl, eur(1_200)).await.unwrap();
    f.catalog.remove_price(xl, Currency::Eur).await.unwrap();
    // Nothing to remove, an empty patch, archiving twice: no change, no event.
    f.catalog.remove_price(xl, Currency::Eur).await.unwrap();
    f.catalog
        .update_product(mug.id, ProductPatch::default())
        .await
        .unwrap();
    f.catalog
        .update_variant(
            xl,
            VariantPatch {
                weight_grams: Some(300),
                ..VariantPatch::default()
            },
        )
        .await
        .unwrap();
    f.catalog.archive_variant(xl).await.unwrap();
    f.catalog.archive_variant(xl).await.unwrap();
    f.catalog
        .update_product(mug.id, retitle("Big mug"))
        .await
        .unwrap();
    f.catalog.archive_product(mug.id).await.unwrap();
    f.catalog.archive_product(mug.id).await.unwrap();
    // A refused write (the SKU is taken) records nothing either.
    assert!(f.catalog.add_variant(mug.id, variant("MUG")).await.is_err());

    assert_eq!(
        event_types(&f.store).await,
        [
            "catalog.category_created",
            "catalog.product_created",
            "catalog.variant_added",
            "catalog.price_set",
            "catalog.price_removed",
            "catalog.variant_updated",
            "catalog.variant_archived",
            "catalog.product_updated",
            "catalog.product_archived",
        ]
    );
    let events = f.store.events(None, 1_000).await.unwrap();
    assert_eq!(events[0].aggregate_id, shoes.id.to_string());
    assert!(events[1..]
        .iter()
        .all(|event| event.aggregate_id == mug.id.to_string()));
    let price_set = &events[3];
    assert_eq!(price_set.data["sku"], "MUG-XL");
    assert_eq!(price_set.data["currency"], "EUR");
    assert_eq!(price_set.data["amount_minor"], 1_200);
    assert_eq!(price_set.occurred_at, Timestamp::from_millis(START_MS));
}

#[tokio::test]
async fn a_watcher_clears_the_cache_when_another_node_changes_the_catalog() {
    // A TTL far longer than the test: only the event can make the cache fresh.
    let f = cached_fixture(100).await;
    let cached = Arc::new(CachedCatalog::new(
        f.inner.clone(),
        Arc::new(f.clock.clone()),
        CacheConfig {
            ttl: Duration::from_secs(3_600),
            max_entries: 100,
        },
    ));
    let mug = simple_product(&f.inner, "mug").await;
    let mut watcher = CacheWatcher::new(f.store.clone(), cached.clone());
    // The first look finds the product's creation: new to it.
    assert!(watcher.look().await.unwrap());
    assert!(!watcher.look().await.unwrap(), "nothing new since");
    assert_eq!(cached.product(mug.id, false).await.unwrap().title, "mug");

    // Another node (the inner service, bypassing this cache) retitles the mug.
    f.inner
        .update_product(mug.id, retitle("Big mug"))
        .await
        .unwrap();
    assert_eq!(
        cached.product(mug.id, false).await.unwrap().title,
        "mug",
        "served from the cache until the watcher looks"
    );
    assert!(watcher.look().await.unwrap());
    assert_eq!(
        cached.product(mug.id, false).await.unwrap().title,
        "Big mug"
    );
    assert!(!watcher.look().await.unwrap());
    assert_eq!(cached.len(), 1, "a look with nothing new keeps the cache");
}
