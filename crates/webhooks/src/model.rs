//! What webhooks are made of: endpoints with their validated parts ([`WebhookUrl`],
//! [`EventTypes`], [`Description`], [`SigningSecret`]), deliveries and their
//! [`DeliveryStatus`], and attempts. No SQL, no HTTP.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use kassa_events::EventId;
use kassa_kernel::Timestamp;
use reqwest::Url;

kassa_kernel::typed_id!(
    /// An endpoint staff registered to receive events.
    WebhookId, "wh"
);
kassa_kernel::typed_id!(
    /// One event's delivery to one endpoint.
    DeliveryId, "whd"
);

/// Longest accepted URL, in bytes, as given and as normalised: longer ones are refused rather
/// than cut, and 2 KiB is what browsers and proxies reliably carry.
pub const URL_LEN_MAX: usize = 2048;

/// Most selectors one endpoint may hold: every known type (about 30) fits, and a list that
/// long is better written as `<district>.*`.
pub const EVENT_TYPES_PER_ENDPOINT_MAX: usize = 50;

/// Longest description, in characters: a note for staff, not a document.
pub const DESCRIPTION_LEN_MAX: usize = 500;

/// Prefix of every signing secret, as Stripe's `whsec_`: it makes a leaked secret recognisable.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a signing secret: 256 bits, the size of the HMAC-SHA256 key block's hash.
pub const SECRET_RANDOM_BYTES: usize = 32;

/// Every event type an endpoint may subscribe to: the constants of the districts whose events
/// reach the bus (orders, inventory, payments, catalog).
pub fn known_event_types() -> impl Iterator<Item = &'static str> {
    kassa_orders::events::ALL
        .iter()
        .chain(kassa_inventory::events::ALL)
        .chain(kassa_payments::events::ALL)
        .chain(kassa_catalog::events::ALL)
        .copied()
}

/// The part of an event type before its first `.`: `order` in `order.placed`. A `<prefix>.*`
/// selector names every type of one district this way.
fn type_prefix(event_type: &str) -> &str {
    event_type
        .split_once('.')
        .map_or(event_type, |(prefix, _)| prefix)
}

/// One problem with one input field: a JSON pointer into the request body and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub pointer: String,
    pub message: String,
}

impl Issue {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Issue {
        Issue {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// Where deliveries are POSTed: an absolute `http` or `https` URL of at most [`URL_LEN_MAX`]
/// bytes, without user name or password (credentials do not belong in a URL that staff lists
/// show; the signature authenticates us instead). Whether its address may be reached is a
/// separate question, asked at registration for IP literals and at every delivery for every
/// resolved address (`crate::target`).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

/// Why a string is not a [`WebhookUrl`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("url must not be empty")]
    Empty,
    #[error("url must be at most {max} bytes, got {len}")]
    TooLong { len: usize, max: usize },
    #[error("url is not an absolute URL: {0}")]
    Malformed(String),
    #[error("url must use http or https, not {0}")]
    Scheme(String),
    #[error("url must name a host")]
    NoHost,
    #[error("url must not contain a user name or password")]
    Userinfo,
}

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<WebhookUrl, UrlError> {
        if raw.trim().is_empty() {
            return Err(UrlError::Empty);
        }
        if raw.len() > URL_LEN_MAX {
            return Err(UrlError::TooLong {
                len: raw.len(),
                max: URL_LEN_MAX,
            });
        }
        let url = Url::parse(raw).map_err(|err| UrlError::Malformed(err.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::Scheme(url.scheme().chars().take(20).collect()));
        }
        if url.host().is_none() {
            return Err(UrlError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Userinfo);
        }
        // Normalising (punycode, percent-encoding) can lengthen it.
        let len = url.as_str().len();
        if len > URL_LEN_MAX {
            return Err(UrlError::TooLong {
                len,
                max: URL_LEN_MAX,
            });
        }
        Ok(WebhookUrl(url))
    }

    /// The normalised form, as stored and shown.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host when it is an IP address rather than a name. The parser normalised such
    /// hosts (`http://0x7f.1/` is `127.0.0.1`), so none hides as a name.
    pub fn ip_literal(&self) -> Option<IpAddr> {
        let host = self.0.host_str()?;
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }

