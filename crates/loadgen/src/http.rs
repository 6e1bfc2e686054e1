//! HTTP: one pooled client for the whole run, a shopper-side call that times and classifies
//! every answer, and the staff session used to prepare data and verify results.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::stats::{Progress, Recorder, Step};

/// Attempts of a preparation or verification call before the run gives up: those calls are
/// not measured, so riding out a 503 or a dropped connection beats aborting the run.
const SETUP_ATTEMPTS: u32 = 5;

/// Builds the run's one client. Its pool keeps as many idle keep-alive connections as there are
/// workers (plus one for the staff session), so every worker reuses a warm connection instead
/// of paying a TCP handshake per request, which would measure the handshake, not kassa. The
/// pool is kept per host and port, so with several `--url`s each request still goes to its
/// worker's node, over a connection to that node.
/// HTTP/1.1 only: that is what storefronts and load balancers speak to kassa.
pub fn client(concurrency: u32, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(concurrency as usize + 1)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .user_agent(concat!("kassa-loadgen/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")
}

/// `base` without a trailing slash, so paths can be appended as `/v1/…`.
pub fn base_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        bail!("--url must start with http:// or https://, got '{url}'");
    }
    Ok(trimmed.to_owned())
}

/// What a measured call answered when it was what the step expects.
pub struct Answer {
    pub status: StatusCode,
    /// The JSON body, parsed only when the caller asked for it (parsing every body would make
    /// the load generator, which shares the machine with kassa, do work the shop's clients
    /// would not).
    pub body: Option<Value>,
}

/// A measured request as a worker makes it.
pub struct Call<'a> {
    pub step: Step,
    pub method: Method,
    pub path: &'a str,
    pub body: Option<&'a Value>,
    pub headers: &'a [(&'a str, &'a str)],
    /// Statuses that are a success for this step.
    pub expect: &'a [StatusCode],
    /// Problem codes that are an expected answer rather than an error (a flash sale's
    /// `insufficient_stock`): counted by the caller, not as errors.
    pub expected_problems: &'a [&'a str],
    /// Parse the body of a successful answer.
    pub parse: bool,
}

/// How a measured call went.
pub enum Outcome {
    /// An expected status; the body is parsed when asked for.
    Success(Answer),
    /// A problem whose code was in `expected_problems`.
    ExpectedProblem(String),
    /// Anything else, already counted as an error of the given kind.
    Failed,
}

/// A worker's handle on kassa: the shared client and where it records.
pub struct Shopper<'a> {
    pub client: &'a reqwest::Client,
    pub base: &'a str,
    pub recorder: &'a mut Recorder,
    pub progress: &'a Progress,
}

impl Shopper<'_> {
    /// Sends the call, times it (the body read included: a response is not done until its
    /// last byte is in), records it and classifies the answer.
    pub async fn call(&mut self, call: Call<'_>) -> Outcome {
        let started = Instant::now();
        let mut request = self
            .client
            .request(call.method, format!("{}{}", self.base, call.path));
        for (name, value) in call.headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|bytes| (status, bytes))
            }
            Err(err) => Err(err),
        };
        let (kind, outcome) = match result {
            Err(err) => (Some(transport_kind(&err)), Outcome::Failed),
            Ok((status, bytes)) if call.expect.contains(&status) => {
                if call.parse {
                    match serde_json::from_slice(&bytes) {
                        Ok(body) => (
                            None,
                            Outcome::Success(Answer {
                                status,
                                body: Some(body),
                            }),
                        ),
                        Err(_) => (Some("transport_decode".to_owned()), Outcome::Failed),
                    }
                } else {
                    (None, Outcome::Success(Answer { status, body: None }))
                }
            }
            Ok((status, bytes)) => {
                let kind = problem_kind(status, &bytes);
                if call.expected_problems.contains(&kind.as_str()) {
                    (None, Outcome::ExpectedProblem(kind))
                } else {
                    (Some(kind), Outcome::Failed)
                }
            }
        };
        let ok = kind.is_none();
        self.recorder.record(call.step, started, ok);
        self.progress
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(kind) = kind {
            self.recorder.count_error(&kind);
            self.progress
                .errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        outcome
    }
}

