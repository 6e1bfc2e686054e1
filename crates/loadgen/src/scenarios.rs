//! The three scenarios. Each prepares its data (untimed), then runs its workers — closed loops:
//! a worker sends its next request only when the previous one answered, so the offered load is
//! `concurrency` shoppers, never an unbounded queue — and turns the merged recording into a
//! [`Report`].

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::args::{BrowseArgs, CheckoutArgs, FlashSaleArgs};
use crate::http::{
    query_value, random_key, setup_expect, string_at, Call, Outcome, Shopper, Staff,
};
use crate::prepare::{self, RunId, CURRENCY};
use crate::report::{Check, Figure, Report, RunSummary, Verification};
use crate::stats::{Progress, Recorder, Step};

/// The sandbox gateway's token that always authorizes.
const PAYMENT_METHOD: &str = "pm_sandbox_success";
/// A checkout run's stock per SKU: ample, so no checkout ever fails for stock and the run
/// measures the happy path. Far below the 1,000,000,000 limit.
const AMPLE_STOCK: u64 = 1_000_000;
/// How long `checkout` runs when neither `--duration` nor `--checkouts` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(30);
/// Orders per page when a flash sale lists its confirmed orders (the API's maximum).
const ORDERS_PAGE: u32 = 100;

/// What every scenario needs: the pooled client, kassa's addresses, the staff session, the
/// run's identity and whether to draw the progress line.
pub struct Env {
    pub client: reqwest::Client,
    /// The first URL: where data is prepared (staff calls, flash-sale carts) and verified.
    pub base: String,
    /// Every URL, normalised, in the order given (the first is `base`); the timed workers are
    /// spread over them with [`round_robin`].
    pub urls: Vec<String>,
    pub staff: Arc<Staff>,
    pub run: RunId,
    pub quiet: bool,
}

impl Env {
    /// The base URL worker `worker` sends its timed requests to (see [`round_robin`]).
    fn worker_base(&self, worker: u32) -> Arc<str> {
        round_robin(&self.urls, worker)
            .unwrap_or(&self.base)
            .as_str()
            .into()
    }
}

/// The node of worker `worker`: `nodes[worker % nodes.len()]`, so workers 0, 1, 2, … take the
/// nodes in turn and a node listed twice gets twice the workers. `None` only when there are no
/// nodes.
pub fn round_robin<T>(nodes: &[T], worker: u32) -> Option<&T> {
    let index = usize::try_from(worker).ok()?.checked_rem(nodes.len())?;
    nodes.get(index)
}

/// A small xorshift64* generator seeded from the OS: picking SKUs needs speed, not quality, and
/// a seeded generator per worker keeps the hot path free of system calls.
struct Rng(u64);

