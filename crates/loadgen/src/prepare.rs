//! Preparing a run's data through the staff API: products with USD prices under a fresh random
//! prefix (so runs never collide on SKUs or handles, and a run can find its own orders), stock
//! for each SKU, and a flat shipping option to the country the shoppers live in.

use std::sync::Arc;

use anyhow::{anyhow, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::http::{random_key, string_at, Staff};

/// The currency every run's carts use.
pub const CURRENCY: &str = "USD";
/// The country every shopper ships to.
pub const COUNTRY: &str = "US";
/// The shipping option runs share: found by name and reused, so repeated runs do not pile up
/// options that every later cart would be quoted.
pub const SHIPPING_NAME: &str = "kassa loadgen flat (US)";
/// Its flat price in cents.
pub const SHIPPING_AMOUNT_MINOR: i64 = 500;
/// Every variant's weight: well inside any tier, irrelevant to the flat option.
const WEIGHT_GRAMS: u32 = 250;
/// Staff requests in flight while preparing: enough to make 1,000 products in seconds, few
/// enough that the untimed preparation is not a load test of its own.
const PREPARE_CONCURRENCY: usize = 8;

/// The shopper's shipping address.
pub fn address() -> Value {
    json!({
        "name": "Ada Loadgen",
        "line1": "1 Benchmark Way",
        "city": "Springfield",
        "postal_code": "62701",
        "region": "IL",
        "country": COUNTRY,
    })
}

/// A run's identity: the random part of its SKUs, handles, titles and shopper email.
#[derive(Debug, Clone)]
pub struct RunId {
    /// 8 lower-case hex digits, e.g. `3f9a1c2b`.
    pub hex: String,
}

impl RunId {
    pub fn new() -> anyhow::Result<RunId> {
        let mut hex = random_key()?;
        hex.truncate(8);
        Ok(RunId { hex })
    }

    /// The `n`th SKU of the run, e.g. `LG-3F9A1C2B-007`.
    pub fn sku(&self, n: u32) -> String {
        format!("LG-{}-{n:03}", self.hex.to_uppercase())
    }

    /// The `n`th product's handle.
    pub fn handle(&self, n: u32) -> String {
        format!("lg-{}-{n:03}", self.hex)
    }

    /// The `n`th product's title; `"<hex> item <n>"` is what the browse scenario searches.
    pub fn title(&self, n: u32) -> String {
        format!("Loadgen {} item {n:03}", self.hex)
    }

    /// The email every shopper of the run gives: the staff order list filters on it, which is
    /// how a flash sale finds exactly its own orders.
    pub fn email(&self) -> String {
        format!("loadgen-{}@example.com", self.hex)
    }
}

/// A prepared product: its id and its one variant's SKU.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub product_id: String,
    pub sku: String,
}

/// Creates `count` products of one variant each, priced in USD between 5 and 50 dollars, and
/// sets `on_hand` of each SKU when `stock` is given. Runs a few staff requests at once.
pub async fn products(
    staff: &Arc<Staff>,
    run: &RunId,
    count: u32,
    stock: Option<u64>,
) -> anyhow::Result<Vec<Prepared>> {
    let permits = Arc::new(Semaphore::new(PREPARE_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for n in 0..count {
        let staff = staff.clone();
        let permits = permits.clone();
        let (sku, handle, title) = (run.sku(n), run.handle(n), run.title(n));
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let price = 500 + i64::from(n % 10) * 500;
            let body = json!({
                "handle": handle,
                "title": title,
                "description": "Made by kassa loadgen.",
                "variants": [{
                    "sku": sku,
                    "title": format!("{title} / one size"),
                    "weight_grams": WEIGHT_GRAMS,
                    "prices": [{"amount_minor": price, "currency": CURRENCY}],
                }],
            });
            let product = staff
                .request(
                    Method::POST,
                    "/v1/admin/products",
                    Some(&body),
                    StatusCode::CREATED,
                )
                .await
                .with_context(|| format!("creating product {handle}"))?;
            if let Some(on_hand) = stock {
                staff
                    .request(
                        Method::PUT,
                        &format!("/v1/admin/inventory/{sku}"),
                        Some(&json!({"on_hand": on_hand})),
                        StatusCode::OK,
                    )
                    .await
                    .with_context(|| format!("stocking {sku}"))?;
            }
            Ok::<_, anyhow::Error>((
                n,
                Prepared {
                    product_id: string_at(&product, "id")?,
                    sku,
                },
            ))
        });
    }
    let mut prepared = Vec::with_capacity(count as usize);
    while let Some(joined) = tasks.join_next().await {
        prepared.push(joined.context("a preparation task panicked")??);
    }
    prepared.sort_by_key(|(n, _)| *n);
    Ok(prepared.into_iter().map(|(_, p)| p).collect())
}

/// The id of the shared flat USD shipping option to [`COUNTRY`], created when missing.
pub async fn shipping_option(staff: &Staff) -> anyhow::Result<String> {
    let list = staff
        .request(
            Method::GET,
            "/v1/admin/shipping-options",
            None,
            StatusCode::OK,
        )
        .await
        .context("listing shipping options")?;
    let existing = list
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|option| {
            option["name"] == SHIPPING_NAME
                && option["currency"] == CURRENCY
                && option["flat_amount_minor"].is_i64()
                && option["countries"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c == COUNTRY))
        });
    if let Some(option) = existing {
        return string_at(option, "id");
    }
    let created = staff
        .request(
            Method::POST,
            "/v1/admin/shipping-options",
            Some(&json!({
                "name": SHIPPING_NAME,
                "countries": [COUNTRY],
                "currency": CURRENCY,
                "flat_amount_minor": SHIPPING_AMOUNT_MINOR,
            })),
            StatusCode::CREATED,
        )
        .await
        .context("creating the shipping option (needs an owner: settings write)")?;
    string_at(&created, "id").map_err(|err| anyhow!("the created shipping option: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_follow_the_api_rules() {
        let run = RunId {
            hex: "3f9a1c2b".to_owned(),
        };
        assert_eq!(run.sku(7), "LG-3F9A1C2B-007");
        assert_eq!(run.handle(42), "lg-3f9a1c2b-042");
        assert_eq!(run.title(1), "Loadgen 3f9a1c2b item 001");
        assert_eq!(run.email(), "loadgen-3f9a1c2b@example.com");
        let fresh = RunId::new().expect("random");
        assert_eq!(fresh.hex.len(), 8);
        assert!(fresh.hex.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