    pub(crate) fn url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WebhookUrl").field(&self.as_str()).finish()
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of an endpoint's `event_types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelector {
    /// `*`: every event.
    All,
    /// `order.*`: every event whose type starts with `order.`.
    Prefix(String),
    /// `order.placed`: exactly that type.
    Exact(String),
}

impl EventSelector {
    /// Accepts `*`, `<prefix>.*` for a prefix some known type has, and known types.
    fn parse_known(raw: &str) -> Option<EventSelector> {
        if raw == "*" {
            return Some(EventSelector::All);
        }
        if let Some(prefix) = raw.strip_suffix(".*") {
            return known_event_types()
                .any(|t| type_prefix(t) == prefix)
                .then(|| EventSelector::Prefix(prefix.to_owned()));
        }
        known_event_types()
            .any(|t| t == raw)
            .then(|| EventSelector::Exact(raw.to_owned()))
    }

    /// A stored selector, taken as written: a type that was known when it was registered
    /// still matches by name if it is no longer produced.
    fn from_stored(raw: &str) -> EventSelector {
        if raw == "*" {
            EventSelector::All
        } else if let Some(prefix) = raw.strip_suffix(".*") {
            EventSelector::Prefix(prefix.to_owned())
        } else {
            EventSelector::Exact(raw.to_owned())
        }
    }

    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            EventSelector::All => true,
            EventSelector::Prefix(prefix) => type_prefix(event_type) == prefix,
            EventSelector::Exact(exact) => exact == event_type,
        }
    }
}

impl fmt::Display for EventSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventSelector::All => f.write_str("*"),
            EventSelector::Prefix(prefix) => write!(f, "{prefix}.*"),
            EventSelector::Exact(exact) => f.write_str(exact),
        }
    }
}

/// What an endpoint subscribes to: 1 to [`EVENT_TYPES_PER_ENDPOINT_MAX`] selectors, without
/// repeats, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(Vec<EventSelector>);

impl EventTypes {
    /// Checks every entry; the issues point at `/event_types` or `/event_types/<index>`.
    pub fn parse(raw: &[String]) -> Result<EventTypes, Vec<Issue>> {
        if raw.is_empty() {
            return Err(vec![Issue::new(
                "/event_types",
                "event_types must name at least one event type, `<district>.*` or `*`",
            )]);
        }
        if raw.len() > EVENT_TYPES_PER_ENDPOINT_MAX {
            return Err(vec![Issue::new(
                "/event_types",
                format!(
                    "event_types may hold at most {EVENT_TYPES_PER_ENDPOINT_MAX} entries, got {}",
                    raw.len()
                ),
            )]);
        }
        let mut selectors: Vec<EventSelector> = Vec::with_capacity(raw.len());
        let mut issues = Vec::new();
        for (index, entry) in raw.iter().enumerate() {
            match EventSelector::parse_known(entry) {
                Some(selector) if selectors.contains(&selector) => issues.push(Issue::new(
                    format!("/event_types/{index}"),
                    format!("{entry} is listed twice"),
                )),
                Some(selector) => selectors.push(selector),
                None => issues.push(Issue::new(
                    format!("/event_types/{index}"),
                    format!(
                        "'{}' is not a known event type (such as order.placed), a \
                         `<district>.*` such as order.* or `*`",
                        entry.chars().take(80).collect::<String>()
                    ),
                )),
            }
        }
        if issues.is_empty() {
            Ok(EventTypes(selectors))
        } else {
            Err(issues)
        }
    }

    /// Selectors as stored, without checking them against today's known types.
    pub(crate) fn from_stored(raw: &[String]) -> EventTypes {
        EventTypes(raw.iter().map(|s| EventSelector::from_stored(s)).collect())
    }

    pub fn selectors(&self) -> &[EventSelector] {
        &self.0
    }

    /// The selectors as strings, as given and as stored.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.0.iter().any(|s| s.matches(event_type))
    }
}

