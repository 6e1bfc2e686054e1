//! The `Idempotency-Key` middleware (IETF httpapi draft "The Idempotency-Key HTTP Header
//! Field"): a client retrying an opted-in request with the same key gets the first answer
//! again instead of a second order or a second payment.
//!
//! Routes opt in one by one with [`Routes::post_idempotent`](crate::Routes::post_idempotent) or
//! [`Routes::put_idempotent`](crate::Routes::put_idempotent). On such a route, [`enforce`]:
//!
//! 1. reads the key ([`key_of`]): missing is 400 `idempotency_key_missing`; anything but 1 to
//!    255 printable ASCII characters, bare (`abc`) or as the draft's quoted sf-string
//!    (`"abc"`), is 400 `idempotency_key_invalid`;
//! 2. works out whose key it is ([`scope_of`]): the bearer token's staff member or customer
//!    (authenticated exactly as [`crate::auth`]'s extractors do, with the same 401s), else the
//!    `Cart-Token` holder, else `anonymous`;
//! 3. buffers the body (413 `payload_too_large` past `http.body_limit_bytes`, as everywhere)
//!    and fingerprints method, path with query, and body;
//! 4. asks [`IdempotencyService::begin`]: a completed key replays its stored response with
//!    `Idempotent-Replayed: true`; a key used for another fingerprint is 422
//!    `idempotency_key_reused`; a key whose first request is still running is 409
//!    `idempotency_key_in_progress` with `Retry-After: 1`; otherwise the handler runs;
//! 5. settles the claim ([`settle`]): a 5xx is forgotten so the client may retry with the same
//!    key; any other answer (2xx, and 4xx such as 402 or 409) is stored with its
//!    `content-type` and `location` and returned.
//!
//! Nothing is locked in this process: who runs is decided by the database, so several servers
//! sharing it agree. A request abandoned before it settles (the request timeout fired, the
//! client went away) has its claim released by [`Claim`]'s `Drop`, like a 5xx.
//!
//! Why a [`Handler`] wrapper rather than `MethodRouter::layer`: route modules build their
//! [`Routes`](crate::Routes) before the [`AppState`] exists, and `from_fn_with_state` needs the
//! state. [`Idempotent`] receives it where axum hands every handler its state, in
//! [`Handler::call`], and wraps just that handler there.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::middleware::{self as axum_middleware, Next};
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderName};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use kassa_idempotency::{
    Begin, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyService, Lease, Scope,
    StoredResponse, StoredResponseError, IDEMPOTENCY_KEY_INVALID, IDEMPOTENCY_KEY_MISSING,
    RESPONSE_BODY_BYTES_MAX,
};
use kassa_identity::Principal;
use tower::{Layer, ServiceExt};

use crate::auth;
use crate::problem::{ApiError, MALFORMED_REQUEST, PAYLOAD_TOO_LARGE};
use crate::routes::carts::CART_TOKEN_HEADER;
use crate::state::AppState;

/// The request header naming the logical request.
pub static IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");

/// Added to a replayed response (with the value `true`), so a client can tell a replay from
/// the first answer; the first answer does not carry it.
pub static IDEMPOTENT_REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The response headers stored and replayed with the status and body: what a client needs to
/// read the body and find what was created. Others (`x-request-id`, `retry-after`) describe the
/// first exchange, not its result, and are made afresh for the replay.
const REPLAYED_HEADERS: [HeaderName; 2] = [header::CONTENT_TYPE, header::LOCATION];

/// A handler that runs behind [`enforce`]; built by the `Routes::*_idempotent` methods.
#[derive(Clone)]
pub struct Idempotent<H>(H);

impl<H> Idempotent<H> {
    pub fn new(handler: H) -> Idempotent<H> {
        Idempotent(handler)
    }
}

