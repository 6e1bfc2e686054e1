//! Stripe webhooks: checking the `Stripe-Signature` header (payments-facts §1) and reading the
//! `Event` envelope. The route that receives them is `POST /v1/webhooks/stripe` (api
//! `routes/gateway.rs`); the inbox that applies each event once is payments'
//! `service/webhook.rs`.
//!
//! The scheme, as Stripe's libraries implement it: the header is `t=<unix seconds>` plus one or
//! more `v1=<hex>` items (one per active secret while a secret is rolled); other schemes (`v0`)
//! are ignored, and a header without `v1` is refused, so there is nothing to downgrade to. The
//! signature is `hex(HMAC-SHA256(secret, "<t>.<raw body>"))`, with the whole secret string,
//! `whsec_` prefix included, as the key. Each `v1` is compared in constant time against each of
//! our secrets; any match is enough.
//!
//! One deliberate difference: Stripe's libraries refuse only timestamps older than the
//! tolerance and accept any in the future. Here the window holds both ways: a signing time
//! further ahead than the tolerance means our clock or the sender is wrong, and accepting it
//! would stretch the replay window by the same amount. Duplicates inside the window are the
//! inbox's job (deduplication by event id).

use hmac::{Hmac, Mac};
use kassa_kernel::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use std::time::Duration;

use super::wire::{Charge, Dispute, PaymentIntent, Refund};

type HmacSha256 = Hmac<Sha256>;

/// Longest `Stripe-Signature` header read. A header with a few signatures is about 250 bytes;
/// the bound keeps a hostile one from costing many HMAC comparisons.
pub const SIGNATURE_HEADER_LEN_MAX: usize = 4096;
/// Most `v1` signatures compared: Stripe sends one per active secret (two while rolling).
pub const SIGNATURES_MAX: usize = 8;

/// Why a webhook's signature was not accepted. Never holds a secret or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no webhook signing secret is configured")]
    NoSecrets,
    #[error("the Stripe-Signature header is longer than {SIGNATURE_HEADER_LEN_MAX} bytes")]
    HeaderTooLong,
    #[error("the Stripe-Signature header has no valid t= timestamp")]
    MissingTimestamp,
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1Signature,
    #[error("the Stripe-Signature header has more than {SIGNATURES_MAX} v1 signatures")]
    TooManySignatures,
    #[error("the webhook was signed at {signed_at} s, outside the tolerance of {tolerance_secs} s around now ({now_secs} s)")]
    OutsideTolerance {
        signed_at: i64,
        now_secs: i64,
        tolerance_secs: u64,
    },
    #[error("no v1 signature matches the body with any configured secret")]
    NoMatch,
}

/// Checks a webhook delivery: `header` is the `Stripe-Signature` value, `raw_body` the bytes
/// exactly as received (before any JSON parsing), `secrets` every secret the endpoint may be
/// signed with, `now` from the `Clock`.
pub fn verify_signature(
    header: &str,
    raw_body: &[u8],
    secrets: &[SecretString],
    now: Timestamp,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets);
    }
    if header.len() > SIGNATURE_HEADER_LEN_MAX {
        return Err(SignatureError::HeaderTooLong);
    }
    let (timestamp, signatures) = parse_header(header)?;
    let tolerance_ms = i64::try_from(tolerance.as_millis()).unwrap_or(i64::MAX);
    let signed_ms = timestamp.saturating_mul(1000);
    if now.millis().saturating_sub(signed_ms).saturating_abs() > tolerance_ms {
        return Err(SignatureError::OutsideTolerance {
            signed_at: timestamp,
            now_secs: now.millis().div_euclid(1000),
            tolerance_secs: tolerance.as_secs(),
        });
    }
    for secret in secrets {
        // HMAC takes keys of any length, so this cannot fail.
        let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose_secret().as_bytes()) else {
            continue;
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(raw_body);
        for signature in &signatures {
            // `verify_slice` compares in constant time.
            if mac.clone().verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::NoMatch)
}

