//! The values an idempotency record is made of: the client's [`IdempotencyKey`], the caller's
//! [`Scope`], the request's [`Fingerprint`], the [`StoredResponse`] to replay, the [`Lease`] a
//! running request holds, and what [`crate::IdempotencyService::begin`] decides ([`Begin`]).
//!
//! Nothing here knows HTTP beyond what a response is made of (a status, a few headers, bytes):
//! reading the `Idempotency-Key` header, choosing the scope from the request's credentials and
//! choosing which headers to keep is the `api` crate's job.

use std::fmt;
use std::time::Duration;

use kassa_kernel::ids::{CustomerId, StaffId};
use kassa_kernel::Timestamp;
use sha2::{Digest, Sha256};

/// Longest key accepted, in characters: Stripe's limit, which the IETF draft's examples fit
/// and a UUID (36) or a ULID (26) fits with room to spare.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;

/// Largest response body stored for replay. The largest idempotent response is a JSON document
/// of a few KiB (an order with its lines); 1 MiB leaves room without letting one row grow past
/// what a replay should read back into memory.
pub const RESPONSE_BODY_BYTES_MAX: usize = 1024 * 1024;

/// Most response headers stored per record: the HTTP layer keeps only a few (`content-type`,
/// `location`); the bound keeps a mistake there from storing a whole header map.
pub const RESPONSE_HEADERS_MAX: usize = 8;

/// Default for [`IdempotencyConfig::ttl`]: 24 hours, the retention Stripe documents and
/// clients expect; a retry later than that is a new request.
pub const TTL_DEFAULT: Duration = Duration::from_secs(24 * 60 * 60);

/// Default for [`IdempotencyConfig::lease`]: 60 seconds, several times the longest a request
/// may run (`http.request_timeout_ms`, 10 s), so a live request never loses its claim, while a
/// request whose server died frees its key within a minute.
pub const LEASE_DEFAULT: Duration = Duration::from_secs(60);

/// Settings of the idempotency district, built by `server` from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyConfig {
    /// How long a record is kept after its first request; after that the key is unknown again
    /// and [`crate::IdempotencyService::purge`] deletes the row. Must be longer than `lease`.
    pub ttl: Duration,
    /// How long a running request holds its key before another request with the same
    /// fingerprint may take it over. Must outlast the longest request, or a slow request and
    /// its retry could both run.
    pub lease: Duration,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            ttl: TTL_DEFAULT,
            lease: LEASE_DEFAULT,
        }
    }
}

/// The client's name for one logical request (the IETF draft's `Idempotency-Key`): 1 to
/// [`IDEMPOTENCY_KEY_LEN_MAX`] printable ASCII characters (space to `~`), compared exactly.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a string is not an [`IdempotencyKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    #[error("The Idempotency-Key is empty.")]
    Empty,
    #[error(
        "The Idempotency-Key is {len} characters long; at most {IDEMPOTENCY_KEY_LEN_MAX} are \
         allowed."
    )]
    TooLong { len: usize },
    #[error("The Idempotency-Key may hold only printable ASCII characters (space to `~`).")]
    NotPrintable,
}

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<IdempotencyKey, IdempotencyKeyError> {
        if text.is_empty() {
            return Err(IdempotencyKeyError::Empty);
        }
        if !text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(IdempotencyKeyError::NotPrintable);
        }
        // All ASCII from here, so bytes are characters.
        if text.len() > IDEMPOTENCY_KEY_LEN_MAX {
            return Err(IdempotencyKeyError::TooLong { len: text.len() });
        }
        Ok(IdempotencyKey(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Keys are chosen by clients and may be guessable; logs show their length only.
impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey(<{} chars>)", self.0.len())
    }
}

/// Whose keys a key is among: two callers choosing the same key never see each other's
/// requests. Built only from what authenticated the request, so one caller cannot name
/// another's scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope(String);

impl Scope {
    /// `staff:<staff id>`.
    pub fn staff(id: StaffId) -> Scope {
        Scope(format!("staff:{id}"))
    }

    /// `customer:<customer id>`.
    pub fn customer(id: CustomerId) -> Scope {
        Scope(format!("customer:{id}"))
    }

