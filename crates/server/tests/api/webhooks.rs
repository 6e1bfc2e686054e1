//! Outbound webhooks through the real application: staff register an endpoint pointing at a
//! receiver in the test, a real checkout reaches it as a signed `order.placed` that the test
//! verifies the way docs/API.md tells receivers to (written here, not borrowed from
//! kassa-webhooks), a dead delivery is replayed over HTTP, and the routes refuse what they
//! should.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use kassa_identity::Role;
use kassa_kernel::Clock;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::checkout_helpers::{checkout, confirmed_order, open_shop, ready_cart, PM_SUCCESS};
use crate::helpers::{items_of, TestApp};

/// What the receiver got: headers and the raw body bytes.
type Received = (HeaderMap, Vec<u8>);

/// An HTTP server on 127.0.0.1 that records every request and answers `status`.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start(status: u16) -> Receiver {
        let state = ReceiverState {
            received: Arc::default(),
            status: Arc::new(AtomicU16::new(status)),
        };
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/kassa-events"),
            received: state.received,
            status: state.status,
        }
    }

    fn requests(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits (up to 10 s) until `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let requests = self.requests();
            if requests.len() >= n || tokio::time::Instant::now() > deadline {
                assert!(
                    requests.len() >= n,
                    "{} of {n} requests arrived",
                    requests.len()
                );
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state
        .received
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((headers, body.to_vec()));
    StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The receiver's check, as docs/API.md ("Verifying a delivery") describes it: take `t` and
/// every `v1` from `Kassa-Signature`, compute hex(HMAC-SHA256(secret, "<t>.<raw body>")),
/// accept when some `v1` equals it (compared in constant time) and `t` is within 5 minutes of
/// the receiver's clock (`now_secs`).
fn verify(signature_header: &str, raw_body: &[u8], secret: &str, now_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in signature_header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value.to_owned()),
            Some(("v1", value)) => signatures.push(value.to_owned()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    let Ok(t) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now_secs - t).abs() > 300 {
        return false;
    }
    signatures.iter().any(|candidate| {
        let bytes: Option<Vec<u8>> = (0..candidate.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(candidate.get(i..i + 2)?, 16).ok())
            .collect();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(raw_body);
        // `verify_slice` compares in constant time.
        bytes.is_some_and(|b| mac.verify_slice(&b).is_ok())
    })
}

async fn spawn(max_attempts: u32) -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.workers.relay_interval_ms = 20;
        settings.webhooks.deliver_interval_ms = 20;
        settings.webhooks.allow_private_targets = true;
        settings.webhooks.max_attempts = max_attempts;
        settings.webhooks.timeout_ms = 2_000;
    })
    .await
}

async fn register(app: &TestApp, url: &str, event_types: Value) -> Value {
    let body = json!({"url": url, "event_types": event_types, "description": "ERP"});
    let res = app
        .admin(Method::POST, "/v1/admin/webhooks", Some(&body))
        .await;
    assert_eq!(res.header("cache-control"), Some("no-store"));
    res.assert_status(201).clone()
}

/// The endpoint's deliveries once every one of them has left `pending`/`retrying` as wanted.
async fn deliveries_when(app: &TestApp, webhook_id: &str, status: &str) -> Vec<Value> {
    let path = format!("/v1/admin/webhooks/{webhook_id}/deliveries");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.admin(Method::GET, &path, None).await;
        let items = items_of(res.assert_status(200)).clone();
        let done = !items.is_empty() && items.iter().all(|d| d["status"] == status);
        if done || tokio::time::Instant::now() > deadline {
            assert!(done, "deliveries never all {status}: {items:#?}");
            return items;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_checkout_reaches_a_registered_endpoint_as_an_order_placed_it_can_verify() {
    // Arrange
    let app = spawn(10).await;
    let receiver = Receiver::start(200).await;
    let created = register(&app, &receiver.url, json!(["order.placed"])).await;
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    let webhook_id = created["webhook"]["id"].as_str().expect("an id").to_owned();
    let shop = open_shop(&app, &[("HOOK-TEE", 2500, 5)]).await;
    let cart = ready_cart(&app, &shop, &[("HOOK-TEE", 1)]).await;

    // Act
    let order = confirmed_order(&checkout(&app, &cart, PM_SUCCESS).await);

    // Assert: the receiver got exactly the order's `order.placed`, signed.
    let requests = receiver.wait_for(1).await;
    let (headers, raw_body) = &requests[0];
    let now_secs = app.clock.now().millis() / 1_000;
    assert!(
        verify(
            header(headers, "kassa-signature"),
            raw_body,
            &secret,
            now_secs
        ),
        "signature {:?} does not verify",
        header(headers, "kassa-signature")
    );
    assert!(
        !verify(header(headers, "kassa-signature"), b"{}", &secret, now_secs),
        "a different body must not verify"
    );
    assert!(!verify(
        header(headers, "kassa-signature"),
        raw_body,
        "whsec_wrong",
        now_secs
    ));
    let body: Value = serde_json::from_slice(raw_body).expect("a JSON body");
    assert_eq!(body["type"], "order.placed");
    assert_eq!(body["source"], "orders");
    assert_eq!(body["data"]["order_id"], order["id"]);
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("evt_")));
    assert!(body["occurred_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(header(headers, "kassa-event-type"), "order.placed");
    assert_eq!(header(headers, "kassa-event-id"), body["id"]);
    assert_eq!(header(headers, "content-type"), "application/json");
    assert!(header(headers, "user-agent").starts_with("kassa-webhooks/"));

    // The delivery is listed as succeeded, with its attempt.
    let deliveries = deliveries_when(&app, &webhook_id, "succeeded").await;
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    assert_eq!(header(headers, "kassa-delivery-id"), deliveries[0]["id"]);
    assert_eq!(
        deliveries[0]["body"].as_str().map(str::as_bytes),
        Some(raw_body.as_slice())
    );
    let path = format!(
        "/v1/admin/webhook-deliveries/{}",
        deliveries[0]["id"].as_str().unwrap_or_default()
    );
    let detail = app.admin(Method::GET, &path, None).await;
    let detail = detail.assert_status(200);
    assert_eq!(detail["attempts"][0]["number"], 1);
    assert_eq!(detail["attempts"][0]["status_code"], 200);
    // Nothing else was sent: the endpoint only takes order.placed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn a_dead_delivery_is_replayed_through_the_api_and_then_succeeds() {
    // Arrange: one attempt per schedule, a receiver that fails until told otherwise.
    let app = spawn(1).await;
    let receiver = Receiver::start(503).await;
    let created = register(&app, &receiver.url, json!(["catalog.*"])).await;
    let webhook_id = created["webhook"]["id"].as_str().expect("an id").to_owned();
    app.create_category("hooks", "Hooks").await;
    let dead = deliveries_when(&app, &webhook_id, "dead").await;
    let delivery_id = dead[0]["id"].as_str().expect("an id").to_owned();
    receiver.status.store(200, Ordering::SeqCst);

    // Act
    let replay = format!("/v1/admin/webhook-deliveries/{delivery_id}/replay");
    let res = app.admin(Method::POST, &replay, None).await;

    // Assert
    let replayed = res.assert_status(202);
    assert_eq!(replayed["status"], "pending");
    let done = deliveries_when(&app, &webhook_id, "succeeded").await;
    assert_eq!(done[0]["attempt_count"], 2);
    assert_eq!(receiver.requests().len(), 2);
    let dead_only = format!("/v1/admin/webhooks/{webhook_id}/deliveries?status=dead");
    let res = app.admin(Method::GET, &dead_only, None).await;
    assert!(items_of(res.assert_status(200)).is_empty());
}

#[tokio::test]
async fn webhook_routes_refuse_strangers_other_roles_and_invalid_registrations() {
    // Arrange: private targets not allowed (the default).
    let app = TestApp::spawn().await;
    let good = json!({"url": "https://erp.example/hooks", "event_types": ["order.*"]});

    // Act & Assert: nobody and a manager.
    app.post("/v1/admin/webhooks", &good)
        .await
        .assert_problem(401, "unauthorized");
    let manager = app.staff_token(Role::Manager).await;
    app.bearer(Method::GET, "/v1/admin/webhooks", &manager, None)
        .await
        .assert_problem(403, "forbidden");
    app.bearer(Method::POST, "/v1/admin/webhooks", &manager, Some(&good))
        .await
        .assert_problem(403, "forbidden");

    // Invalid registrations, each 422 with what is wrong.
    let private = json!({"url": "http://10.0.0.5/hooks", "event_types": ["*"]});
    let res = app
        .admin(Method::POST, "/v1/admin/webhooks", Some(&private))
        .await;
    res.assert_problem(422, "webhook_target_not_allowed");
    assert_eq!(res.pointers(), ["/url"]);
    let bad = json!({"url": "https://user:pw@erp.example/", "event_types": ["order.placed", "order.shipped"]});
    let res = app
        .admin(Method::POST, "/v1/admin/webhooks", Some(&bad))
        .await;
    res.assert_problem(422, "invalid_webhook_endpoint");
    assert_eq!(res.pointers(), ["/url", "/event_types/1"]);
    let unknown_field = json!({"url": "https://erp.example/", "event_types": ["*"], "secret": "x"});
    app.admin(Method::POST, "/v1/admin/webhooks", Some(&unknown_field))
        .await
        .assert_problem(422, "validation_failed");
    let list = app.admin(Method::GET, "/v1/admin/webhooks", None).await;
    assert!(
        items_of(list.assert_status(200)).is_empty(),
        "nothing was registered"
    );

    // A valid one, then a rotation too long and a change to a private address.
    let created = app
        .admin(Method::POST, "/v1/admin/webhooks", Some(&good))
        .await;
    let id = created.assert_status(201)["webhook"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let rotate = format!("/v1/admin/webhooks/{id}/rotate-secret");
    let week_and_a_second = json!({"previous_secret_expires_in_secs": 604_801});
    app.admin(Method::POST, &rotate, Some(&week_and_a_second))
        .await
        .assert_problem(422, "invalid_secret_rotation");
    let rotated = app.admin(Method::POST, &rotate, Some(&json!({}))).await;
    let rotated = rotated.assert_status(200);
    assert!(rotated["secret"]
        .as_str()
        .is_some_and(|s| s.starts_with("whsec_")));
    assert!(rotated["webhook"]["previous_secret_expires_at"].is_string());
    let path = format!("/v1/admin/webhooks/{id}");
    app.admin(
        Method::PATCH,
        &path,
        Some(&json!({"url": "http://127.0.0.1:9/"})),
    )
    .await
    .assert_problem(422, "webhook_target_not_allowed");
    let shown = app.admin(Method::GET, &path, None).await;
    assert_eq!(shown.assert_status(200)["url"], "https://erp.example/hooks");
    assert!(shown.body.get("secret").is_none());
    app.admin(Method::DELETE, &path, None)
        .await
        .assert_status(204);
    app.admin(Method::GET, &path, None)
        .await
        .assert_problem(404, "webhook_not_found");
}