/// How an unexpected answer is counted: its problem+json `code` when it has one (the API's
/// stable error vocabulary), else `http_<status>` for an error status or `unexpected_<status>`
/// for a success status the step did not expect (a 202 where a checkout should confirm).
pub fn problem_kind(status: StatusCode, body: &[u8]) -> String {
    let code = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value.get("code")?.as_str().map(str::to_owned));
    match code {
        Some(code) => code,
        None if status.is_client_error() || status.is_server_error() => {
            format!("http_{}", status.as_u16())
        }
        None => format!("unexpected_{}", status.as_u16()),
    }
}

/// A transport failure's kind, as `transport_<kind>`: what went wrong below HTTP.
pub fn transport_kind(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else if err.is_body() {
        "body"
    } else if err.is_decode() {
        "decode"
    } else if err.is_request() {
        "request"
    } else {
        "other"
    };
    format!("transport_{kind}")
}

/// An unmeasured call made while preparing data or verifying results, retried on 429, 5xx and
/// transport errors (riding out a busy server beats aborting the run). A POST is retried only
/// when its connection could not be made: one that reached kassa may have taken effect, and
/// repeating it could add a cart line twice. Answers the final status and JSON body (`Null`
/// when empty or not JSON); the caller decides whether that status is what it wanted.
pub async fn setup_call(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut request = client.request(method.clone(), format!("{base}{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let repeatable = method != Method::POST;
        let failure = match request.send().await {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(bytes) => {
                        let retryable = status == StatusCode::TOO_MANY_REQUESTS
                            || (status.is_server_error() && repeatable);
                        if !retryable || attempt >= SETUP_ATTEMPTS {
                            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            return Ok((status, value));
                        }
                        format!("{status}")
                    }
                    Err(err) if repeatable && attempt < SETUP_ATTEMPTS => err.to_string(),
                    Err(err) => return Err(err).context(format!("{method} {path}")),
                }
            }
            Err(err) if (repeatable || err.is_connect()) && attempt < SETUP_ATTEMPTS => {
                err.to_string()
            }
            Err(err) => {
                return Err(err).with_context(|| format!("{method} {path}: cannot reach kassa"))
            }
        };
        backoff(attempt, &format!("{method} {path}: {failure}")).await;
    }
}

/// [`setup_call`] that must answer `expect`; returns the body.
pub async fn setup_expect(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    expect: StatusCode,
) -> anyhow::Result<Value> {
    let (status, value) = setup_call(client, base, method.clone(), path, headers, body).await?;
    if status != expect {
        bail!(
            "{method} {path} answered {status}, expected {expect}: {}",
            describe_problem(&value)
        );
    }
    Ok(value)
}

/// A staff session: signs in once, then sends every preparation and verification request with
/// its bearer token, refreshing the session once the 15-minute access token has lapsed (a long
/// run verifies after that).
pub struct Staff {
    client: reqwest::Client,
    base: String,
    /// (access token, refresh token).
    tokens: Mutex<(String, String)>,
}