    /// `cart-token:<SHA-256 of the token, lowercase hex>`: the holder of an anonymous cart's
    /// token. Only the hash is kept, so the table never holds a usable cart token.
    pub fn cart_token(token: &str) -> Scope {
        Scope(format!("cart-token:{}", sha256_hex(&[token.as_bytes()])))
    }

    /// A caller with no credentials at all. They share one scope, which is why a key should be
    /// a random value with enough entropy (the IETF draft recommends a UUID).
    pub fn anonymous() -> Scope {
        Scope("anonymous".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 over what makes a request this request (method, path with query, body), as 64
/// lowercase hex digits. A key reused for a request with another fingerprint is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Each part is preceded by its length, so no two different requests hash the same input
    /// (`/a` + `b` and `/ab` + `` differ).
    pub fn of_request(method: &str, path_and_query: &str, body: &[u8]) -> Fingerprint {
        Fingerprint(sha256_hex(&[
            method.as_bytes(),
            path_and_query.as_bytes(),
            body,
        ]))
    }

    /// A stored fingerprint: 64 lowercase hex digits, or `None`.
    pub fn from_hex(hex: &str) -> Option<Fingerprint> {
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| Fingerprint(hex.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of the parts, each preceded by its length as 8 big-endian bytes, in lowercase hex.
fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // usize fits u64 on every platform Rust supports.
        hasher.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(hex_digit(byte >> 4));
        hex.push(hex_digit(byte));
    }
    hex
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// A response as it is stored and replayed: status, the headers worth replaying, the body.
/// Never a server error: a 5xx is not an answer to remember, and the client may retry it with
/// the same key ([`crate::IdempotencyService::release`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Why a response cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredResponseError {
    #[error("status {0} is not stored: only 100 to 499 are (a 5xx is released instead)")]
    Status(u16),
    #[error("{count} headers; at most {RESPONSE_HEADERS_MAX} are stored")]
    TooManyHeaders { count: usize },
    #[error("a body of {len} bytes; at most {RESPONSE_BODY_BYTES_MAX} are stored")]
    BodyTooLarge { len: usize },
}

impl StoredResponse {
    /// Header names are kept as given; the HTTP layer passes them in lowercase.
    pub fn new(
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<StoredResponse, StoredResponseError> {
        if !(100..=499).contains(&status) {
            return Err(StoredResponseError::Status(status));
        }
        if headers.len() > RESPONSE_HEADERS_MAX {
            return Err(StoredResponseError::TooManyHeaders {
                count: headers.len(),
            });
        }
        if body.len() > RESPONSE_BODY_BYTES_MAX {
            return Err(StoredResponseError::BodyTooLarge { len: body.len() });
        }
        Ok(StoredResponse {
            status,
            headers,
            body,
        })
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// (name, value) pairs in the order they were stored.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// The claim a request holds on its key while it runs. Hand it back to
/// [`crate::IdempotencyService::complete`] or [`crate::IdempotencyService::release`]; the
/// `lease_id` makes sure only this request's claim is changed, never a later taker's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub(crate) scope: Scope,
    pub(crate) key: IdempotencyKey,
    pub(crate) lease_id: String,
    pub(crate) until: Timestamp,
}

impl Lease {
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub fn key(&self) -> &IdempotencyKey {
        &self.key
    }

    /// When another request with the same fingerprint may take the key over.
    pub fn until(&self) -> Timestamp {
        self.until
    }
}

/// What to do with a request that carries a key, as [`crate::IdempotencyService::begin`]
/// decided it. The two refusals (another fingerprint, still running) are errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is this request's now: run it, then `complete` or `release` the lease.
    Proceed(Lease),
    /// The key's first request completed with this response: answer with it, run nothing.
    Replay(StoredResponse),
}

/// A record's state, stored as TEXT with a CHECK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    Running,
    Completed,
}

impl RecordState {
    pub fn as_str(&self) -> &'static str {
        match self {
            RecordState::Running => "running",
            RecordState::Completed => "completed",
        }
    }
}

impl std::str::FromStr for RecordState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "running" => Ok(RecordState::Running),
            "completed" => Ok(RecordState::Completed),
            other => Err(format!("'{other}' is not an idempotency record state")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_1_to_255_printable_ascii_characters() {
        assert_eq!(IdempotencyKey::parse(""), Err(IdempotencyKeyError::Empty));
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(" ~!\"#").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(IDEMPOTENCY_KEY_LEN_MAX)).is_ok());
        assert_eq!(
            IdempotencyKey::parse(&"k".repeat(IDEMPOTENCY_KEY_LEN_MAX + 1)),
            Err(IdempotencyKeyError::TooLong { len: 256 })
        );
        for bad in ["a\tb", "a\nb", "clé", "\u{7f}"] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(IdempotencyKeyError::NotPrintable),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_key_is_not_printed_by_debug() {
        let key = IdempotencyKey::parse("secret-ish").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format!("{key:?}"), "IdempotencyKey(<10 chars>)");
    }

