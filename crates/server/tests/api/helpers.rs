//! `TestApp`: the real kassa application on 127.0.0.1:0 over a fresh database, plus a client
//! and small typed helpers. Dropping it stops the server and drops the database.
//!
//! Every `TestApp` starts with one owner, signed in, whose session [`TestApp::admin`] uses.
//! The owner and the members [`TestApp::staff_token`] makes are signed in through the identity
//! service from a documentation address (192.0.2.0/24), not over HTTP: the suite's requests all
//! come from 127.0.0.1, and a setup sign-in from there would use up one of the 30 sign-in
//! attempts per address and 15 minutes that the throttle tests count.
//! [`TestApp::register_and_sign_in`] goes through HTTP and does count.

#![allow(dead_code)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use kassa_identity::{ClientInfo, IdentityService, Password, Role, TokenPair};
use kassa_kernel::ids::StaffId;
use kassa_kernel::{Clock, Email, ManualClock, Timestamp};
use kassa_server::{Application, Districts, Hooks, Settings};
use kassa_testkit::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The signing secret every `TestApp` uses unless a test configures another (64 bytes).
pub const TEST_JWT_SECRET: &str =
    "kassa-test-signing-secret-kassa-test-signing-secret-0123456789ab";
/// The password of the owner and of every member [`TestApp::staff_token`] creates.
pub const STAFF_PASSWORD: &str = "Staff-Test-Password-2026";
/// The owner every `TestApp` starts with.
pub const OWNER_EMAIL: &str = "owner@kassa.test";
/// Where setup sign-ins come from (TEST-NET-1): never the address the suite's requests use.
const SETUP_CLIENT: [u8; 4] = [192, 0, 2, 250];

/// One variant for [`TestApp::create_product`]: SKU, prices as (minor units, currency), weight
/// in grams.
pub type VariantSpec<'a> = (&'a str, &'a [(i64, &'a str)], u32);

pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub districts: Districts,
    /// Every (method, path) the router serves.
    pub route_table: kassa_api::RouteTable,
    /// The owner the app starts with (email [`OWNER_EMAIL`], password [`STAFF_PASSWORD`]).
    pub owner_id: StaffId,
    /// The owner's session; refreshed by [`TestApp::owner_token`] once its access token has
    /// expired on the test clock.
    owner_session: Mutex<TokenPair>,
    /// Numbers the emails of [`TestApp::staff_token`]'s members.
    staff_created: AtomicU32,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The running server; [`TestApp::restart`] waits for it to stop (databases closed).
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// What the app was built with, so [`TestApp::restart`] builds the same app again.
    settings: Arc<Settings>,
    // Dropped last: the server must stop before its database goes away. An `Option` only so
    // that `restart` can hand it to the next app.
    db: Option<TestDb>,
}