impl Staff {
    /// Signs in with `POST /v1/admin/sessions`.
    pub async fn sign_in(
        client: reqwest::Client,
        base: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<Staff> {
        let credentials = json!({"email": email, "password": password});
        let (status, body) = setup_call(
            &client,
            base,
            Method::POST,
            "/v1/admin/sessions",
            &[],
            Some(&credentials),
        )
        .await?;
        if status != StatusCode::OK {
            bail!(
                "staff sign-in as {email} answered {status}: {}",
                describe_problem(&body)
            );
        }
        let tokens = (
            string_at(&body, "access_token")?,
            string_at(&body, "refresh_token")?,
        );
        Ok(Staff {
            client,
            base: base.to_owned(),
            tokens: Mutex::new(tokens),
        })
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, (String, String)> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Trades the refresh token for a new pair (`POST /v1/sessions/refresh`).
    async fn refresh(&self) -> anyhow::Result<()> {
        let refresh_token = self.tokens().1.clone();
        let body = setup_expect(
            &self.client,
            &self.base,
            Method::POST,
            "/v1/sessions/refresh",
            &[],
            Some(&json!({"refresh_token": refresh_token})),
            StatusCode::OK,
        )
        .await
        .context("refreshing the staff session")?;
        *self.tokens() = (
            string_at(&body, "access_token")?,
            string_at(&body, "refresh_token")?,
        );
        Ok(())
    }

    /// A staff request that must answer `expect`; returns the JSON body (`Null` when empty).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expect: StatusCode,
    ) -> anyhow::Result<Value> {
        let mut refreshed = false;
        loop {
            let bearer = format!("Bearer {}", self.tokens().0);
            let headers = [("authorization", bearer.as_str())];
            let (status, value) = setup_call(
                &self.client,
                &self.base,
                method.clone(),
                path,
                &headers,
                body,
            )
            .await?;
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                self.refresh().await?;
                continue;
            }
            if status != expect {
                bail!(
                    "{method} {path} answered {status}, expected {expect}: {}",
                    describe_problem(&value)
                );
            }
            return Ok(value);
        }
    }
}

/// Waits 200 ms, 400 ms, 800 ms, … before the next attempt of a setup call.
async fn backoff(attempt: u32, why: &str) {
    let wait = Duration::from_millis(100 << attempt.min(6));
    eprintln!("loadgen: setup call failed ({why}); retrying in {wait:?}");
    tokio::time::sleep(wait).await;
}

/// A problem document in one line: its code and detail, or the raw body.
pub fn describe_problem(body: &Value) -> String {
    let text = |field: &str| body.get(field).and_then(Value::as_str);
    match (text("code"), text("detail")) {
        (Some(code), Some(detail)) => format!("{code} ({detail})"),
        (Some(code), None) => code.to_owned(),
        _ => body.to_string(),
    }
}

/// The string at `field` of an answer, or an error naming the field.
pub fn string_at(body: &Value, field: &str) -> anyhow::Result<String> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the answer has no string '{field}': {body}"))
}

/// 128 random bits as 32 hex digits: an Idempotency-Key nobody else uses, and the source of a
/// run's prefix.
pub fn random_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| anyhow!("no randomness: {err}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Percent-encodes a query-string value: everything but RFC 3986's unreserved characters, so
/// an email's `@` or a search's spaces arrive as they were meant.
pub fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_counted_by_code() {
        let body =
            br#"{"type":"/problems/insufficient-stock","status":409,"code":"insufficient_stock"}"#;
        assert_eq!(
            problem_kind(StatusCode::CONFLICT, body),
            "insufficient_stock"
        );
        assert_eq!(
            problem_kind(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>"),
            "http_502"
        );
        assert_eq!(
            problem_kind(StatusCode::ACCEPTED, br#"{"order":{}}"#),
            "unexpected_202"
        );
    }

    #[test]
    fn problems_are_described_in_one_line() {
        let problem = serde_json::json!({"code": "forbidden", "detail": "Owners only."});
        assert_eq!(describe_problem(&problem), "forbidden (Owners only.)");
        assert_eq!(
            describe_problem(&serde_json::json!({"code": "throttled"})),
            "throttled"
        );
        assert_eq!(describe_problem(&Value::Null), "null");
    }

    #[test]
    fn base_urls_are_normalised() {
        assert_eq!(
            base_url("http://127.0.0.1:8080/").expect("valid"),
            "http://127.0.0.1:8080"
        );
        assert!(base_url("127.0.0.1:8080").is_err());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            query_value("loadgen-ab12@example.com"),
            "loadgen-ab12%40example.com"
        );
        assert_eq!(query_value("ab12 item 007"), "ab12%20item%20007");
    }

    #[test]
    fn random_keys_differ() {
        let a = random_key().expect("random");
        let b = random_key().expect("random");
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