impl<H, T> Handler<T, AppState> for Idempotent<H>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    type Future = Pin<Box<dyn Future<Output = Response> + Send>>;

    /// Builds the middleware around this one handler with the state axum hands it; both are a
    /// few `Arc` clones.
    fn call(self, request: Request, state: AppState) -> Self::Future {
        let handler = self.0.with_state(state.clone());
        let service = axum_middleware::from_fn_with_state(state, enforce).layer(handler);
        Box::pin(async move {
            match service.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
    }
}

/// The middleware of one opted-in route; see the module documentation for the steps.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match run(&state, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(state: &AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let key = key_of(request.headers())?;
    let (parts, body) = request.into_parts();
    let scope = scope_of(&parts, state).await?;
    let body = read_body(body, state.config.body_limit_bytes).await?;
    let fingerprint =
        Fingerprint::of_request(parts.method.as_str(), path_and_query(&parts.uri), &body);
    let lease = match state.idempotency.begin(&scope, &key, &fingerprint).await {
        Ok(Begin::Proceed(lease)) => lease,
        Ok(Begin::Replay(stored)) => return replay(&stored),
        Err(err) => return Err(refusal(err)),
    };
    let claim = Claim::new(Arc::clone(&state.idempotency), lease);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    Ok(settle(claim, response).await)
}

/// The key of the request's one `Idempotency-Key` header.
pub fn key_of(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
    let mut values = headers.get_all(&IDEMPOTENCY_KEY_HEADER).iter();
    let Some(value) = values.next() else {
        return Err(ApiError::new(
            &IDEMPOTENCY_KEY_MISSING,
            "This route needs an `Idempotency-Key` header: a unique value (a UUID, say) per \
             logical request, sent again unchanged with every retry of it.",
        ));
    };
    if values.next().is_some() {
        return Err(invalid_key(
            "Send one `Idempotency-Key` header, not several.",
        ));
    }
    let text = value.to_str().map_err(|_| {
        invalid_key("The Idempotency-Key may hold only printable ASCII characters.")
    })?;
    let text = unquote(text.trim_matches([' ', '\t']))?;
    Ok(IdempotencyKey::parse(&text)?)
}

/// The key inside a header value: the draft's RFC 8941 sf-string (`"abc"`, where `\"` and `\\`
/// are the only escapes), or the bare value (`abc`) that Stripe and most clients send. A quote
/// anywhere but around the whole key is refused, so `"abc` is not read as a key of four
/// characters.
fn unquote(value: &str) -> Result<Cow<'_, str>, ApiError> {
    let Some(quoted) = value.strip_prefix('"') else {
        if value.contains('"') {
            return Err(invalid_key(
                "A quoted Idempotency-Key must be quoted as a whole, as in `\"abc\"`.",
            ));
        }
        return Ok(Cow::Borrowed(value));
    };
    let inner = quoted
        .strip_suffix('"')
        .ok_or_else(|| invalid_key("The quoted Idempotency-Key has no closing quote."))?;
    let mut key = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('"' | '\\')) => key.push(escaped),
                _ => {
                    return Err(invalid_key(
                        "In a quoted Idempotency-Key a backslash may only escape `\"` or `\\`.",
                    ))
                }
            },
            '"' => {
                return Err(invalid_key(
                    "A quote inside a quoted Idempotency-Key must be escaped as `\\\"`.",
                ))
            }
            c => key.push(c),
        }
    }
    Ok(Cow::Owned(key))
}

fn invalid_key(detail: &str) -> ApiError {
    ApiError::new(&IDEMPOTENCY_KEY_INVALID, detail)
}

/// Whose keys this request's key is among. A bearer token is authenticated by the code path of
/// [`crate::auth`]'s extractors, so a bad one is the same 401 here as on any route; a valid one
/// scopes the key to its account, whatever the route's own extractor accepts later.
pub async fn scope_of(parts: &Parts, state: &AppState) -> Result<Scope, ApiError> {
    if let Some(principal) = auth::authenticate(parts, state).await? {
        return Ok(match principal {
            Principal::Staff { id, .. } => Scope::staff(id),
            Principal::Customer { id, .. } => Scope::customer(id),
        });
    }
    // An empty or unreadable Cart-Token opens no cart (the cart routes' `CartCaller` reads it
    // the same way), so it names no scope either.
    let cart_token = parts
        .headers
        .get(&CART_TOKEN_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|token| !token.is_empty());
    Ok(cart_token.map_or_else(Scope::anonymous, Scope::cart_token))
}