/// A response with its body already read: JSON when it parses, else a JSON string.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json response with this status and code, and returns its body.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status: {:#}",
            self.body
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "not a problem document: {:#}",
            self.body
        );
        assert_eq!(self.body["code"], code, "unexpected code: {:#}", self.body);
        assert_eq!(self.body["status"], status);
        let slug = code.replace('_', "-");
        assert_eq!(self.body["type"], format!("/problems/{slug}"));
        assert!(self.body["title"].is_string());
        assert!(self.body["instance"]
            .as_str()
            .is_some_and(|i| i.starts_with("urn:request:")));
        &self.body
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status: {:#}",
            self.body
        );
        &self.body
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with settings adjusted by `configure` (limits, timeouts, …).
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_with_hooks(configure, Hooks::default()).await
    }

    /// Spawns with adjusted settings and test hooks: a sandbox gateway the test keeps (to
    /// script faults, or to pass to [`TestApp::restart`]) and saga fault injection.
    pub async fn spawn_with_hooks(configure: impl FnOnce(&mut Settings), hooks: Hooks) -> TestApp {
        let db = TestDb::new().await;
        let mut settings = Settings::load(Path::new("/nonexistent"), "test", Vec::new())
            .expect("built-in settings load");
        settings.server.port = 0;
        settings.identity.jwt_secret = Some(TEST_JWT_SECRET.to_owned().into());
        // The cheapest argon2id parameters it accepts: hashing is the slowest part of the suite
        // otherwise, and the tests are about behaviour, not cost.
        settings.identity.password.memory_kib = 64;
        settings.identity.password.iterations = 1;
        settings.identity.password.parallelism = 1;
        match db.backend() {
            kassa_db::Backend::Sqlite { data_dir } => {
                settings.database.url = String::new();
                settings.database.data_dir = data_dir.clone();
            }
            kassa_db::Backend::Postgres { url } => settings.database.url = url.clone(),
        }
        settings.database.max_connections = 4;
        configure(&mut settings);

        let clock = ManualClock::new(Timestamp::from_millis(1_795_000_000_000));
        let started = start(&settings, &clock, hooks).await;
        let owner = started
            .districts
            .identity
            .create_staff(email(OWNER_EMAIL), staff_password(), Role::Owner)
            .await
            .expect("create the owner");
        let owner_session = setup_sign_in(started.districts.identity.as_ref(), OWNER_EMAIL).await;
        TestApp {
            base_url: started.base_url,
            client: reqwest::Client::new(),
            clock,
            districts: started.districts,
            route_table: started.route_table,
            owner_id: owner.id,
            owner_session: Mutex::new(owner_session),
            staff_created: AtomicU32::new(0),
            shutdown: Some(started.shutdown),
            server: Some(started.server),
            settings: Arc::new(settings),
            db: Some(db),
        }
    }

    /// Stops the server as a deploy would (graceful shutdown, databases closed) and builds a
    /// new application over the same databases, settings and clock, with `hooks`: pass the
    /// same sandbox gateway to simulate a gateway that outlived the restart. The owner's
    /// session is kept (sessions live in the database, and the signing secret is the same).
    pub async fn restart(mut self, hooks: Hooks) -> TestApp {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task ends")
                .expect("the server stops cleanly");
        }
        let db = self.db.take().expect("the test database is still owned");
        let started = start(&self.settings, &self.clock, hooks).await;
        let owner_session = self
            .owner_session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        TestApp {
            base_url: started.base_url,
            client: self.client.clone(),
            clock: self.clock.clone(),
            districts: started.districts,
            route_table: started.route_table,
            owner_id: self.owner_id,
            owner_session: Mutex::new(owner_session),
            staff_created: AtomicU32::new(self.staff_created.load(Ordering::SeqCst)),
            shutdown: Some(started.shutdown),
            server: Some(started.server),
            settings: self.settings.clone(),
            db: Some(db),
        }
    }

    /// The owner's access token, refreshed first if it has expired on the test clock (so a
    /// test that advances the clock past 15 minutes can still use [`TestApp::admin`]).
    pub async fn owner_token(&self) -> String {
        let (access, refresh, expires_at) = {
            let session = self
                .owner_session
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (
                session.access_token.expose().to_owned(),
                session.refresh_token.expose().to_owned(),
                session.access_expires_at,
            )
        };
        if self.clock.now() < expires_at {
            return access;
        }
        let pair = self
            .districts
            .identity
            .refresh(&refresh)
            .await
            .expect("refresh the owner's session");
        let access = pair.access_token.expose().to_owned();
        *self
            .owner_session
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = pair;
        access
    }

    /// Creates a staff member of `role` with a unique email (password [`STAFF_PASSWORD`]),
    /// signs it in and returns its access token.
    pub async fn staff_token(&self, role: Role) -> String {
        let n = self.staff_created.fetch_add(1, Ordering::Relaxed);
        let address = format!("{role}{n}@kassa.test");
        self.districts
            .identity
            .create_staff(email(&address), staff_password(), role)
            .await
            .expect("create a staff member");
        let pair = setup_sign_in(self.districts.identity.as_ref(), &address).await;
        pair.access_token.expose().to_owned()
    }

    /// Registers a customer (password [`STAFF_PASSWORD`]) and signs it in, both over HTTP
    /// (each counts towards its throttle); returns the 200 body of `POST /v1/sessions`.
    pub async fn register_and_sign_in(&self, email: &str) -> Value {
        let credentials = json!({"email": email, "password": STAFF_PASSWORD});
        self.post("/v1/customers", &credentials)
            .await
            .assert_status(202);
        self.post("/v1/sessions", &credentials)
            .await
            .assert_status(200)
            .clone()
    }

    /// A request carrying `Authorization: Bearer <token>`.
    pub async fn bearer(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        let auth = format!("Bearer {token}");
        self.send(method, path, body, &[("authorization", &auth)])
            .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends a request with optional JSON body and extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.expect("request reaches the server")).await
    }

    /// Sends a raw body with the given content type (for malformed-input tests).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.expect("request reaches the server")).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    /// A staff request as the owner the app started with.
    pub async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> TestResponse {
        let token = self.owner_token().await;
        self.bearer(method, path, &token, body).await
    }

    /// A shopper request on a cart, carrying its token.
    pub async fn cart_call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        self.send(method, path, body, &[("cart-token", token)])
            .await
    }

    // ---- typed helpers -------------------------------------------------------------------

    /// Creates a category and returns its id.
    pub async fn create_category(&self, handle: &str, name: &str) -> String {
        let res = self
            .admin(
                Method::POST,
                "/v1/admin/categories",
                Some(&json!({"handle": handle, "name": name})),
            )
            .await;
        res.assert_status(201)["id"]
            .as_str()
            .expect("category id")
            .to_owned()
    }

    /// Creates an active product with one variant per (sku, prices) and returns the product.
    pub async fn create_product(
        &self,
        handle: &str,
        title: &str,
        variants: &[VariantSpec<'_>],
    ) -> Value {
        let variants: Vec<Value> = variants
            .iter()
            .map(|(sku, prices, weight)| {
                json!({
                    "sku": sku,
                    "title": format!("{title} {sku}"),
                    "options": [{"name": "size", "value": sku}],
                    "weight_grams": weight,
                    "prices": prices.iter().map(|(amount, currency)| {
                        json!({"amount_minor": amount, "currency": currency})
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        let res = self
            .admin(
                Method::POST,
                "/v1/admin/products",
                Some(&json!({
                    "handle": handle,
                    "title": title,
                    "description": format!("{title}, for tests."),
                    "variants": variants,
                })),
            )
            .await;
        res.assert_status(201).clone()
    }

    /// Creates a cart in `currency`; returns (cart id, cart token).
    pub async fn create_cart(&self, currency: &str) -> (String, String) {
        let res = self.post("/v1/carts", &json!({"currency": currency})).await;
        let body = res.assert_status(201);
        (
            body["id"].as_str().expect("cart id").to_owned(),
            body["token"].as_str().expect("cart token").to_owned(),
        )
    }

    pub async fn add_line(
        &self,
        cart: &str,
        token: &str,
        sku: &str,
        quantity: i64,
    ) -> TestResponse {
        self.cart_call(
            Method::POST,
            &format!("/v1/carts/{cart}/lines"),
            token,
            Some(&json!({"sku": sku, "quantity": quantity})),
        )
        .await
    }
}

/// A built and running application, before it becomes a [`TestApp`].
struct Started {
    base_url: String,
    districts: Districts,
    route_table: kassa_api::RouteTable,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Builds the application over the settings' databases and runs it until the returned sender
/// fires (or is dropped).
async fn start(settings: &Settings, clock: &ManualClock, hooks: Hooks) -> Started {
    let app = Application::build_with(settings, Arc::new(clock.clone()), hooks)
        .await
        .expect("build the application");
    let address = app.local_addr().expect("bound address");
    let districts = app.districts().clone();
    let route_table = app.route_table().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    Started {
        base_url: format!("http://{address}"),
        districts,
        route_table,
        shutdown: tx,
        server,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn email(address: &str) -> Email {
    Email::parse(address).expect("a valid email")
}

fn staff_password() -> Password {
    Password::parse(STAFF_PASSWORD.to_owned()).expect("an acceptable password")
}

/// Signs a staff member in through the service, from [`SETUP_CLIENT`].
async fn setup_sign_in(identity: &dyn IdentityService, address: &str) -> TokenPair {
    let client = ClientInfo {
        addr: IpAddr::from(SETUP_CLIENT),
    };
    let (_, pair) = identity
        .sign_in_staff(&email(address), STAFF_PASSWORD, &client)
        .await
        .expect("sign a staff member in");
    pair
}

async fn read(response: reqwest::Response) -> TestResponse {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("read the body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    TestResponse {
        status,
        headers,
        body,
    }
}

// ---- more typed helpers ------------------------------------------------------------------

/// The instant the test clock starts at, as the API writes timestamps (RFC 3339, UTC, ms).
pub const CLOCK_START_RFC3339: &str = "2026-11-18T11:06:40.000Z";

/// `{"amount_minor": …, "currency": …}`, the API's money shape.
pub fn money(amount_minor: i64, currency: &str) -> Value {
    json!({"amount_minor": amount_minor, "currency": currency})
}

/// A variant body as `POST /v1/admin/products` and `…/variants` take it.
pub fn variant_body(sku: &str, prices: &[(i64, &str)], weight_grams: u32) -> Value {
    json!({
        "sku": sku,
        "title": format!("Variant {sku}"),
        "options": [{"name": "size", "value": "M"}],
        "weight_grams": weight_grams,
        "prices": prices.iter().map(|(amount, currency)| money(*amount, currency)).collect::<Vec<_>>(),
    })
}

/// A valid shipping address in `country`.
pub fn address(country: &str) -> Value {
    json!({
        "name": "Ada Lovelace",
        "line1": "Unter den Linden 1",
        "city": "Berlin",
        "postal_code": "10117",
        "country": country,
    })
}

/// The four totals of a cart body, in minor units: [subtotal, shipping, tax, total].
#[track_caller]
pub fn totals_minor(cart: &Value) -> [i64; 4] {
    let totals = &cart["totals"];
    ["subtotal", "shipping", "tax", "total"].map(|name| {
        totals[name]["amount_minor"]
            .as_i64()
            .unwrap_or_else(|| panic!("totals.{name} is not money: {cart:#}"))
    })
}

/// The line of `sku` in a cart body.
#[track_caller]
pub fn line_of<'a>(cart: &'a Value, sku: &str) -> &'a Value {
    cart["lines"]
        .as_array()
        .and_then(|lines| lines.iter().find(|line| line["sku"] == sku))
        .unwrap_or_else(|| panic!("no line for {sku}: {cart:#}"))
}

/// The variant with `sku` in a product body.
#[track_caller]
pub fn variant_of<'a>(product: &'a Value, sku: &str) -> &'a Value {
    product["variants"]
        .as_array()
        .and_then(|variants| variants.iter().find(|v| v["sku"] == sku))
        .unwrap_or_else(|| panic!("no variant {sku}: {product:#}"))
}

/// The `id` member of a body, as a string.
#[track_caller]
pub fn id_of(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {body:#}"))
        .to_owned()
}

/// The items of a list body (`{"items": [...], "next_cursor": …}`).
#[track_caller]
pub fn items_of(body: &Value) -> &Vec<Value> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {body:#}"))
}

/// `items` ordered by their string member `key`, for lists whose order the contract leaves open.
pub fn sorted(mut items: Vec<Value>, key: &str) -> Vec<Value> {
    items.sort_by(|a, b| a[key].as_str().cmp(&b[key].as_str()));
    items
}

/// The items of a list body, ordered by their string member `key`.
#[track_caller]
pub fn sorted_items(body: &Value, key: &str) -> Vec<Value> {
    sorted(items_of(body).clone(), key)
}

/// A route template with its parameters filled by well-formed values that name nothing, so a
/// request reaches the handler (and its checks) rather than failing to parse.
pub fn fill_path(template: &str) -> String {
    use kassa_kernel::ids::{
        CartId, CartLineId, CategoryId, OrderId, ProductId, ShippingOptionId, StaffId, VariantId,
    };
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                None => segment.to_owned(),
                Some("product" | "product_id") => ProductId::new().to_string(),
                Some("variant_id") => VariantId::new().to_string(),
                Some("category" | "category_id") => CategoryId::new().to_string(),
                Some("cart_id") => CartId::new().to_string(),
                Some("line_id") => CartLineId::new().to_string(),
                Some("shipping_option_id") => ShippingOptionId::new().to_string(),
                Some("staff_id") => StaffId::new().to_string(),
                Some("order_id") => OrderId::new().to_string(),
                Some("sku") => "FILL-SKU".to_owned(),
                Some("currency") => "EUR".to_owned(),
                Some("country") => "DE".to_owned(),
                Some("slug") => "validation-failed".to_owned(),
                Some(_) => "dummy".to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

impl TestResponse {
    /// The JSON pointers of a validation problem's `errors`.
    pub fn pointers(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["pointer"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts a 422 problem whose `errors` point at `pointer` (each with a message), with one
    /// of `codes`: for refusals the contract gives a status and a pointer but not one code.
    #[track_caller]
    pub fn assert_invalid_field(&self, pointer: &str, codes: &[&str]) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            422,
            "unexpected status: {:#}",
            self.body
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "not a problem document: {:#}",
            self.body
        );
        let code = self.body["code"].as_str().unwrap_or_default();
        assert!(
            codes.contains(&code),
            "code {code:?} is not one of {codes:?}: {:#}",
            self.body
        );
        assert!(
            self.pointers().iter().any(|p| p == pointer),
            "no error points at {pointer}: {:#}",
            self.body
        );
        let messages_present = self.body["errors"].as_array().is_some_and(|errors| {
            errors
                .iter()
                .all(|e| e["message"].as_str().is_some_and(|m| !m.is_empty()))
        });
        assert!(messages_present, "an error has no message: {:#}", self.body);
        &self.body
    }
}

impl TestApp {
    pub async fn put(&self, path: &str, body: &Value) -> TestResponse {
        self.send(Method::PUT, path, Some(body), &[]).await
    }

    /// Creates a product from a full request body; returns the 201 body.
    pub async fn create_product_from(&self, body: &Value) -> Value {
        self.admin(Method::POST, "/v1/admin/products", Some(body))
            .await
            .assert_status(201)
            .clone()
    }

    /// Creates a product whose variants are given as bodies (see [`variant_body`]).
    pub async fn create_product_with(
        &self,
        handle: &str,
        title: &str,
        variants: Vec<Value>,
    ) -> Value {
        self.create_product_from(&json!({
            "handle": handle,
            "title": title,
            "variants": variants,
        }))
        .await
    }

    /// A staff read of a product (archived ones included).
    pub async fn admin_product(&self, product_id: &str) -> Value {
        self.admin(
            Method::GET,
            &format!("/v1/admin/products/{product_id}"),
            None,
        )
        .await
        .assert_status(200)
        .clone()
    }

    pub async fn archive_product(&self, product_id: &str) -> TestResponse {
        self.admin(
            Method::POST,
            &format!("/v1/admin/products/{product_id}/archive"),
            None,
        )
        .await
    }

    pub async fn archive_variant(&self, variant_id: &str) -> TestResponse {
        self.admin(
            Method::POST,
            &format!("/v1/admin/variants/{variant_id}/archive"),
            None,
        )
        .await
    }

    pub async fn set_price(
        &self,
        variant_id: &str,
        currency: &str,
        amount_minor: i64,
    ) -> TestResponse {
        self.admin(
            Method::PUT,
            &format!("/v1/admin/variants/{variant_id}/prices/{currency}"),
            Some(&json!({"amount_minor": amount_minor})),
        )
        .await
    }

    pub async fn remove_price(&self, variant_id: &str, currency: &str) -> TestResponse {
        self.admin(
            Method::DELETE,
            &format!("/v1/admin/variants/{variant_id}/prices/{currency}"),
            None,
        )
        .await
    }

    /// Every product of a staff listing (archived included), following the cursor.
    pub async fn all_products_admin(&self) -> Vec<Value> {
        let mut products = Vec::new();
        let mut path = "/v1/admin/products?limit=100".to_owned();
        for _ in 0..100 {
            let page = self.admin(Method::GET, &path, None).await;
            let body = page.assert_status(200);
            products.extend(items_of(body).iter().cloned());
            match body["next_cursor"].as_str() {
                Some(cursor) => path = format!("/v1/admin/products?limit=100&cursor={cursor}"),
                None => return products,
            }
        }
        panic!("more than 100 pages of products");
    }

    /// `GET /v1/carts/{cart}` with its token.
    pub async fn cart(&self, cart: &str, token: &str) -> TestResponse {
        self.cart_call(Method::GET, &format!("/v1/carts/{cart}"), token, None)
            .await
    }

    /// The cart's body; asserts 200.
    pub async fn cart_body(&self, cart: &str, token: &str) -> Value {
        self.cart(cart, token).await.assert_status(200).clone()
    }

    pub async fn patch_line(
        &self,
        cart: &str,
        token: &str,
        line: &str,
        quantity: i64,
    ) -> TestResponse {
        self.cart_call(
            Method::PATCH,
            &format!("/v1/carts/{cart}/lines/{line}"),
            token,
            Some(&json!({"quantity": quantity})),
        )
        .await
    }

    pub async fn set_email(&self, cart: &str, token: &str, email: &str) -> TestResponse {
        self.cart_call(
            Method::PUT,
            &format!("/v1/carts/{cart}/email"),
            token,
            Some(&json!({"email": email})),
        )
        .await
    }

    /// Sets the cart's shipping address from a body (see [`address`]).
    pub async fn set_address_to(&self, cart: &str, token: &str, address: &Value) -> TestResponse {
        self.cart_call(
            Method::PUT,
            &format!("/v1/carts/{cart}/shipping-address"),
            token,
            Some(address),
        )
        .await
    }

    /// Sets a valid shipping address in `country`; asserts 200 and returns the cart.
    pub async fn set_address(&self, cart: &str, token: &str, country: &str) -> Value {
        self.set_address_to(cart, token, &address(country))
            .await
            .assert_status(200)
            .clone()
    }

    pub async fn shipping_quotes(&self, cart: &str, token: &str) -> TestResponse {
        self.cart_call(
            Method::GET,
            &format!("/v1/carts/{cart}/shipping-options"),
            token,
            None,
        )
        .await
    }

    pub async fn choose_shipping_option(
        &self,
        cart: &str,
        token: &str,
        option: &str,
    ) -> TestResponse {
        self.cart_call(
            Method::PUT,
            &format!("/v1/carts/{cart}/shipping-option"),
            token,
            Some(&json!({"shipping_option_id": option})),
        )
        .await
    }

    /// Creates a flat-rate shipping option; returns its id.
    pub async fn create_flat_shipping_option(
        &self,
        name: &str,
        countries: &[&str],
        currency: &str,
        amount_minor: i64,
    ) -> String {
        let res = self
            .admin(
                Method::POST,
                "/v1/admin/shipping-options",
                Some(&json!({
                    "name": name,
                    "countries": countries,
                    "currency": currency,
                    "flat_amount_minor": amount_minor,
                })),
            )
            .await;
        id_of(res.assert_status(201))
    }

    /// Creates a weight-tiered shipping option from (max grams, minor units); returns its id.
    pub async fn create_tiered_shipping_option(
        &self,
        name: &str,
        countries: &[&str],
        currency: &str,
        tiers: &[(u32, i64)],
    ) -> String {
        let tiers: Vec<Value> = tiers
            .iter()
            .map(|(grams, amount)| json!({"max_weight_grams": grams, "amount_minor": amount}))
            .collect();
        let res = self
            .admin(
                Method::POST,
                "/v1/admin/shipping-options",
                Some(&json!({
                    "name": name,
                    "countries": countries,
                    "currency": currency,
                    "weight_tiers": tiers,
                })),
            )
            .await;
        id_of(res.assert_status(201))
    }

    /// Sets a country's tax rate (percent as a string, e.g. "19"); asserts 200.
    pub async fn set_tax_rate(&self, country: &str, rate: &str) -> Value {
        self.admin(
            Method::PUT,
            &format!("/v1/admin/tax-rates/{country}"),
            Some(&json!({"rate": rate})),
        )
        .await
        .assert_status(200)
        .clone()
    }

    /// Rows in the cart district's `carts` table: the only way to see that a refused cart
    /// creation created nothing, since no route lists carts.
    pub async fn count_carts(&self) -> i64 {
        let mut sql = kassa_db::Sql::new("SELECT COUNT(*) AS n FROM carts");
        let row = sql
            .build()
            .expect("build the count query")
            .fetch_one(self.districts.cart_db.reader())
            .await
            .expect("count carts");
        kassa_db::row::int(&row, "n").expect("read the count")
    }
}

// ---- stock and checkout ------------------------------------------------------------------

impl TestApp {
    /// `PUT /v1/admin/inventory/{sku}` at the default location, as the owner; asserts 200.
    pub async fn set_stock(&self, sku: &str, on_hand: u32) -> Value {
        self.admin(
            Method::PUT,
            &format!("/v1/admin/inventory/{sku}"),
            Some(&json!({"on_hand": on_hand})),
        )
        .await
        .assert_status(200)
        .clone()
    }

    /// (on hand, reserved) of a SKU over every location, from `GET /v1/admin/inventory/{sku}`.
    pub async fn stock(&self, sku: &str) -> (u64, u64) {
        let res = self
            .admin(Method::GET, &format!("/v1/admin/inventory/{sku}"), None)
            .await;
        let body = res.assert_status(200);
        let count = |name: &str| {
            body[name]
                .as_u64()
                .unwrap_or_else(|| panic!("no {name} in {body:#}"))
        };
        (count("on_hand"), count("reserved"))
    }
}