/// The timestamp and the decoded `v1` signatures. Items are `key=value` separated by commas;
/// unknown keys (`v0`) are skipped; a `v1` that is not hex can match nothing and is dropped.
fn parse_header(header: &str) -> Result<(i64, Vec<Vec<u8>>), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        match key.trim() {
            "t" => timestamp = value.trim().parse::<i64>().ok(),
            "v1" => {
                if signatures.len() == SIGNATURES_MAX {
                    return Err(SignatureError::TooManySignatures);
                }
                if let Some(bytes) = decode_hex(value.trim()) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    Ok((timestamp, signatures))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16);
    text.as_bytes()
        .chunks(2)
        .map(|pair| u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok())
        .collect()
}

/// A Stripe event, with its object typed when kassa reads that kind of object.
#[derive(Debug, Clone)]
pub struct Event {
    /// `evt_…`: the inbox deduplicates by it (Stripe delivers at least once).
    pub id: String,
    /// `payment_intent.succeeded`, `charge.refunded`, …
    pub event_type: String,
    /// When Stripe created the event, Unix seconds.
    pub created: i64,
    pub livemode: bool,
    /// The API version `object` is rendered in (the account's at the time, not ours).
    pub api_version: Option<String>,
    pub object: EventObject,
}

impl Event {
    pub fn created_at(&self) -> Timestamp {
        Timestamp::from_millis(self.created.saturating_mul(1000))
    }
}

/// `data.object`, by its `object` field.
#[derive(Debug, Clone)]
pub enum EventObject {
    PaymentIntent(Box<PaymentIntent>),
    Charge(Box<Charge>),
    Refund(Box<Refund>),
    Dispute(Box<Dispute>),
    /// Any other kind (`plan`, `customer`, …), kept only by name.
    Other {
        object: String,
    },
}