/// The whole body, up to `limit` bytes: the limit every other body is read under, with the
/// same 413.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::new(
            &PAYLOAD_TOO_LARGE,
            "The request body is larger than allowed.",
        )),
        Err(err) => Err(
            ApiError::new(&MALFORMED_REQUEST, "The request body could not be read.")
                .with_source(err),
        ),
    }
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map_or(uri.path(), |pq| pq.as_str())
}

/// A refusal of `begin` as a problem; `idempotency_key_in_progress` tells when to retry.
fn refusal(err: IdempotencyError) -> ApiError {
    let retry_after_secs = err.retry_after_secs();
    let error = ApiError::from(err);
    match retry_after_secs {
        Some(secs) => error.with_retry_after(secs),
        None => error,
    }
}

/// The stored response, as it was, marked as a replay.
fn replay(stored: &StoredResponse) -> Result<Response, ApiError> {
    let status = StatusCode::from_u16(stored.status()).map_err(ApiError::internal)?;
    // Built by hand: `IntoResponse` for bytes would add a content type the original lacked.
    let mut response = Response::new(Body::from(stored.body().to_vec()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in stored.headers() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(ApiError::internal)?;
        let value = HeaderValue::from_str(value).map_err(ApiError::internal)?;
        headers.insert(name, value);
    }
    headers.insert(
        IDEMPOTENT_REPLAYED_HEADER.clone(),
        HeaderValue::from_static("true"),
    );
    Ok(response)
}

/// Stores the handler's answer, or forgets the claim if it is a server error, and returns the
/// answer. A response that cannot be read back or stored (larger than
/// [`RESPONSE_BODY_BYTES_MAX`]) is our bug: the claim is released and the client gets a 500.
async fn settle(claim: Claim, response: Response) -> Response {
    if response.status().is_server_error() {
        claim.release().await;
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, RESPONSE_BODY_BYTES_MAX).await {
        Ok(body) => body,
        Err(err) => {
            claim.release().await;
            return ApiError::internal(format!("idempotent response unreadable: {err}"))
                .into_response();
        }
    };
    match stored_response(&parts.status, &parts.headers, &body) {
        Ok(stored) => claim.complete(&stored).await,
        Err(err) => {
            claim.release().await;
            return ApiError::internal(err).into_response();
        }
    }
    Response::from_parts(parts, Body::from(body))
}

fn stored_response(
    status: &StatusCode,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<StoredResponse, StoredResponseError> {
    let kept = REPLAYED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    StoredResponse::new(status.as_u16(), kept, body.to_vec())
}

/// The lease of a running request until it is settled. Dropped unsettled (the request future
/// was abandoned: the request timeout fired, or the client went away), it releases the lease
/// from a spawned task, so a retry runs again at once instead of waiting out the lease, just
/// as after a 5xx.
struct Claim {
    service: Arc<dyn IdempotencyService>,
    /// `Some` until the claim is settled. Cleared only after the store call returns, so a
    /// request abandoned in the middle of settling is still released; releasing a record that
    /// completed meanwhile changes nothing, as release names the running record of this lease.
    lease: Option<Lease>,
}

impl Claim {
    fn new(service: Arc<dyn IdempotencyService>, lease: Lease) -> Claim {
        Claim {
            service,
            lease: Some(lease),
        }
    }

    /// A failure is logged, and the client still gets the handler's answer: the request did
    /// run. Until the lease ends, a retry then gets 409; after it, the retry runs again.
    async fn complete(mut self, stored: &StoredResponse) {
        if let Some(lease) = &self.lease {
            if let Err(err) = self.service.complete(lease, stored).await {
                tracing::error!(
                    scope = %lease.scope(),
                    error = ?err,
                    "the response of an idempotent request could not be stored"
                );
            }
        }
        self.lease = None;
    }

    async fn release(mut self) {
        if let Some(lease) = &self.lease {
            release(self.service.as_ref(), lease).await;
        }
        self.lease = None;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let service = Arc::clone(&self.service);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { release(service.as_ref(), &lease).await });
            }
            Err(_) => tracing::warn!(
                scope = %lease.scope(),
                "an abandoned idempotent request keeps its key until its lease ends"
            ),
        }
    }
}

