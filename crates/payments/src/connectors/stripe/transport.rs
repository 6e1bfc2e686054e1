//! One gateway call to Stripe: the HTTP exchange, the retries it allows, and what each failure
//! means for "was the request performed?" (the `PaymentGateway` contract).
//!
//! | what happened | performed? | retried (same key) | breaker |
//! |---|---|---|---|
//! | no connection (refused, DNS, TLS, connect timeout) | no, nothing was sent | yes | failure |
//! | no answer in time, or the connection broke, after sending | maybe | POST no (the service resolves it with the same key), GET yes | failure |
//! | 429 | no: the rate limiter runs before the idempotency layer (payments-facts §2) | yes, after `Retry-After` | failure |
//! | 409 (the same key is executing in another request) | maybe, by that request | yes | — |
//! | 503 | no | yes | failure |
//! | 500, 502, 504, other 5xx | maybe: Stripe caches a 500 once execution began | yes | failure |
//! | 2xx, 4xx answers | Stripe's answer; the caller maps it | no | success |
//!
//! A POST whose earlier try may have been performed and that ends without a definite answer is
//! reported as `Timeout` (outcome unknown), whatever the last try said: the service must then
//! ask again with the same key rather than treat it as not done. Every try of one call sends
//! the same bytes with the same `Idempotency-Key`; reads carry no key and retry freely. Between
//! tries: exponential backoff from `retry_base`, at most `retry_delay_max`, jittered, and never
//! shorter than Stripe's `Retry-After`; no retry starts unless its whole timeout fits before
//! the call's deadline.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::breaker::Breaker;
use super::config::StripeConfig;
use super::form::Form;
use super::wire::{ApiError, ErrorBody, ErrorType};
use super::{StripeSetupError, STRIPE_VERSION};
use crate::gateway::{GatewayError, GatewayErrorKind};

/// Largest response body read. A PaymentIntent is a few kilobytes, with its latest charge
/// expanded some more; anything near this is not an answer kassa can use.
pub const RESPONSE_LEN_MAX: usize = 1024 * 1024;
/// How much of a message Stripe sent is kept in an error (errors end up in logs and attempts).
const UPSTREAM_MESSAGE_LEN_MAX: usize = 300;

/// One request, the same on every try.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) form: Form,
    /// Sent on POSTs only (payments-facts §2: it has no effect on GET).
    pub(crate) idempotency_key: Option<&'a str>,
}

/// Stripe's answer to a request.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A 2xx body.
    Body(Vec<u8>),
    /// A 4xx Stripe meant (a decline, an invalid request, a key reused with other parameters).
    Refused { status: u16, error: ApiError },
}

/// How one try failed, and what that allows.
#[derive(Debug)]
struct Failure {
    error: GatewayError,
    retry: bool,
    maybe_performed: bool,
    breaker_failure: bool,
    retry_after: Option<Duration>,
}

#[derive(Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
    base_url: String,
    /// `Bearer <secret key>`, marked sensitive so `Debug` never shows it.
    authorization: HeaderValue,
    /// The key itself, only to scrub it from anything Stripe echoes back into an error.
    secret_key: SecretString,
    timeout: Duration,
    max_retries: u32,
    retry_base: Duration,
    retry_delay_max: Duration,
    call_deadline: Duration,
    breaker: Breaker,
}

impl Transport {
    pub(crate) fn new(
        config: &StripeConfig,
        breaker: Breaker,
    ) -> Result<Transport, StripeSetupError> {
        let key = config.secret_key.expose_secret();
        if key.trim().is_empty() {
            return Err(StripeSetupError::MissingSecretKey);
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| StripeSetupError::InvalidSecretKey)?;
        authorization.set_sensitive(true);
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let parsed =
            reqwest::Url::parse(&base_url).map_err(|_| StripeSetupError::InvalidBaseUrl)?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.cannot_be_a_base() {
            return Err(StripeSetupError::InvalidBaseUrl);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("kassa/", env!("CARGO_PKG_VERSION")))
            // Stripe does not redirect API calls; following one would resend the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(StripeSetupError::Client)?;
        Ok(Transport {
            client,
            base_url,
            authorization,
            secret_key: config.secret_key.clone(),
            timeout: config.timeout,
            max_retries: config.max_retries,
            retry_base: config.retry_base,
            retry_delay_max: config.retry_delay_max,
            call_deadline: config.call_deadline,
            breaker,
        })
    }