/// A note staff keep about an endpoint: at most [`DESCRIPTION_LEN_MAX`] characters, without
/// control characters other than line breaks and tabs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Description, Issue> {
        let count = raw.chars().count();
        if count > DESCRIPTION_LEN_MAX {
            return Err(Issue::new(
                "/description",
                format!(
                    "description must be at most {DESCRIPTION_LEN_MAX} characters, got {count}"
                ),
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Issue::new(
                "/description",
                "description must not contain control characters",
            ));
        }
        Ok(Description(raw.to_owned()))
    }

    /// A description read back from storage, as it was accepted.
    pub(crate) fn from_stored(description: String) -> Description {
        Description(description)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A signing secret: `whsec_` and 64 hex digits (32 random bytes). The HMAC key is the whole
/// string as UTF-8, prefix included, as with Stripe. `Debug` never shows it; only
/// [`SigningSecret::expose`] does, for signing and for the one answer that hands it to staff.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// A new secret from the operating system's randomness.
    pub fn generate() -> Result<SigningSecret, getrandom::Error> {
        let mut bytes = [0_u8; SECRET_RANDOM_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(SigningSecret(format!(
            "{SECRET_PREFIX}{}",
            crate::signature::hex(&bytes)
        )))
    }

    /// A secret read back from storage.
    pub(crate) fn from_stored(secret: String) -> SigningSecret {
        SigningSecret(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(whsec_…)")
    }
}

/// A registered endpoint, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: WebhookId,
    pub url: WebhookUrl,
    pub event_types: EventTypes,
    pub description: Description,
    /// A disabled endpoint gets no new deliveries, and its pending ones wait until it is
    /// enabled again.
    pub enabled: bool,
    /// While a rotated-out secret still signs deliveries (alongside the new one): until then.
    pub previous_secret_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An endpoint and its current signing secret: the answer to registering one and to rotating
/// its secret, the only two times the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointWithSecret {
    pub endpoint: Endpoint,
    pub secret: SigningSecret,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryStatus {
    /// Due, not attempted yet since it was recorded or replayed.
    Pending,
    /// Attempted and failed; due again at `next_attempt_at`.
    Retrying,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Every attempt of its schedule failed; only a replay sends it again.
    Dead,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Retrying,
        DeliveryStatus::Succeeded,
        DeliveryStatus::Dead,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Dead => "dead",
        }
    }

    /// Whether the dispatcher still has to send it.
    pub fn is_open(&self) -> bool {
        matches!(self, DeliveryStatus::Pending | DeliveryStatus::Retrying)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not one of the four statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a delivery status (pending, retrying, succeeded or dead)")]
pub struct DeliveryStatusError(String);

impl FromStr for DeliveryStatus {
    type Err = DeliveryStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| DeliveryStatusError(s.chars().take(40).collect()))
    }
}

/// One event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    /// The exact JSON text POSTed (and signed) on every attempt.
    pub body: String,
    pub status: DeliveryStatus,
    /// Attempts made, replays included.
    pub attempt_count: u32,
    /// When it is due; `None` once succeeded or dead.
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One HTTP attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt, counting on across replays.
    pub number: u32,
    pub attempted_at: Timestamp,
    /// From sending the request to the end of reading the response (or giving up).
    pub duration_ms: u64,
    /// The response's status; `None` when there was none (refused target, connection
    /// failure, timeout).
    pub status_code: Option<u16>,
    /// Why the attempt failed without a response, or why its body could not be read.
    pub error: Option<String>,
    /// The response body as UTF-8 (invalid bytes replaced), at most the configured limit.
    pub response_body: String,
    /// The body was longer than the limit and the rest was not read.
    pub response_body_truncated: bool,
}

/// A delivery with every attempt, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
}

/// How many deliveries are in each status, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub retrying: u64,
    pub succeeded: u64,
    pub dead: u64,
}

