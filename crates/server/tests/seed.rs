//! `kassa seed` through the library: fills an empty shop, and a second run changes nothing.
//! Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.

use std::path::Path;
use std::sync::Arc;

use kassa_catalog::ProductFilter;
use kassa_kernel::SystemClock;
use kassa_server::{seed, Districts, Settings};
use kassa_testkit::TestDb;

async fn districts(db: &TestDb) -> Districts {
    let mut settings =
        Settings::load(Path::new("/nonexistent"), "test", Vec::new()).expect("settings");
    match db.backend() {
        kassa_db::Backend::Sqlite { data_dir } => settings.database.data_dir = data_dir.clone(),
        kassa_db::Backend::Postgres { url } => settings.database.url = url.clone(),
    }
    Districts::open(&settings, Arc::new(SystemClock), true)
        .await
        .expect("open the districts")
}

async fn product_count(districts: &Districts) -> usize {
    let page = districts
        .catalog
        .list_products(ProductFilter {
            include_archived: true,
            limit: 100,
            ..ProductFilter::default()
        })
        .await
        .expect("list products");
    assert!(page.next_cursor.is_none(), "the demo shop fits one page");
    page.items.len()
}

#[tokio::test]
async fn seeding_an_empty_shop_fills_it_and_seeding_again_changes_nothing() {
    let db = TestDb::new().await;
    let districts = districts(&db).await;

    let first = seed::run(&districts).await.expect("first seed");
    assert_eq!(first.categories_created, 5);
    assert_eq!(first.products_created, 30);
    assert_eq!(first.shipping_options_created, 5);
    assert_eq!(first.tax_rates_set, 7);
    assert_eq!(product_count(&districts).await, 30);

    let second = seed::run(&districts).await.expect("second seed");
    assert_eq!(second, seed::SeedReport::default());
    assert_eq!(product_count(&districts).await, 30);
    assert_eq!(
        districts.cart.shipping_options_all().await.unwrap().len(),
        5
    );
    assert_eq!(districts.cart.tax_rates().await.unwrap().len(), 7);
    assert_eq!(districts.catalog.categories().await.unwrap().len(), 5);
}

#[tokio::test]
async fn every_seeded_variant_is_priced_in_usd_and_eur() {
    let db = TestDb::new().await;
    let districts = districts(&db).await;
    seed::run(&districts).await.expect("seed");
    let page = districts
        .catalog
        .list_products(ProductFilter {
            limit: 100,
            ..ProductFilter::default()
        })
        .await
        .unwrap();
    for product in &page.items {
        assert!(
            !product.variants.is_empty(),
            "{} has no variants",
            product.handle
        );
        for variant in &product.variants {
            let mut currencies: Vec<&str> =
                variant.prices.iter().map(|p| p.currency().code()).collect();
            currencies.sort_unstable();
            assert_eq!(currencies, ["EUR", "USD"], "{}", variant.sku);
        }
    }
}
