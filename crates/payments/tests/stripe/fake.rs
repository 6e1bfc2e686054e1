//! A fake Stripe on 127.0.0.1 for the connector's contract tests. By default it behaves like
//! Stripe where the connector depends on it: PaymentIntents with manual capture, partial
//! capture, cancel, several partial refunds, the test payment methods of payments-facts §5, and
//! idempotency (a repeated `Idempotency-Key` replays the first answer). Every answer is built
//! from Stripe's own example objects (`fixtures-subset.json`). Tests script the next answers
//! ([`Script`]) to time out, fail with a 5xx, rate limit, or say anything else, and read back
//! every request it received.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::openapi::{decode_form, load_reference};

/// Payment methods the fake knows (Stripe's test ids).
pub const PM_VISA: &str = "pm_card_visa";
pub const PM_INSUFFICIENT_FUNDS: &str = "pm_card_visa_chargeDeclinedInsufficientFunds";
pub const PM_DECLINED: &str = "pm_card_visa_chargeDeclined";
pub const PM_3DS: &str = "pm_card_authenticationRequired";

/// A request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn form(&self) -> Value {
        decode_form(&self.body).unwrap()
    }
}

/// What the fake answers the next request with, instead of its default behaviour.
#[derive(Debug, Clone)]
pub enum Script {
    /// Answer this, without performing anything.
    Reply {
        status: u16,
        body: Value,
        headers: Vec<(&'static str, String)>,
    },
    /// Perform the request as usual, then hold the answer back for this long (the client has
    /// given up by then): the "performed, but no answer" case.
    PerformThenHang(Duration),
}

impl Script {
    pub fn status(status: u16, error_type: &str, message: &str) -> Script {
        Script::Reply {
            status,
            body: json!({"error": {"type": error_type, "message": message}}),
            headers: Vec::new(),
        }
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    scripts: VecDeque<Script>,
    intents: HashMap<String, Value>,
    refunds: Vec<Value>,
    /// Idempotency-Key → (status, body) of the first answer.
    replies: HashMap<String, (u16, Value)>,
    next_id: u64,
}

#[derive(Clone)]
pub struct FakeStripe {
    pub base_url: String,
    state: Arc<Mutex<State>>,
    fixtures: Arc<Value>,
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeStripe {
            base_url,
            state: Arc::new(Mutex::new(State::default())),
            fixtures: Arc::new(load_reference("fixtures-subset.json")["resources"].clone()),
        };
        let handler_fake = fake.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let fake = handler_fake.clone();
                async move { fake.handle(method, uri, headers, body).await }
            },
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        fake
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn script(&self, script: Script) {
        self.state().scripts.push_back(script);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state().received.clone()
    }

    pub fn request_count(&self) -> usize {
        self.state().received.len()
    }

    pub fn intent(&self, id: &str) -> Value {
        self.state().intents[id].clone()
    }

    pub fn intent_count(&self) -> usize {
        self.state().intents.len()
    }

    /// Changes an intent behind kassa's back, as the dashboard (or Stripe itself) would.
    pub fn edit_intent(&self, id: &str, edit: impl FnOnce(&mut Value)) {
        let mut state = self.state();
        edit(state.intents.get_mut(id).unwrap());
    }

    /// Every answer body the fake's default behaviour produced, for checking against the spec.
    pub fn all_objects(&self) -> Vec<Value> {
        let state = self.state();
        state
            .intents
            .values()
            .chain(state.refunds.iter())
            .cloned()
            .collect()
    }

    /// The shopper finished (or failed) 3-D Secure for a `requires_action` intent.
    pub fn complete_3ds(&self, id: &str, success: bool) {
        let mut state = self.state();
        let intent = state.intents.get_mut(id).unwrap();
        assert_eq!(intent["status"], "requires_action");
        intent["next_action"] = Value::Null;
        if success {
            intent["status"] = json!("requires_capture");
            intent["amount_capturable"] = intent["amount"].clone();
        } else {
            intent["status"] = json!("requires_payment_method");
            intent["last_payment_error"] = json!({
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": "We are unable to authenticate your payment method."
            });
        }
    }