    #[test]
    fn scopes_name_the_caller_and_hash_cart_tokens() {
        assert_eq!(Scope::anonymous().as_str(), "anonymous");
        let staff = StaffId::new();
        assert_eq!(Scope::staff(staff).as_str(), format!("staff:{staff}"));
        let customer = CustomerId::new();
        assert_eq!(
            Scope::customer(customer).as_str(),
            format!("customer:{customer}")
        );
        let cart = Scope::cart_token("t0ken");
        let hash = cart
            .as_str()
            .strip_prefix("cart-token:")
            .unwrap_or_default();
        assert!(Fingerprint::from_hex(hash).is_some(), "{cart}");
        assert!(!cart.as_str().contains("t0ken"));
        assert_ne!(cart, Scope::cart_token("t0ken2"));
    }

    #[test]
    fn the_fingerprint_covers_method_path_and_body_without_ambiguity() {
        let base = Fingerprint::of_request("POST", "/v1/orders?x=1", b"{}");
        assert_eq!(
            base,
            Fingerprint::of_request("POST", "/v1/orders?x=1", b"{}")
        );
        assert!(Fingerprint::from_hex(base.as_str()).is_some());
        for other in [
            Fingerprint::of_request("PUT", "/v1/orders?x=1", b"{}"),
            Fingerprint::of_request("POST", "/v1/orders?x=2", b"{}"),
            Fingerprint::of_request("POST", "/v1/orders?x=1", b"{ }"),
            Fingerprint::of_request("POST", "/v1/orders?x=1{", b"}"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn a_stored_fingerprint_must_be_64_lowercase_hex_digits() {
        assert!(Fingerprint::from_hex(&"a".repeat(64)).is_some());
        assert!(Fingerprint::from_hex(&"a".repeat(63)).is_none());
        assert!(Fingerprint::from_hex(&"A".repeat(64)).is_none());
        assert!(Fingerprint::from_hex(&"g".repeat(64)).is_none());
    }

    #[test]
    fn only_statuses_below_500_and_bounded_responses_are_stored() {
        assert!(StoredResponse::new(201, Vec::new(), Vec::new()).is_ok());
        assert!(StoredResponse::new(499, Vec::new(), Vec::new()).is_ok());
        assert_eq!(
            StoredResponse::new(500, Vec::new(), Vec::new()),
            Err(StoredResponseError::Status(500))
        );
        assert_eq!(
            StoredResponse::new(99, Vec::new(), Vec::new()),
            Err(StoredResponseError::Status(99))
        );
        let headers = vec![("x".to_owned(), "y".to_owned()); RESPONSE_HEADERS_MAX + 1];
        assert!(StoredResponse::new(200, headers, Vec::new()).is_err());
        let at_limit = vec![0; RESPONSE_BODY_BYTES_MAX];
        assert!(StoredResponse::new(200, Vec::new(), at_limit).is_ok());
        let over = vec![0; RESPONSE_BODY_BYTES_MAX + 1];
        assert!(StoredResponse::new(200, Vec::new(), over).is_err());
    }

    #[test]
    fn record_states_round_trip_through_text() {
        for state in [RecordState::Running, RecordState::Completed] {
            assert_eq!(state.as_str().parse::<RecordState>(), Ok(state));
        }
        assert!("done".parse::<RecordState>().is_err());
    }
}