impl Rng {
    fn new() -> anyhow::Result<Rng> {
        let seed = getrandom::u64().map_err(|err| anyhow!("no randomness: {err}"))?;
        Ok(Rng(seed | 1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// When the workers stop: at a deadline, after a number of journeys, or whichever comes first.
struct Stop {
    deadline: Option<Instant>,
    /// Journeys left to start, when counted.
    tickets: Option<AtomicU64>,
}

impl Stop {
    /// Whether a worker may start another journey (taking a ticket if they are counted).
    fn claim(&self) -> bool {
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return false;
        }
        match &self.tickets {
            None => true,
            Some(tickets) => tickets
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// Draws the progress line on standard error about once a second: seconds, requests and their
/// rate over the last second, journeys, errors. On a terminal it redraws one line; otherwise
/// (a CI log) it prints a line per second.
fn spawn_progress(
    progress: Arc<Progress>,
    origin: Instant,
    flow_name: &'static str,
    quiet: bool,
) -> Option<JoinHandle<()>> {
    if quiet {
        return None;
    }
    let terminal = std::io::stderr().is_terminal();
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        let mut last = (0u64, Instant::now());
        loop {
            ticker.tick().await;
            let (requests, errors, flows) = progress.snapshot();
            let now = Instant::now();
            let rate = (requests - last.0) as f64 / now.duration_since(last.1).as_secs_f64();
            last = (requests, now);
            let line = format!(
                "[{:>4}s] {requests} requests ({rate:.0}/s), {flows} {flow_name}, {errors} errors",
                origin.elapsed().as_secs()
            );
            if terminal {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
        }
    }))
}

/// Stops the progress line and ends it, so the table starts on a fresh line.
fn stop_progress(handle: Option<JoinHandle<()>>) {
    if let Some(handle) = handle {
        handle.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
}

/// Runs `workers` copies of `work` at once and waits for all of them.
async fn run_workers<T, F, Fut>(workers: u32, work: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let handles: Vec<_> = (0..workers).map(|i| tokio::spawn(work(i))).collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await.context("a worker panicked")??);
    }
    Ok(results)
}

/// A cart's id and token from `POST /v1/carts`.
fn cart_of(body: Option<&Value>) -> Option<(String, String)> {
    let body = body?;
    Some((
        body.get("id")?.as_str()?.to_owned(),
        body.get("token")?.as_str()?.to_owned(),
    ))
}

/// Everything a checkout journey sends, built once.
struct CheckoutPlan {
    skus: Vec<String>,
    shipping_option_id: String,
    cart: Value,
    email: Value,
    address: Value,
    payment: Value,
}

impl CheckoutPlan {
    fn new(skus: Vec<String>, shipping_option_id: String, run: &RunId) -> CheckoutPlan {
        CheckoutPlan {
            skus,
            shipping_option_id,
            cart: json!({"currency": CURRENCY}),
            email: json!({"email": run.email()}),
            address: prepare::address(),
            payment: json!({"payment_method": PAYMENT_METHOD}),
        }
    }
}

fn expect(step: Step, method: Method, path: &str, status: StatusCode) -> Call<'_> {
    Call {
        step,
        method,
        path,
        body: None,
        headers: &[],
        expect: match status {
            StatusCode::CREATED => &[StatusCode::CREATED],
            _ => &[StatusCode::OK],
        },
        expected_problems: &[],
        parse: false,
    }
}

/// One shopper's journey: cart, two random lines, email, address, shipping options and
/// choice, checkout. Stops at the first step that fails (already counted). True when the order
/// was confirmed.
async fn checkout_journey(shopper: &mut Shopper<'_>, plan: &CheckoutPlan, rng: &mut Rng) -> bool {
    let started = Instant::now();
    let created = shopper
        .call(Call {
            body: Some(&plan.cart),
            parse: true,
            ..expect(
                Step::CreateCart,
                Method::POST,
                "/v1/carts",
                StatusCode::CREATED,
            )
        })
        .await;
    let Outcome::Success(answer) = created else {
        return false;
    };
    let Some((cart, token)) = cart_of(answer.body.as_ref()) else {
        shopper.recorder.count_error("unexpected_body");
        return false;
    };
    let headers = [("cart-token", token.as_str())];
    let n = plan.skus.len();
    let first = rng.below(n);
    let second = (first + 1 + rng.below(n - 1)) % n;
    let lines_path = format!("/v1/carts/{cart}/lines");
    for index in [first, second] {
        let line = json!({"sku": plan.skus[index], "quantity": 1});
        let call = Call {
            body: Some(&line),
            headers: &headers,
            ..expect(
                Step::AddLine,
                Method::POST,
                &lines_path,
                StatusCode::CREATED,
            )
        };
        if !matches!(shopper.call(call).await, Outcome::Success(_)) {
            return false;
        }
    }
    let email_path = format!("/v1/carts/{cart}/email");
    let address_path = format!("/v1/carts/{cart}/shipping-address");
    for (step, path, body) in [
        (Step::SetEmail, &email_path, &plan.email),
        (Step::SetAddress, &address_path, &plan.address),
    ] {
        let call = Call {
            body: Some(body),
            headers: &headers,
            ..expect(step, Method::PUT, path, StatusCode::OK)
        };
        if !matches!(shopper.call(call).await, Outcome::Success(_)) {
            return false;
        }
    }
    let options_path = format!("/v1/carts/{cart}/shipping-options");
    let options = shopper
        .call(Call {
            headers: &headers,
            parse: true,
            ..expect(
                Step::ListShippingOptions,
                Method::GET,
                &options_path,
                StatusCode::OK,
            )
        })
        .await;
    let Outcome::Success(options) = options else {
        return false;
    };
    // Ours when it is quoted (it always should be), else whatever is first: the point is to
    // choose an option the way a storefront would, from the list.
    let ids: Vec<&str> = options
        .body
        .as_ref()
        .and_then(|b| b.get("items")?.as_array())
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("id")?.as_str())
        .collect();
    let Some(chosen) = ids
        .iter()
        .find(|id| **id == plan.shipping_option_id)
        .or(ids.first())
    else {
        shopper.recorder.count_error("no_shipping_option_quoted");
        return false;
    };
    let choice = json!({"shipping_option_id": chosen});
    let option_path = format!("/v1/carts/{cart}/shipping-option");
    let call = Call {
        body: Some(&choice),
        headers: &headers,
        ..expect(
            Step::ChooseShipping,
            Method::PUT,
            &option_path,
            StatusCode::OK,
        )
    };
    if !matches!(shopper.call(call).await, Outcome::Success(_)) {
        return false;
    }
    let Ok(key) = random_key() else {
        shopper.recorder.count_error("no_randomness");
        return false;
    };
    let checkout_headers = [
        ("cart-token", token.as_str()),
        ("idempotency-key", key.as_str()),
    ];
    let checkout_path = format!("/v1/carts/{cart}/checkout");
    let answer = shopper
        .call(Call {
            body: Some(&plan.payment),
            headers: &checkout_headers,
            parse: true,
            ..expect(
                Step::Checkout,
                Method::POST,
                &checkout_path,
                StatusCode::CREATED,
            )
        })
        .await;
    let Outcome::Success(answer) = answer else {
        return false;
    };
    if order_status(answer.body.as_ref()) != Some("confirmed") {
        shopper.recorder.count_error("order_not_confirmed");
        return false;
    }
    shopper.recorder.record(Step::CheckoutFlow, started, true);
    shopper.recorder.flow_done(shopper.progress);
    true
}

fn order_status(body: Option<&Value>) -> Option<&str> {
    body?.get("order")?.get("status")?.as_str()
}

fn order_id(body: Option<&Value>) -> Option<String> {
    Some(body?.get("order")?.get("id")?.as_str()?.to_owned())
}

/// `kassa loadgen checkout`.
pub async fn checkout(args: &CheckoutArgs, env: &Env) -> anyhow::Result<Report> {
    eprintln!(
        "loadgen: preparing {} SKUs (run {})…",
        args.skus, env.run.hex
    );
    let prepared = prepare::products(&env.staff, &env.run, args.skus, Some(AMPLE_STOCK)).await?;
    let option = prepare::shipping_option(&env.staff).await?;
    let plan = Arc::new(CheckoutPlan::new(
        prepared.into_iter().map(|p| p.sku).collect(),
        option,
        &env.run,
    ));
    let duration = match (args.duration, args.checkouts) {
        (None, None) => Some(DEFAULT_DURATION),
        (duration, _) => duration,
    };
    let origin = Instant::now();
    let stop = Arc::new(Stop {
        deadline: duration.map(|d| origin + d),
        tickets: args.checkouts.map(AtomicU64::new),
    });
    let progress = Arc::new(Progress::default());
    let printer = spawn_progress(progress.clone(), origin, "checkouts", env.quiet);
    let results = run_workers(args.concurrency, |worker| {
        let (client, base, plan, stop, progress) = (
            env.client.clone(),
            env.worker_base(worker),
            plan.clone(),
            stop.clone(),
            progress.clone(),
        );
        async move {
            let mut recorder = Recorder::new(origin);
            let mut rng = Rng::new()?;
            let mut attempted = 0u64;
            while stop.claim() {
                attempted += 1;
                let mut shopper = Shopper {
                    client: &client,
                    base: &base,
                    recorder: &mut recorder,
                    progress: &progress,
                };
                checkout_journey(&mut shopper, &plan, &mut rng).await;
            }
            Ok((recorder, attempted))
        }
    })
    .await;
    let elapsed = origin.elapsed();
    stop_progress(printer);
    let mut recorder = Recorder::new(origin);
    let mut attempted = 0;
    for (worker, count) in results? {
        recorder.merge(worker);
        attempted += count;
    }
    let confirmed = recorder.flows_at_ms.len() as u64;
    Ok(Report::build(
        RunSummary {
            scenario: "checkout",
            urls: &env.urls,
            run_id: &env.run.hex,
            concurrency: args.concurrency,
            elapsed_secs: elapsed.as_secs_f64(),
            flow_name: "confirmed checkouts",
            figures: vec![
                count_figure("checkouts attempted", attempted),
                count_figure("checkouts confirmed (201)", confirmed),
            ],
            verification: None,
            notes: vec![
                "whole_checkout runs from creating the cart to the checkout's 201, for \
                 confirmed checkouts only; step latencies include error answers."
                    .to_owned(),
                format!(
                    "{} SKUs with {AMPLE_STOCK} units each, two random lines per cart, \
                     {PAYMENT_METHOD}.",
                    plan.skus.len()
                ),
            ],
        },
        &recorder,
    ))
}

fn count_figure(name: &str, count: u64) -> Figure {
    Figure {
        name: name.to_owned(),
        value: count as f64,
        unit: String::new(),
    }
}

/// Prepares one buyer's cart for the flash sale: one unit of `sku`, email, address and the
/// shipping option, through unmeasured calls. Returns (cart id, cart token).
async fn prepare_buyer(
    client: &reqwest::Client,
    base: &str,
    plan: &CheckoutPlan,
    sku: &str,
) -> anyhow::Result<(String, String)> {
    let created = setup_expect(
        client,
        base,
        Method::POST,
        "/v1/carts",
        &[],
        Some(&plan.cart),
        StatusCode::CREATED,
    )
    .await?;
    let (cart, token) = (string_at(&created, "id")?, string_at(&created, "token")?);
    let headers = [("cart-token", token.as_str())];
    let steps = [
        (
            Method::POST,
            format!("/v1/carts/{cart}/lines"),
            json!({"sku": sku, "quantity": 1}),
            StatusCode::CREATED,
        ),
        (
            Method::PUT,
            format!("/v1/carts/{cart}/email"),
            plan.email.clone(),
            StatusCode::OK,
        ),
        (
            Method::PUT,
            format!("/v1/carts/{cart}/shipping-address"),
            plan.address.clone(),
            StatusCode::OK,
        ),
        (
            Method::PUT,
            format!("/v1/carts/{cart}/shipping-option"),
            json!({"shipping_option_id": plan.shipping_option_id}),
            StatusCode::OK,
        ),
    ];
    for (method, path, body, status) in steps {
        setup_expect(client, base, method, &path, &headers, Some(&body), status).await?;
    }
    Ok((cart, token))
}

/// What one flash-sale worker saw.
struct FlashOutcome {
    recorder: Recorder,
    confirmed: Vec<String>,
    sold_out: u64,
}

/// `kassa loadgen flash-sale`.
pub async fn flash_sale(args: &FlashSaleArgs, env: &Env) -> anyhow::Result<Report> {
    eprintln!(
        "loadgen: preparing 1 SKU with {} units and {} buyer carts (run {}, not timed)…",
        args.units, args.buyers, env.run.hex
    );
    let prepared = prepare::products(&env.staff, &env.run, 1, Some(args.units)).await?;
    let sku = prepared
        .first()
        .map(|p| p.sku.clone())
        .ok_or_else(|| anyhow!("no product was prepared"))?;
    let option = prepare::shipping_option(&env.staff).await?;
    let plan = Arc::new(CheckoutPlan::new(vec![sku.clone()], option, &env.run));
    let base: Arc<str> = env.base.as_str().into();
    let buyers = usize::try_from(args.buyers).context("--buyers is too large")?;

    // Carts first, so the timed part is the checkout stampede alone; all on the first node,
    // like the rest of the preparation.
    let preparing = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let carts = run_workers(args.concurrency, |_| {
        let (client, base, plan, next, sku) = (
            env.client.clone(),
            base.clone(),
            plan.clone(),
            next.clone(),
            sku.clone(),
        );
        async move {
            let mut carts = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < buyers {
                carts.push(prepare_buyer(&client, &base, &plan, &sku).await?);
            }
            Ok(carts)
        }
    })
    .await
    .context("preparing the buyers' carts")?;
    let carts: Arc<Vec<(String, String)>> = Arc::new(carts.into_iter().flatten().collect());
    let preparation = preparing.elapsed();
    eprintln!(
        "loadgen: {} carts ready in {:.1} s; every buyer checks out now",
        carts.len(),
        preparation.as_secs_f64()
    );

    let origin = Instant::now();
    let progress = Arc::new(Progress::default());
    let printer = spawn_progress(progress.clone(), origin, "decisions", env.quiet);
    let next = Arc::new(AtomicUsize::new(0));
    // Each buyer checks out on its worker's node, whichever node made the cart: the nodes
    // share one database, so a cart and its token are good on any of them.
    let results = run_workers(args.concurrency, |worker| {
        let (client, base, plan, next, carts, progress) = (
            env.client.clone(),
            env.worker_base(worker),
            plan.clone(),
            next.clone(),
            carts.clone(),
            progress.clone(),
        );
        async move {
            let mut outcome = FlashOutcome {
                recorder: Recorder::new(origin),
                confirmed: Vec::new(),
                sold_out: 0,
            };
            while let Some((cart, token)) = carts.get(next.fetch_add(1, Ordering::Relaxed)) {
                let key = random_key()?;
                let headers = [
                    ("cart-token", token.as_str()),
                    ("idempotency-key", key.as_str()),
                ];
                let path = format!("/v1/carts/{cart}/checkout");
                let mut shopper = Shopper {
                    client: &client,
                    base: &base,
                    recorder: &mut outcome.recorder,
                    progress: &progress,
                };
                let answer = shopper
                    .call(Call {
                        body: Some(&plan.payment),
                        headers: &headers,
                        expected_problems: &["insufficient_stock"],
                        parse: true,
                        ..expect(Step::Checkout, Method::POST, &path, StatusCode::CREATED)
                    })
                    .await;
                match answer {
                    Outcome::Success(answer) => {
                        let body = answer.body.as_ref();
                        match (order_status(body), order_id(body)) {
                            (Some("confirmed"), Some(id)) => {
                                outcome.confirmed.push(id);
                                outcome.recorder.flow_done(&progress);
                            }
                            _ => outcome.recorder.count_error("order_not_confirmed"),
                        }
                    }
                    Outcome::ExpectedProblem(_) => {
                        outcome.sold_out += 1;
                        outcome.recorder.flow_done(&progress);
                    }
                    Outcome::Failed => {}
                }
            }
            Ok(outcome)
        }
    })
    .await;
    let elapsed = origin.elapsed();
    stop_progress(printer);
    let mut recorder = Recorder::new(origin);
    let mut confirmed = Vec::new();
    let mut sold_out = 0;
    for outcome in results? {
        recorder.merge(outcome.recorder);
        confirmed.extend(outcome.confirmed);
        sold_out += outcome.sold_out;
    }
    let failed: u64 = recorder.errors.values().sum();
    let verification = verify_flash_sale(env, args, &sku, &confirmed, sold_out, failed).await?;
    Ok(Report::build(
        RunSummary {
            scenario: "flash-sale",
            urls: &env.urls,
            run_id: &env.run.hex,
            concurrency: args.concurrency,
            elapsed_secs: elapsed.as_secs_f64(),
            flow_name: "checkout decisions",
            figures: vec![
                count_figure("units", args.units),
                count_figure("buyers", args.buyers),
                count_figure("checkouts confirmed (201)", confirmed.len() as u64),
                count_figure("checkouts sold out (409 insufficient_stock)", sold_out),
                Figure {
                    name: "cart preparation (not timed)".to_owned(),
                    value: preparation.as_secs_f64(),
                    unit: " s".to_owned(),
                },
            ],
            verification: Some(verification),
            notes: vec![
                format!(
                    "All {} carts (one unit of {sku} each) were prepared before the timed part; \
                     the timed part is the checkouts alone.",
                    args.buyers
                ),
                "checkout decisions per second = (201 confirmed + 409 insufficient_stock) / \
                 elapsed."
                    .to_owned(),
            ],
        },
        &recorder,
    ))
}

/// Checks, through the API, that the sale sold exactly min(buyers, units) units: by the
/// checkout answers, by the confirmed orders the staff list shows for this run's email (all of
/// them for this SKU, the same ids as the 201s), and by the stock left and held.
async fn verify_flash_sale(
    env: &Env,
    args: &FlashSaleArgs,
    sku: &str,
    confirmed: &[String],
    sold_out: u64,
    failed: u64,
) -> anyhow::Result<Verification> {
    let expected = args.buyers.min(args.units);
    let sold = confirmed.len() as u64;
    let mut checks = vec![
        Check::equal("checkouts confirmed (201)", expected, sold),
        Check::equal(
            "checkouts refused for stock (409 insufficient_stock)",
            args.buyers - expected,
            sold_out,
        ),
        Check::equal("checkouts failing otherwise", 0, failed),
    ];

    let email = query_value(&env.run.email());
    let mut listed = BTreeSet::new();
    let mut foreign_lines = 0u64;
    let mut cursor: Option<String> = None;
    // Bounded: each page has up to ORDERS_PAGE orders, and no more than `buyers` exist.
    for _ in 0..=(args.buyers / u64::from(ORDERS_PAGE) + 1) {
        let mut path =
            format!("/v1/admin/orders?status=confirmed&email={email}&limit={ORDERS_PAGE}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={}", query_value(cursor)));
        }
        let page = env
            .staff
            .request(Method::GET, &path, None, StatusCode::OK)
            .await
            .context("listing the run's confirmed orders")?;
        for order in page["items"].as_array().into_iter().flatten() {
            if let Some(id) = order["id"].as_str() {
                listed.insert(id.to_owned());
            }
            let lines = order["lines"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let only_ours = lines.len() == 1 && lines[0]["sku"] == sku && lines[0]["quantity"] == 1;
            foreign_lines += u64::from(!only_ours);
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    let answered: BTreeSet<String> = confirmed.iter().cloned().collect();
    checks.push(Check::equal(
        "confirmed orders listed for this run",
        expected,
        listed.len(),
    ));
    checks.push(Check::equal(
        "listed orders are exactly the 201 answers",
        "same",
        if listed == answered {
            "same".to_owned()
        } else {
            format!(
                "{} answered but not listed, {} listed but not answered",
                answered.difference(&listed).count(),
                listed.difference(&answered).count()
            )
        },
    ));
    checks.push(Check::equal(
        "listed orders with anything but one unit of the SKU",
        0,
        foreign_lines,
    ));

    let stock = env
        .staff
        .request(
            Method::GET,
            &format!("/v1/admin/inventory/{sku}"),
            None,
            StatusCode::OK,
        )
        .await
        .context("reading the SKU's stock")?;
    let number = |field: &str| {
        stock[field]
            .as_u64()
            .map_or_else(|| format!("missing ({stock})"), |n| n.to_string())
    };
    checks.push(Check::equal(
        "on_hand (units − sold)",
        args.units.saturating_sub(sold),
        number("on_hand"),
    ));
    checks.push(Check::equal("reserved", 0, number("reserved")));
    Ok(Verification::of(checks))
}

/// `kassa loadgen browse`.
pub async fn browse(args: &BrowseArgs, env: &Env) -> anyhow::Result<Report> {
    eprintln!(
        "loadgen: preparing {} products (run {})…",
        args.products, env.run.hex
    );
    let prepared = prepare::products(&env.staff, &env.run, args.products, None).await?;
    let ids: Arc<Vec<String>> = Arc::new(prepared.into_iter().map(|p| p.product_id).collect());
    let run = env.run.clone();
    let origin = Instant::now();
    let stop = Arc::new(Stop {
        deadline: Some(origin + args.duration),
        tickets: None,
    });
    let progress = Arc::new(Progress::default());
    let printer = spawn_progress(progress.clone(), origin, "rounds", env.quiet);
    let results = run_workers(args.concurrency, |worker| {
        let (client, base, ids, stop, progress, run) = (
            env.client.clone(),
            env.worker_base(worker),
            ids.clone(),
            stop.clone(),
            progress.clone(),
            run.clone(),
        );
        async move {
            let mut recorder = Recorder::new(origin);
            let mut rng = Rng::new()?;
            while stop.claim() {
                let mut shopper = Shopper {
                    client: &client,
                    base: &base,
                    recorder: &mut recorder,
                    progress: &progress,
                };
                let pick = rng.below(ids.len());
                // "<hex> item <nnn>" is in exactly one of this run's titles.
                let term = query_value(&format!("{} item {pick:03}", run.hex));
                let product = format!("/v1/products/{}", ids[pick]);
                let search = format!("/v1/products?q={term}&limit=20");
                for (step, path) in [
                    (Step::ListProducts, "/v1/products?limit=20"),
                    (Step::GetProduct, product.as_str()),
                    (Step::Search, search.as_str()),
                ] {
                    shopper
                        .call(expect(step, Method::GET, path, StatusCode::OK))
                        .await;
                }
                shopper.recorder.flow_done(shopper.progress);
            }
            Ok(recorder)
        }
    })
    .await;
    let elapsed = origin.elapsed();
    stop_progress(printer);
    let mut recorder = Recorder::new(origin);
    for worker in results? {
        recorder.merge(worker);
    }
    Ok(Report::build(
        RunSummary {
            scenario: "browse",
            urls: &env.urls,
            run_id: &env.run.hex,
            concurrency: args.concurrency,
            elapsed_secs: elapsed.as_secs_f64(),
            flow_name: "browse rounds",
            figures: Vec::new(),
            verification: None,
            notes: vec![
                "A round is the first page of the product list (20), one of this run's \
                 products by id, and a title search."
                    .to_owned(),
                "search is GET /v1/products?q=… (case-insensitive text in the title): the \
                 catalog has no dedicated search route or index yet."
                    .to_owned(),
            ],
        },
        &recorder,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_stays_in_range_and_varies() {
        let mut rng = Rng::new().expect("seeded");
        let picks: Vec<usize> = (0..1000).map(|_| rng.below(50)).collect();
        assert!(picks.iter().all(|&p| p < 50));
        let distinct: BTreeSet<usize> = picks.into_iter().collect();
        assert!(
            distinct.len() > 40,
            "only {} distinct picks",
            distinct.len()
        );
    }

    #[test]
    fn workers_are_spread_round_robin_over_the_urls() {
        let urls = ["http://a:1", "http://b:2", "http://c:3"];
        let assigned: Vec<&str> = (0..7)
            .map(|worker| *round_robin(&urls, worker).expect("a node"))
            .collect();
        assert_eq!(
            assigned,
            [
                "http://a:1",
                "http://b:2",
                "http://c:3",
                "http://a:1",
                "http://b:2",
                "http://c:3",
                "http://a:1"
            ]
        );
        // One URL: every worker on it, as before several were possible.
        assert!((0..50).all(|worker| round_robin(&["http://a:1"], worker) == Some(&"http://a:1")));
        // A duplicate weights a node: a, a, b gives a two workers in three.
        let weighted = ["http://a:1", "http://a:1", "http://b:2"];
        let on_a = (0..300)
            .filter(|&worker| round_robin(&weighted, worker) == Some(&"http://a:1"))
            .count();
        assert_eq!(on_a, 200);
        // 16 workers over 3 nodes: 6, 5, 5.
        let counts: Vec<usize> = urls
            .iter()
            .map(|url| {
                (0..16)
                    .filter(|&worker| round_robin(&urls, worker) == Some(url))
                    .count()
            })
            .collect();
        assert_eq!(counts, [6, 5, 5]);
        assert_eq!(round_robin::<&str>(&[], 0), None);
        assert_eq!(
            round_robin(&urls, u32::MAX),
            Some(&urls[u32::MAX as usize % 3])
        );
    }

    /// A stand-in node: answers every request on 127.0.0.1 with `200 {}` over keep-alive
    /// connections and records each request line. Its threads end with the test process.
    fn fake_node() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().expect("clone the stream");
                    let mut reader = BufReader::new(stream);
                    loop {
                        let mut request_line = String::new();
                        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                            return;
                        }
                        // GETs only: the headers end at the first empty line, no body follows.
                        let mut header = String::new();
                        while reader.read_line(&mut header).unwrap_or(0) > 0 && header != "\r\n" {
                            header.clear();
                        }
                        log.lock()
                            .expect("log")
                            .push(request_line.trim_end().to_owned());
                        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                      content-length: 2\r\n\r\n{}";
                        if writer.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_shared_client_sends_each_worker_to_its_node() {
        let (a, seen_a) = fake_node();
        let (b, seen_b) = fake_node();
        // As in a run: one shared client, the URLs in order, `a` given twice to weight it.
        let urls = Arc::new(vec![a.clone(), b, a]);
        let client = crate::http::client(6, Duration::from_secs(10)).expect("a client");
        let progress = Arc::new(Progress::default());
        let origin = Instant::now();
        run_workers(6, |worker| {
            let (client, urls, progress) = (client.clone(), urls.clone(), progress.clone());
            async move {
                let base = round_robin(&urls, worker).expect("a node").clone();
                let mut recorder = Recorder::new(origin);
                let mut shopper = Shopper {
                    client: &client,
                    base: &base,
                    recorder: &mut recorder,
                    progress: &progress,
                };
                for round in 0..3 {
                    let path = format!("/worker/{worker}/{round}");
                    let call = expect(Step::ListProducts, Method::GET, &path, StatusCode::OK);
                    if !matches!(shopper.call(call).await, Outcome::Success(_)) {
                        anyhow::bail!("worker {worker}: {path} failed: {:?}", recorder.errors);
                    }
                }
                Ok(())
            }
        })
        .await
        .expect("every request answered");

        let workers_seen = |seen: &std::sync::Mutex<Vec<String>>| {
            let seen = seen.lock().expect("log");
            assert_eq!(seen.len() % 3, 0, "{seen:?}");
            let workers: BTreeSet<u32> = seen
                .iter()
                .filter_map(|line| {
                    line.strip_prefix("GET /worker/")?
                        .split('/')
                        .next()?
                        .parse()
                        .ok()
                })
                .collect();
            workers
        };
        // Worker i on urls[i % 3]: a, b, a, a, b, a.
        assert_eq!(workers_seen(&seen_a), BTreeSet::from([0, 2, 3, 5]));
        assert_eq!(workers_seen(&seen_b), BTreeSet::from([1, 4]));
        assert_eq!(seen_a.lock().expect("log").len(), 12);
        assert_eq!(seen_b.lock().expect("log").len(), 6);
    }

    #[test]
    fn stop_counts_tickets_and_deadlines() {
        let counted = Stop {
            deadline: None,
            tickets: Some(AtomicU64::new(3)),
        };
        assert_eq!((0..10).filter(|_| counted.claim()).count(), 3);
        let lapsed = Stop {
            deadline: Some(Instant::now()),
            tickets: None,
        };
        assert!(!lapsed.claim());
        let open = Stop {
            deadline: Some(Instant::now() + Duration::from_secs(60)),
            tickets: None,
        };
        assert!(open.claim());
    }
}