    async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let received = Received {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or("").to_owned(),
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
            at: Instant::now(),
        };
        let script = {
            let mut state = self.state();
            state.received.push(received.clone());
            state.scripts.pop_front()
        };
        match script {
            Some(Script::Reply {
                status,
                body,
                headers,
            }) => {
                let mut response =
                    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
                for (name, value) in headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
            Some(Script::PerformThenHang(delay)) => {
                let answer = self.perform(&received);
                tokio::time::sleep(delay).await;
                reply(answer)
            }
            None => reply(self.perform(&received)),
        }
    }

    /// The default behaviour, with idempotency: the first answer to a key is kept and replayed.
    fn perform(&self, request: &Received) -> (u16, Value) {
        let key = (request.method == "POST")
            .then(|| request.header("idempotency-key").map(str::to_owned))
            .flatten();
        if let Some(key) = &key {
            if let Some(first) = self.state().replies.get(key) {
                return first.clone();
            }
        }
        if request.header("authorization") != Some(&format!("Bearer {}", super::SECRET_KEY)) {
            return error(
                401,
                "invalid_request_error",
                None,
                "Invalid API Key provided: sk_test_****",
            );
        }
        let answer = self.route(request);
        if let Some(key) = key {
            self.state().replies.insert(key, answer.clone());
        }
        answer
    }