impl DeliveryCounts {
    pub fn of(&self, status: DeliveryStatus) -> u64 {
        match status {
            DeliveryStatus::Pending => self.pending,
            DeliveryStatus::Retrying => self.retrying,
            DeliveryStatus::Succeeded => self.succeeded,
            DeliveryStatus::Dead => self.dead,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http_without_credentials_and_at_most_2048_bytes() {
        assert_eq!(
            WebhookUrl::parse("https://shop.example/hooks?x=1")
                .unwrap()
                .as_str(),
            "https://shop.example/hooks?x=1"
        );
        let literal = WebhookUrl::parse("http://0x7f.1:8080/").unwrap();
        assert_eq!(literal.ip_literal(), Some("127.0.0.1".parse().unwrap()));
        let v6 = WebhookUrl::parse("http://[::ffff:10.0.0.1]/").unwrap();
        assert_eq!(v6.ip_literal(), Some("::ffff:10.0.0.1".parse().unwrap()));
        assert_eq!(
            WebhookUrl::parse("https://shop.example/")
                .unwrap()
                .ip_literal(),
            None
        );
        assert_eq!(WebhookUrl::parse(" "), Err(UrlError::Empty));
        assert!(matches!(
            WebhookUrl::parse("/relative"),
            Err(UrlError::Malformed(_))
        ));
        assert!(matches!(
            WebhookUrl::parse("ftp://shop.example/"),
            Err(UrlError::Scheme(_))
        ));
        assert_eq!(
            WebhookUrl::parse("https://user:pw@shop.example/"),
            Err(UrlError::Userinfo)
        );
        assert_eq!(
            WebhookUrl::parse("https://user@shop.example/"),
            Err(UrlError::Userinfo)
        );
        let base = "https://shop.example/";
        let at_limit = format!("{base}{}", "a".repeat(URL_LEN_MAX - base.len()));
        assert!(WebhookUrl::parse(&at_limit).is_ok());
        let past = format!("{at_limit}a");
        assert!(matches!(
            WebhookUrl::parse(&past),
            Err(UrlError::TooLong { len: 2049, .. })
        ));
    }

    #[test]
    fn selectors_are_known_types_district_wildcards_or_everything() {
        let types =
            EventTypes::parse(&["order.placed".to_owned(), "payment.*".to_owned()]).unwrap();
        assert!(types.matches("order.placed"));
        assert!(!types.matches("order.cancelled"));
        assert!(types.matches("payment.captured"));
        assert!(!types.matches("paymentx.captured"));
        assert!(EventTypes::parse(&["*".to_owned()])
            .unwrap()
            .matches("catalog.price_set"));
        assert_eq!(types.to_strings(), ["order.placed", "payment.*"]);
        for known in known_event_types() {
            assert!(EventTypes::parse(&[known.to_owned()]).is_ok(), "{known}");
        }
        assert!(known_event_types().any(|t| t == "inventory.reserved"));
        assert!(known_event_types().any(|t| t == "catalog.product_created"));
    }

    #[test]
    fn unknown_repeated_empty_and_too_many_selectors_are_refused_with_pointers() {
        let issues = EventTypes::parse(&[
            "order.placed".to_owned(),
            "order.shipped".to_owned(),
            "nope.*".to_owned(),
            "order.placed".to_owned(),
            "order".to_owned(),
        ])
        .unwrap_err();
        let pointers: Vec<&str> = issues.iter().map(|i| i.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/event_types/1",
                "/event_types/2",
                "/event_types/3",
                "/event_types/4"
            ]
        );
        assert_eq!(
            EventTypes::parse(&[]).unwrap_err()[0].pointer,
            "/event_types"
        );
        // Fewer distinct selectors exist than the limit, so at the limit only the repeats are
        // refused (each at its index), and one past it the list as a whole.
        let at_limit = vec!["*".to_owned(); EVENT_TYPES_PER_ENDPOINT_MAX];
        let issues = EventTypes::parse(&at_limit).unwrap_err();
        assert_eq!(issues.len(), EVENT_TYPES_PER_ENDPOINT_MAX - 1);
        assert_eq!(issues[0].pointer, "/event_types/1");
        let past = vec!["*".to_owned(); EVENT_TYPES_PER_ENDPOINT_MAX + 1];
        let issues = EventTypes::parse(&past).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].pointer, "/event_types");
    }

    #[test]
    fn descriptions_are_limited_to_500_characters_without_control_characters() {
        assert!(Description::parse(&"é".repeat(DESCRIPTION_LEN_MAX)).is_ok());
        assert!(Description::parse(&"é".repeat(DESCRIPTION_LEN_MAX + 1)).is_err());
        assert!(Description::parse("line one\nline two").is_ok());
        assert!(Description::parse("bell\u{7}").is_err());
    }

    #[test]
    fn secrets_are_prefixed_random_and_never_debug_printed() {
        let a = SigningSecret::generate().unwrap();
        let b = SigningSecret::generate().unwrap();
        assert_ne!(a, b);
        let hex = a.expose().strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(hex.len(), 2 * SECRET_RANDOM_BYTES);
        assert!(hex.bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(!format!("{a:?}").contains(hex));
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for status in DeliveryStatus::ALL {
            assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(status));
        }
        assert!("failed".parse::<DeliveryStatus>().is_err());
    }
}