    /// Sends `request`, retrying what may be retried, and returns Stripe's answer or why there
    /// is none.
    pub(crate) async fn send(&self, request: &Request<'_>) -> Result<Answer, GatewayError> {
        let deadline = Instant::now() + self.call_deadline;
        let body = request.form.encode();
        let is_post = request.method == Method::POST;
        let mut maybe_performed = false;
        let mut retries = 0;
        loop {
            let permit = match self.breaker.permit() {
                Ok(permit) => permit,
                Err(wait) => {
                    let error = GatewayError::unavailable(format!(
                        "stripe: circuit breaker open, {} {} not sent",
                        request.method, request.path
                    ))
                    .with_retry_after(wait);
                    return Err(settle(error, maybe_performed));
                }
            };
            let failure = match self.exchange(request, &body, self.timeout).await {
                Ok(answer) => {
                    permit.succeeded();
                    return Ok(answer);
                }
                Err(failure) => failure,
            };
            if failure.breaker_failure {
                permit.failed();
            } else {
                permit.succeeded();
            }
            maybe_performed |= failure.maybe_performed && is_post;
            let delay = self
                .backoff(retries)
                .max(failure.retry_after.unwrap_or_default());
            // A try starts only if it can run its whole timeout before the deadline: one cut
            // short would report "no answer" for a request Stripe had no time to answer.
            let out_of_time = Instant::now() + delay + self.timeout > deadline;
            if !failure.retry || retries >= self.max_retries || out_of_time {
                let mut error = failure.error;
                error.retry_after = failure.retry_after.or(error.retry_after);
                return Err(settle(error, maybe_performed));
            }
            retries += 1;
            tracing::warn!(
                method = %request.method,
                path = %request.path,
                retry = retries,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %failure.error,
                "stripe request failed; retrying with the same idempotency key"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One try: send, read the answer, classify it.
    async fn exchange(
        &self,
        request: &Request<'_>,
        body: &str,
        timeout: Duration,
    ) -> Result<Answer, Failure> {
        let what = format!("{} {}", request.method, request.path);
        let is_post = request.method == Method::POST;
        // A GET carries its parameters in the query string, encoded as a POST's body would be.
        let url = if is_post || body.is_empty() {
            format!("{}{}", self.base_url, request.path)
        } else {
            format!("{}{}?{body}", self.base_url, request.path)
        };
        let builder = self
            .client
            .request(request.method.clone(), url)
            .headers(self.headers(request));
        let builder = if is_post {
            builder
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.to_owned())
        } else {
            builder
        };
        let read = async {
            let mut response = builder.send().await?;
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if bytes.len() + chunk.len() > RESPONSE_LEN_MAX {
                    return Ok((status, retry_after, None));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>((status, retry_after, Some(bytes)))
        };
        match tokio::time::timeout(timeout, read).await {
            Err(_) => Err(no_answer(
                format!("stripe: no answer to {what} within {} ms", timeout.as_millis()),
                is_post,
            )),
            Ok(Err(err)) if err.is_connect() => Err(Failure {
                error: GatewayError::unavailable(format!(
                    "stripe: could not connect for {what}; nothing was sent"
                )),
                retry: true,
                maybe_performed: false,
                breaker_failure: true,
                retry_after: None,
            }),
            Ok(Err(err)) => Err(no_answer(
                format!(
                    "stripe: the exchange for {what} broke off: {}",
                    self.scrub(&err.to_string())
                ),
                is_post,
            )),
            Ok(Ok((status, _, None))) => Err(no_answer(
                format!(
                    "stripe: the answer to {what} ({status}) is larger than {RESPONSE_LEN_MAX} bytes"
                ),
                is_post,
            )),
            Ok(Ok((status, retry_after, Some(bytes)))) => {
                self.classify(&what, status, retry_after, bytes)
            }
        }
    }

    fn headers(&self, request: &Request<'_>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert("stripe-version", HeaderValue::from_static(STRIPE_VERSION));
        if request.method == Method::POST {
            if let Some(key) = request.idempotency_key {
                // Our keys are ASCII (`kassa:{id}:{operation}`), so this never fails.
                if let Ok(value) = HeaderValue::from_str(key) {
                    headers.insert("idempotency-key", value);
                }
            }
        }
        headers
    }

    /// What an HTTP answer means.
    fn classify(
        &self,
        what: &str,
        status: StatusCode,
        retry_after: Option<Duration>,
        bytes: Vec<u8>,
    ) -> Result<Answer, Failure> {
        if status.is_success() {
            return Ok(Answer::Body(bytes));
        }
        let error = serde_json::from_slice::<ErrorBody>(&bytes)
            .ok()
            .map(|body| body.error);
        let detail = self.describe(status, error.as_ref());
        let server_error = status.is_server_error()
            || error
                .as_ref()
                .is_some_and(|e| e.error_type == ErrorType::ApiError);
        let failure = |error: GatewayError, maybe_performed: bool, breaker_failure: bool| {
            Err(Failure {
                error,
                retry: true,
                maybe_performed,
                breaker_failure,
                retry_after,
            })
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            failure(
                GatewayError::unavailable(format!("stripe: {what} rate limited: {detail}")),
                false,
                true,
            )
        } else if status == StatusCode::CONFLICT {
            failure(
                GatewayError::timeout(format!(
                    "stripe: {what} conflicts with a request still executing with the same \
                     idempotency key: {detail}"
                )),
                true,
                false,
            )
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            failure(
                GatewayError::unavailable(format!("stripe: {what} unavailable: {detail}")),
                false,
                true,
            )
        } else if server_error {
            failure(
                GatewayError::unavailable(format!("stripe: {what} failed at Stripe: {detail}")),
                true,
                true,
            )
        } else {
            match error {
                Some(error) => Ok(Answer::Refused {
                    status: status.as_u16(),
                    error: ApiError {
                        message: error.message.as_deref().map(|m| self.scrub(m)),
                        ..error
                    },
                }),
                None => Err(Failure {
                    error: GatewayError::invalid(format!("stripe: {what} refused: {detail}")),
                    retry: false,
                    maybe_performed: false,
                    breaker_failure: false,
                    retry_after: None,
                }),
            }
        }
    }

    /// `402 card_error card_declined (insufficient_funds): Your card has …`, for logs.
    pub(crate) fn describe(&self, status: StatusCode, error: Option<&ApiError>) -> String {
        let Some(error) = error else {
            return format!("{status} without a Stripe error body");
        };
        let mut text = format!("{} {:?}", status.as_u16(), error.error_type);
        for part in [&error.code, &error.decline_code, &error.param]
            .into_iter()
            .flatten()
        {
            text.push(' ');
            text.push_str(part);
        }
        if let Some(message) = &error.message {
            text.push_str(": ");
            text.push_str(&self.scrub(message));
        }
        text
    }

    /// Upstream text without the secret key (Stripe masks keys it echoes, a proxy might not),
    /// cut to a length fit for a log line.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let key = self.secret_key.expose_secret();
        let clean = text.replace(key, "[redacted]");
        clean.chars().take(UPSTREAM_MESSAGE_LEN_MAX).collect()
    }

    /// The delay before retry number `retries + 1`: `retry_base · 2^retries`, at most
    /// `retry_delay_max`, with up to half of it taken away at random so that many callers
    /// failing together do not retry together.
    fn backoff(&self, retries: u32) -> Duration {
        let full = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(retries))
            .min(self.retry_delay_max);
        let half = full / 2;
        let half_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jitter = match getrandom::u64() {
            Ok(random) if half_ms > 0 => Duration::from_millis(random % (half_ms + 1)),
            _ => Duration::ZERO,
        };
        full - jitter
    }
}

/// No usable answer: for a POST the request may have been performed (outcome unknown, and no
/// retry: the service asks again with the same key under its lease); a read may try again.
fn no_answer(message: String, is_post: bool) -> Failure {
    Failure {
        error: GatewayError::timeout(message),
        retry: !is_post,
        maybe_performed: is_post,
        breaker_failure: true,
        retry_after: None,
    }
}

/// The final error of a call: outcome unknown if any try may have been performed.
fn settle(error: GatewayError, maybe_performed: bool) -> GatewayError {
    if !maybe_performed || error.kind == GatewayErrorKind::Timeout {
        return error;
    }
    let retry_after = error.retry_after;
    let mut unknown = GatewayError::timeout(format!(
        "{}; an earlier try may have been performed, so the outcome is unknown",
        error.message
    ));
    unknown.retry_after = retry_after;
    unknown
}

/// `Retry-After` in seconds. The HTTP-date form is not read: Stripe sends seconds, and a date
/// would need the wall clock.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::stripe::config::BreakerConfig;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_jitter_takes_at_most_half() {
        use kassa_kernel::{ManualClock, Timestamp};
        let config = StripeConfig::new(SecretString::from("sk_test_x"));
        let clock = std::sync::Arc::new(ManualClock::new(Timestamp::UNIX_EPOCH));
        let transport = Transport::new(&config, Breaker::new(config.breaker, clock)).unwrap();
        for _ in 0..50 {
            let first = transport.backoff(0);
            assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200));
            let second = transport.backoff(1);
            assert!(second >= Duration::from_millis(200) && second <= Duration::from_millis(400));
            let capped = transport.backoff(30);
            assert!(capped >= Duration::from_secs(1) && capped <= Duration::from_secs(2));
        }
    }

    #[test]
    fn a_key_that_cannot_be_a_header_or_a_bad_url_is_refused_at_setup() {
        use kassa_kernel::{ManualClock, Timestamp};
        let clock = std::sync::Arc::new(ManualClock::new(Timestamp::UNIX_EPOCH));
        let breaker = Breaker::new(BreakerConfig::default(), clock);
        let setup = |key: &str, url: &str| {
            let mut config = StripeConfig::new(SecretString::from(key));
            config.base_url = url.to_owned();
            Transport::new(&config, breaker.clone()).map(|_| ())
        };
        assert!(setup("sk_test_x", "https://api.stripe.com/").is_ok());
        assert!(matches!(
            setup(" ", "https://api.stripe.com"),
            Err(StripeSetupError::MissingSecretKey)
        ));
        assert!(matches!(
            setup("sk\nx", "https://api.stripe.com"),
            Err(StripeSetupError::InvalidSecretKey)
        ));
        assert!(matches!(
            setup("sk_test_x", "ftp://api.stripe.com"),
            Err(StripeSetupError::InvalidBaseUrl)
        ));
        assert!(matches!(
            setup("sk_test_x", "api.stripe.com"),
            Err(StripeSetupError::InvalidBaseUrl)
        ));
    }

    #[test]
    fn retry_after_reads_seconds_and_ignores_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn a_maybe_performed_call_ends_as_an_unknown_outcome() {
        let error = GatewayError::unavailable("503").with_retry_after(Duration::from_secs(3));
        assert_eq!(settle(error.clone(), false), error);
        let unknown = settle(error, true);
        assert!(unknown.outcome_unknown());
        assert_eq!(unknown.retry_after, Some(Duration::from_secs(3)));
        let timeout = GatewayError::timeout("t");
        assert_eq!(settle(timeout.clone(), true), timeout);
    }
}