    fn route(&self, request: &Received) -> (u16, Value) {
        let form = request.form();
        let parts: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
        match (request.method.as_str(), parts.as_slice()) {
            ("POST", ["v1", "payment_intents"]) => self.create(&form),
            ("GET", ["v1", "payment_intents", id]) => match self.state().intents.get(*id) {
                Some(intent) => (200, intent.clone()),
                None => missing(id),
            },
            ("POST", ["v1", "payment_intents", id, "capture"]) => self.capture(id, &form),
            ("POST", ["v1", "payment_intents", id, "cancel"]) => self.cancel(id),
            ("POST", ["v1", "refunds"]) => self.refund(&form),
            ("GET", ["v1", "refunds"]) => {
                let query = decode_form(&request.query).unwrap();
                let intent = query["payment_intent"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let data: Vec<Value> = self
                    .state()
                    .refunds
                    .iter()
                    .filter(|r| r["payment_intent"] == intent.as_str())
                    .cloned()
                    .collect();
                (
                    200,
                    json!({"object": "list", "data": data, "has_more": false,
                    "url": "/v1/refunds"}),
                )
            }
            _ => error(
                404,
                "invalid_request_error",
                Some("resource_missing"),
                "Unrecognized request URL.",
            ),
        }
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut state = self.state();
        state.next_id += 1;
        format!("{prefix}_Fake{:08}", state.next_id)
    }

    fn create(&self, form: &Value) -> (u16, Value) {
        let id = self.next_id("pi");
        let amount: i64 = form["amount"].as_str().unwrap().parse().unwrap();
        let mut intent = self.fixtures["payment_intent"].clone();
        intent["id"] = json!(id);
        intent["client_secret"] = json!(format!("{id}_secret_fake"));
        intent["amount"] = json!(amount);
        intent["currency"] = form["currency"].clone();
        intent["capture_method"] = form["capture_method"].clone();
        intent["metadata"] = form["metadata"].clone();
        intent["payment_method"] = form["payment_method"].clone();
        intent["canceled_at"] = Value::Null;
        let payment_method = form["payment_method"].as_str().unwrap_or_default();
        let (status, body) = match payment_method {
            PM_VISA => {
                intent["status"] = json!("requires_capture");
                intent["amount_capturable"] = json!(amount);
                (200, intent.clone())
            }
            PM_3DS => {
                intent["status"] = json!("requires_action");
                intent["next_action"] = match form["return_url"].as_str() {
                    Some(return_url) => json!({"type": "redirect_to_url", "redirect_to_url": {
                        "url": format!("https://hooks.stripe.com/3d_secure_2/hosted/{id}"),
                        "return_url": return_url}}),
                    None => {
                        json!({"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}})
                    }
                };
                (200, intent.clone())
            }
            PM_INSUFFICIENT_FUNDS | PM_DECLINED => {
                let decline_code = if payment_method == PM_DECLINED {
                    "generic_decline"
                } else {
                    "insufficient_funds"
                };
                let message = if payment_method == PM_DECLINED {
                    "Your card was declined."
                } else {
                    "Your card has insufficient funds."
                };
                let last_error = json!({"type": "card_error", "code": "card_declined",
                    "decline_code": decline_code, "message": message});
                intent["status"] = json!("requires_payment_method");
                intent["last_payment_error"] = last_error.clone();
                let mut error_body = last_error;
                error_body["payment_intent"] = intent.clone();
                (402, json!({ "error": error_body }))
            }
            _ => {
                return error(
                    400,
                    "invalid_request_error",
                    Some("resource_missing"),
                    "No such PaymentMethod.",
                )
            }
        };
        self.state().intents.insert(id, intent);
        (status, body)
    }

    fn capture(&self, id: &str, form: &Value) -> (u16, Value) {
        let mut state = self.state();
        let Some(intent) = state.intents.get_mut(id) else {
            return missing(id);
        };
        if intent["status"] != "requires_capture" {
            return unexpected_state(intent);
        }
        let capturable = intent["amount_capturable"].as_i64().unwrap();
        let amount = match form["amount_to_capture"].as_str() {
            Some(text) => text.parse::<i64>().unwrap(),
            None => capturable,
        };
        if amount > capturable {
            return error(
                400,
                "invalid_request_error",
                Some("amount_too_large"),
                "amount_to_capture is too large",
            );
        }
        intent["status"] = json!("succeeded");
        intent["amount_received"] = json!(amount);
        intent["amount_capturable"] = json!(0);
        (200, intent.clone())
    }

    fn cancel(&self, id: &str) -> (u16, Value) {
        let mut state = self.state();
        let Some(intent) = state.intents.get_mut(id) else {
            return missing(id);
        };
        let cancelable = [
            "requires_payment_method",
            "requires_capture",
            "requires_confirmation",
            "requires_action",
        ];
        if !cancelable.contains(&intent["status"].as_str().unwrap_or_default()) {
            return unexpected_state(intent);
        }
        intent["status"] = json!("canceled");
        intent["cancellation_reason"] = Value::Null;
        intent["canceled_at"] = json!(1_700_000_000);
        intent["amount_capturable"] = json!(0);
        (200, intent.clone())
    }

    fn refund(&self, form: &Value) -> (u16, Value) {
        let id = self.next_id("re");
        let mut state = self.state();
        let intent_id = form["payment_intent"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let Some(intent) = state.intents.get(&intent_id).cloned() else {
            return missing(&intent_id);
        };
        if intent["status"] != "succeeded" {
            return error(
                400,
                "invalid_request_error",
                Some("charge_not_refundable"),
                "This PaymentIntent has not been captured.",
            );
        }
        let refunded: i64 = state
            .refunds
            .iter()
            .filter(|r| r["payment_intent"] == intent_id.as_str())
            .map(|r| r["amount"].as_i64().unwrap())
            .sum();
        let received = intent["amount_received"].as_i64().unwrap();
        let amount = match form["amount"].as_str() {
            Some(text) => text.parse::<i64>().unwrap(),
            None => received - refunded,
        };
        if refunded + amount > received {
            return error(
                400,
                "invalid_request_error",
                Some("amount_too_large"),
                "Refund amount is greater than unrefunded amount on charge.",
            );
        }
        let mut refund = self.fixtures["refund"].clone();
        refund["id"] = json!(id);
        refund["amount"] = json!(amount);
        refund["currency"] = intent["currency"].clone();
        refund["payment_intent"] = json!(intent_id);
        refund["status"] = json!("succeeded");
        state.refunds.push(refund.clone());
        (200, refund)
    }
}

fn reply((status, body): (u16, Value)) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn error(status: u16, error_type: &str, code: Option<&str>, message: &str) -> (u16, Value) {
    let mut error = json!({"type": error_type, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    (status, json!({ "error": error }))
}

fn missing(id: &str) -> (u16, Value) {
    let mut answer = error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such payment_intent: '{id}'"),
    );
    answer.1["error"]["param"] = json!("intent");
    answer
}

fn unexpected_state(intent: &Value) -> (u16, Value) {
    error(
        400,
        "invalid_request_error",
        Some("payment_intent_unexpected_state"),
        &format!("This PaymentIntent's status is {}.", intent["status"]),
    )
}