/// Why a webhook body is not an event kassa can read.
#[derive(Debug, thiserror::Error)]
pub enum EventParseError {
    #[error("the webhook body is not a Stripe event: {0}")]
    Envelope(#[source] serde_json::Error),
    #[error("the {object} in event {event_id} cannot be read: {source}")]
    Object {
        event_id: String,
        object: String,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    created: i64,
    #[serde(default)]
    livemode: bool,
    #[serde(default)]
    api_version: Option<String>,
    data: RawData,
}

#[derive(Deserialize)]
struct RawData {
    object: serde_json::Map<String, serde_json::Value>,
}

/// Reads an event from a webhook body (after [`verify_signature`]).
pub fn parse_event(raw_body: &[u8]) -> Result<Event, EventParseError> {
    let raw: RawEvent = serde_json::from_slice(raw_body).map_err(EventParseError::Envelope)?;
    let kind = raw
        .data
        .object
        .get("object")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .to_owned();
    let value = serde_json::Value::Object(raw.data.object);
    let typed = |source| EventParseError::Object {
        event_id: raw.id.clone(),
        object: kind.clone(),
        source,
    };
    let object = match kind.as_str() {
        "payment_intent" => {
            EventObject::PaymentIntent(serde_json::from_value(value).map_err(typed)?)
        }
        "charge" => EventObject::Charge(serde_json::from_value(value).map_err(typed)?),
        "refund" => EventObject::Refund(serde_json::from_value(value).map_err(typed)?),
        "dispute" => EventObject::Dispute(serde_json::from_value(value).map_err(typed)?),
        _ => EventObject::Other {
            object: kind.clone(),
        },
    };
    Ok(Event {
        id: raw.id,
        event_type: raw.event_type,
        created: raw.created,
        livemode: raw.livemode,
        api_version: raw.api_version,
        object,
    })
}

/// Why a webhook delivery was refused: not signed by Stripe, or not an event.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Parse(#[from] EventParseError),
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        br#"{"id":"evt_test_webhook","object":"event","type":"payment_intent.succeeded"}"#;
    const V1: &str = "130dc37d5a27b1b232a61e4f2ff00ed245f498112c11e8b747aff3d0fb754056";
    const T: i64 = 1_700_000_000;

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter().map(|s| SecretString::from(*s)).collect()
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    fn verify(header: &str, now_secs: i64) -> Result<(), SignatureError> {
        verify_signature(
            header,
            BODY,
            &secrets(&["whsec_test_secret"]),
            at(now_secs),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn the_tolerance_holds_both_ways_up_to_its_edge() {
        let header = format!("t={T},v1={V1}");
        assert_eq!(verify(&header, T), Ok(()));
        assert_eq!(verify(&header, T + 300), Ok(()));
        assert_eq!(verify(&header, T - 300), Ok(()));
        assert!(matches!(
            verify(&header, T + 301),
            Err(SignatureError::OutsideTolerance { .. })
        ));
        assert!(matches!(
            verify(&header, T - 301),
            Err(SignatureError::OutsideTolerance { .. })
        ));
    }

    #[test]
    fn malformed_headers_are_refused_with_their_reason() {
        assert_eq!(
            verify(&format!("v1={V1}"), T),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify(&format!("t=abc,v1={V1}"), T),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify(&format!("t={T}"), T),
            Err(SignatureError::NoV1Signature)
        );
        assert_eq!(
            verify(&format!("t={T},v1=zz{V1}"), T),
            Err(SignatureError::NoV1Signature)
        );
        assert_eq!(
            verify(&format!("t={T},v1={}", &V1[1..]), T),
            Err(SignatureError::NoV1Signature)
        );
        let many = format!("t={T}{}", format!(",v1={V1}").repeat(SIGNATURES_MAX + 1));
        assert_eq!(verify(&many, T), Err(SignatureError::TooManySignatures));
        let long = format!("t={T},v1={V1},x={}", "a".repeat(SIGNATURE_HEADER_LEN_MAX));
        assert_eq!(verify(&long, T), Err(SignatureError::HeaderTooLong));
        assert_eq!(
            verify_signature(
                &format!("t={T},v1={V1}"),
                BODY,
                &[],
                at(T),
                Duration::from_secs(300)
            ),
            Err(SignatureError::NoSecrets)
        );
    }

    #[test]
    fn a_wrong_secret_or_a_flipped_bit_does_not_match() {
        assert_eq!(
            verify_signature(
                &format!("t={T},v1={V1}"),
                BODY,
                &secrets(&["whsec_other"]),
                at(T),
                Duration::from_secs(300)
            ),
            Err(SignatureError::NoMatch)
        );
        let flipped = format!("{}{}", &V1[..63], if V1.ends_with('6') { '7' } else { '6' });
        assert_eq!(
            verify(&format!("t={T},v1={flipped}"), T),
            Err(SignatureError::NoMatch)
        );
        // The timestamp is signed too.
        assert_eq!(
            verify(&format!("t={},v1={V1}", T + 1), T),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn hex_decoding_takes_both_cases_and_refuses_the_rest() {
        assert_eq!(decode_hex("00fFa1"), Some(vec![0, 255, 161]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(decode_hex(""), Some(vec![]));
    }

    #[test]
    fn events_of_other_objects_are_kept_by_name_and_broken_ones_refused() {
        let event = parse_event(
            br#"{"id":"evt_1","type":"plan.created","created":5,"data":{"object":{"object":"plan","id":"price_1"}}}"#,
        )
        .unwrap();
        assert_eq!(event.event_type, "plan.created");
        assert_eq!(event.created_at(), Timestamp::from_millis(5000));
        assert!(matches!(event.object, EventObject::Other { ref object } if object == "plan"));
        let broken = parse_event(
            br#"{"id":"evt_2","type":"charge.refunded","created":5,"data":{"object":{"object":"charge","id":"ch_1"}}}"#,
        )
        .unwrap_err();
        assert!(broken.to_string().contains("evt_2"), "{broken}");
        assert!(matches!(
            parse_event(b"[]"),
            Err(EventParseError::Envelope(_))
        ));
    }
}
