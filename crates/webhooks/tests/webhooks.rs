//! Webhooks service tests, each on a fresh database (SQLite always, PostgreSQL when
//! TEST_DATABASE_URL is set) with receivers listening on 127.0.0.1 in the test: signatures and
//! rotation in `signing`, fan-out in `fan_out`, the retry schedule, replay and concurrent
//! dispatchers in `schedule`, limits, timeouts and refused targets in `limits`, endpoint
//! management in `endpoints` — one test binary.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "webhooks/endpoints.rs"]
mod endpoints;
#[path = "webhooks/fan_out.rs"]
mod fan_out;
#[path = "webhooks/limits.rs"]
mod limits;
#[path = "webhooks/schedule.rs"]
mod schedule;
#[path = "webhooks/signing.rs"]
mod signing;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kassa_events::{Consumer, Event, EventId};
use kassa_kernel::{ManualClock, Timestamp};
use kassa_testkit::TestDb;
use kassa_webhooks::store::WebhookStore;
use kassa_webhooks::*;
use serde_json::json;

pub const START_MS: i64 = 1_795_000_000_000;

/// The service, the consumer feeding it, the clock both see, and the test database.
pub struct Fixture {
    pub webhooks: Arc<Webhooks>,
    pub consumer: WebhookConsumer,
    pub store: WebhookStore,
    pub clock: ManualClock,
    pub config: WebhooksConfig,
    _test: TestDb,
}

/// Receivers run on 127.0.0.1, so most tests allow private targets; a 2 s timeout keeps a
/// failing test from waiting long.
pub fn local_config() -> WebhooksConfig {
    WebhooksConfig {
        allow_private_targets: true,
        timeout: Duration::from_secs(2),
        ..WebhooksConfig::default()
    }
}

pub async fn fixture() -> Fixture {
    fixture_with(local_config()).await
}

pub async fn fixture_with(config: WebhooksConfig) -> Fixture {
    let test = TestDb::new().await;
    let store = WebhookStore::new(test.district("webhooks").await);
    store.migrate().await.unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    let webhooks = Webhooks::new(store.clone(), Arc::new(clock.clone()), config.clone()).unwrap();
    Fixture {
        consumer: webhooks.consumer(),
        webhooks: Arc::new(webhooks),
        store,
        clock,
        config,
        _test: test,
    }
}

impl Fixture {
    pub fn now(&self) -> Timestamp {
        kassa_kernel::Clock::now(&self.clock)
    }

    /// Registers `url` for `event_types`, expecting success.
    pub async fn register(&self, url: &str, event_types: &[&str]) -> EndpointWithSecret {
        let types: Vec<String> = event_types.iter().map(|t| (*t).to_owned()).collect();
        let input = NewEndpoint::parse(url, &types, None).unwrap();
        self.webhooks.create_endpoint(input).await.unwrap()
    }

    /// Hands `event` to the consumer as the bus would, recorded by `source`.
    pub async fn publish(&self, source: &str, event: &Event) {
        self.consumer.handle(source, event).await.unwrap();
    }

    /// One `deliver_due` at the clock's time.
    pub async fn deliver(&self) -> DeliverReport {
        self.webhooks.deliver_due(self.now(), 100).await.unwrap()
    }

    /// The endpoint's deliveries, newest first.
    pub async fn deliveries_of(&self, endpoint: WebhookId) -> Vec<Delivery> {
        let filter = DeliveryFilter {
            status: None,
            after: None,
            limit: 100,
        };
        self.webhooks.deliveries(endpoint, filter).await.unwrap()
    }

    /// The endpoint's only delivery, with its attempts.
    pub async fn only_delivery(&self, endpoint: WebhookId) -> DeliveryDetail {
        let deliveries = self.deliveries_of(endpoint).await;
        assert_eq!(deliveries.len(), 1, "{deliveries:?}");
        self.webhooks.delivery(deliveries[0].id).await.unwrap()
    }
}

/// An event of `event_type` about `ord_<n>`, happened at the start time plus `n` ms.
pub fn event(event_type: &str, n: i64) -> Event {
    Event {
        id: EventId::new(),
        event_type: event_type.to_owned(),
        version: 1,
        aggregate_id: format!("ord_{n}"),
        occurred_at: Timestamp::from_millis(START_MS + n),
        data: json!({"n": n, "note": "ünïcode"}),
        published_at: None,
    }
}

/// How a [`Receiver`] answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with a body of this many bytes (`x`).
    Body(u16, usize),
    /// Never answers.
    Hang,
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct ReceiverState {
    requests: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    then: Mutex<Option<Reply>>,
}

/// An HTTP server on 127.0.0.1 that records every request and answers from a script, then
/// with a fixed reply.
pub struct Receiver {
    pub url: String,
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    /// Answers `200` to everything.
    pub async fn ok() -> Receiver {
        Receiver::start(Vec::new(), Reply::Status(200)).await
    }

    pub async fn start(script: Vec<Reply>, then: Reply) -> Receiver {
        let state = Arc::new(ReceiverState {
            requests: Mutex::default(),
            script: Mutex::new(script.into()),
            then: Mutex::new(Some(then)),
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hooks"),
            addr,
            state,
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.requests.lock().unwrap().push(Received {
        headers,
        body: body.to_vec(),
    });
    let reply = {
        let next = state.script.lock().unwrap().pop_front();
        next.or_else(|| state.then.lock().unwrap().clone())
    };
    match reply.unwrap_or(Reply::Status(200)) {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Reply::Body(code, len) => {
            (StatusCode::from_u16(code).unwrap(), vec![b'x'; len]).into_response()
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            StatusCode::OK.into_response()
        }
    }
}

/// A TCP listener on 127.0.0.1 that only counts the connections it accepts.
pub struct CountingListener {
    pub port: u16,
    accepted: Arc<AtomicUsize>,
}

impl CountingListener {
    pub async fn start() -> CountingListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        CountingListener { port, accepted }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}
