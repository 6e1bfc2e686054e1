//! Sending one attempt: the HTTP client and what it is allowed to do.
//!
//! One `reqwest` client per service, built once: HTTP/1.1, TLS by rustls (ring, webpki roots),
//! no proxy (a proxy would resolve names for us and defeat the target check), no redirects (a
//! 3xx is a failed attempt, never followed to wherever it points), a connect timeout, and our
//! own DNS resolver, which refuses a name if any of its addresses is not an allowed target
//! (`crate::target`) — the client then connects only to addresses that were checked. IP-literal
//! hosts never reach a resolver, so they are checked here before the request is made.
//!
//! Every attempt has one deadline, `timeout` after it starts, covering connecting, sending, and
//! reading the response. The response body is read chunk by chunk and only up to
//! `response_body_max_bytes`; the rest is never read (the connection is dropped).

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};

use crate::model::WebhookUrl;
use crate::target::{self, TargetRefused};

/// `User-Agent` of every delivery.
pub const USER_AGENT_VALUE: &str = concat!("kassa-webhooks/", env!("CARGO_PKG_VERSION"));

/// Longest error text kept with an attempt: enough for an error chain, bounded so a strange
/// error cannot grow a row without limit.
const ERROR_LEN_MAX: usize = 1_000;

/// What an attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub body: String,
    pub truncated: bool,
    pub duration_ms: u64,
}

impl Response {
    /// An attempt that got no response.
    fn failed(error: String, started: Instant) -> Response {
        Response {
            status_code: None,
            error: Some(bounded(error)),
            body: String::new(),
            truncated: false,
            duration_ms: elapsed_ms(started),
        }
    }

    /// The endpoint took the delivery: any 2xx.
    pub fn succeeded(&self) -> bool {
        self.status_code
            .is_some_and(|code| (200..300).contains(&code))
    }
}

/// Sends attempts; cheap to clone (the client is shared).
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    timeout: Duration,
    body_max_bytes: usize,
    allow_private: bool,
}

impl Sender {
    pub fn new(
        timeout: Duration,
        body_max_bytes: usize,
        allow_private: bool,
    ) -> Result<Sender, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT_VALUE)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .dns_resolver(Arc::new(CheckedResolver { allow_private }))
            .build()?;
        Ok(Sender {
            client,
            timeout,
            body_max_bytes,
            allow_private,
        })
    }

    /// POSTs `body` to `url` with `headers` (besides `Content-Type` and `User-Agent`).
    pub async fn send(&self, url: &WebhookUrl, headers: HeaderMap, body: String) -> Response {
        let started = Instant::now();
        if let Err(refused) = self.check_literal(url) {
            return Response::failed(refused.to_string(), started);
        }
        let deadline = tokio::time::Instant::from_std(started + self.timeout);
        let request = self
            .client
            .post(url.url().clone())
            .headers(headers)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .body(body);
        let response = match tokio::time::timeout_at(deadline, request.send()).await {
            Err(_) => return Response::failed(self.timed_out(), started),
            Ok(Err(err)) => return Response::failed(describe(&err), started),
            Ok(Ok(response)) => response,
        };
        let status_code = Some(response.status().as_u16());
        let (body, truncated, error) =
            match tokio::time::timeout_at(deadline, self.read_body(response)).await {
                Err(_) => (Vec::new(), true, Some(self.timed_out())),
                Ok(Err((partial, err))) => (partial, true, Some(describe(&err))),
                Ok(Ok((body, truncated))) => (body, truncated, None),
            };
        Response {
            status_code,
            error: error.map(|e| bounded(format!("reading the response body: {e}"))),
            body: text_within(&body, self.body_max_bytes),
            truncated,
            duration_ms: elapsed_ms(started),
        }
    }

    /// An IP-literal host is connected to without any resolver, so it is checked here.
    fn check_literal(&self, url: &WebhookUrl) -> Result<(), TargetRefused> {
        match url.ip_literal() {
            Some(ip) => target::check(&ip.to_string(), [ip], self.allow_private),
            None => Ok(()),
        }
    }

    /// Reads at most `body_max_bytes` of the body, a chunk at a time; `true` when more was
    /// there. On an error, what was read so far comes with it.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
    ) -> Result<(Vec<u8>, bool), (Vec<u8>, reqwest::Error)> {
        let mut body = Vec::with_capacity(self.body_max_bytes.min(8 * 1024));
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok((body, false)),
                Err(err) => return Err((body, err)),
            };
            let room = self.body_max_bytes - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                return Ok((body, true));
            }
            body.extend_from_slice(&chunk);
        }
    }

    fn timed_out(&self) -> String {
        format!("timed out after {} ms", self.timeout.as_millis())
    }
}

/// The body as text of at most `max` bytes: invalid UTF-8 is replaced (which can lengthen it),
/// then it is cut at a character boundary.
fn text_within(bytes: &[u8], max: usize) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

fn bounded(mut text: String) -> String {
    if text.len() > ERROR_LEN_MAX {
        let mut cut = ERROR_LEN_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A request error as one line: a refused target by its own message, anything else as its
/// chain of causes.
fn describe(err: &reqwest::Error) -> String {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<TargetRefused>() {
            return refused.to_string();
        }
        source = cause.source();
    }
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// The client's resolver: the system's lookup, then [`target::check`] on every address.
#[derive(Debug)]
struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            target::check(&host, addrs.iter().map(SocketAddr::ip), allow_private)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The headers that name a delivery, in the order receivers read them.
pub fn delivery_headers(
    event_id: &str,
    event_type: &str,
    delivery_id: &str,
    signature: &str,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("kassa-event-id", event_id),
        ("kassa-event-type", event_type),
        ("kassa-delivery-id", delivery_id),
        ("kassa-signature", signature),
    ] {
        // Ids, event types and the signature are ASCII letters, digits and `._,=`, always valid
        // header values; one that were not would be left out rather than fail the attempt.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_cut_at_the_limit_on_a_character_boundary() {
        assert_eq!(text_within(b"hello", 10), "hello");
        assert_eq!(text_within(b"hello", 3), "hel");
        assert_eq!(text_within("héllo".as_bytes(), 2), "h");
        // An invalid byte becomes U+FFFD (3 bytes): still within the limit.
        assert!(text_within(&[0xff, 0xff], 2).len() <= 2);
    }

    #[test]
    fn the_user_agent_names_the_crate_and_its_version() {
        assert_eq!(
            USER_AGENT_VALUE,
            format!("kassa-webhooks/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