/// A failed release is logged: the key then stays in progress until its lease ends, after
/// which a retry takes it over.
async fn release(service: &dyn IdempotencyService, lease: &Lease) {
    if let Err(err) = service.release(lease).await {
        tracing::warn!(
            scope = %lease.scope(),
            error = ?err,
            "the claim of a failed idempotent request could not be released"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            let value = HeaderValue::from_bytes(value).unwrap_or_else(|e| panic!("{e}"));
            headers.append(&IDEMPOTENCY_KEY_HEADER, value);
        }
        headers
    }

    fn key(values: &[&[u8]]) -> Result<String, &'static str> {
        key_of(&headers(values))
            .map(|k| k.as_str().to_owned())
            .map_err(|e| e.problem().code)
    }

    #[test]
    fn a_bare_key_and_a_quoted_key_are_read_as_their_text() {
        assert_eq!(key(&[b"abc"]), Ok("abc".to_owned()));
        assert_eq!(key(&[b"\"abc\""]), Ok("abc".to_owned()));
        assert_eq!(key(&[b" abc \t"]), Ok("abc".to_owned()));
        assert_eq!(key(&[br#""a\"b\\c""#]), Ok(r#"a"b\c"#.to_owned()));
        assert_eq!(key(&[b"a\\b"]), Ok("a\\b".to_owned()));
        assert_eq!(key(&[b"\" spaced key \""]), Ok(" spaced key ".to_owned()));
        let longest = "k".repeat(255);
        assert_eq!(key(&[longest.as_bytes()]), Ok(longest.clone()));
        let quoted = format!("\"{longest}\"");
        assert_eq!(key(&[quoted.as_bytes()]), Ok(longest));
    }

    #[test]
    fn a_missing_header_is_missing_and_every_malformed_one_is_invalid() {
        assert_eq!(key(&[]), Err("idempotency_key_missing"));
        let too_long = "k".repeat(256);
        let too_long_quoted = format!("\"{too_long}\"");
        let malformed: [&[u8]; 11] = [
            b"",
            b"\"\"",
            too_long.as_bytes(),
            too_long_quoted.as_bytes(),
            b"a\tb",
            b"\xffkey",
            b"\"abc",
            b"abc\"",
            b"\"a\"b\"",
            b"\"a\\b\"",
            b"\"",
        ];
        for value in malformed {
            assert_eq!(
                key(&[value]),
                Err("idempotency_key_invalid"),
                "{}",
                String::from_utf8_lossy(value)
            );
        }
        assert_eq!(key(&[b"a", b"a"]), Err("idempotency_key_invalid"));
    }

    #[test]
    fn only_the_content_type_and_location_headers_are_stored() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(header::LOCATION, HeaderValue::from_static("/v1/orders/1"));
        headers.insert("x-request-id", HeaderValue::from_static("r1"));
        let stored = stored_response(&StatusCode::CREATED, &headers, &Bytes::from("hi"));
        let stored = stored.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            stored.headers(),
            [
                ("content-type".to_owned(), "text/plain".to_owned()),
                ("location".to_owned(), "/v1/orders/1".to_owned()),
            ]
        );
        assert_eq!(stored.status(), 201);
        assert_eq!(stored.body(), b"hi");
    }

    #[test]
    fn a_replay_is_the_stored_response_marked_as_a_replay() {
        let stored = StoredResponse::new(
            402,
            vec![("content-type".to_owned(), "application/json".to_owned())],
            b"{}".to_vec(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let response = replay(&stored).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[&IDEMPOTENT_REPLAYED_HEADER], "true");
    }
}

/// The `Idempotency-Key` request header as the OpenAPI document describes it: every route opted
/// in with `Routes::post_idempotent` lists it once with `params(IdempotencyKeyHeader)` instead of
/// repeating its wording.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // only its OpenAPI description is used; the middleware reads the header
pub struct IdempotencyKeyHeader {
    /// Required: 1 to 255 printable ASCII characters naming this request; a retry with the same
    /// key and body answers the first answer again.
    #[param(rename = "Idempotency-Key")]
    idempotency_key: String,
}
