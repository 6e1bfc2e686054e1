//! The `Kassa-Signature` header: Stripe's scheme, so receivers can reuse what they know.
//!
//! `Kassa-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`, where each `v1` is
//! `hex(HMAC-SHA256(key = secret as UTF-8 bytes, message = "<t>.<raw body>"))`. The secret is
//! the whole `whsec_…` string. While a rotated-out secret has not expired, a second `v1` is
//! signed with it, so a receiver still configured with the old secret keeps verifying; a
//! receiver accepts the request when any `v1` matches its secret, compares in constant time,
//! and refuses timestamps too far from its clock (Stripe's default tolerance is 5 minutes) to
//! stop replays.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's name.
pub const SIGNATURE_HEADER: &str = "Kassa-Signature";

/// The only scheme: HMAC-SHA256 over `<t>.<body>`.
pub const SCHEME: &str = "v1";

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The `v1` value for `body` sent at `timestamp_secs`, signed with `secret`.
pub fn sign(secret: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of every length (RFC 2104 hashes long ones), and so does the hmac
        // crate: this arm cannot be taken.
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    };
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// The whole header value: `t=…` then one `v1=…` per secret, in the order given (the current
/// secret first).
pub fn header_value(timestamp_secs: i64, body: &[u8], secrets: &[&str]) -> String {
    let mut value = format!("t={timestamp_secs}");
    for secret in secrets {
        value.push_str(&format!(",{SCHEME}={}", sign(secret, timestamp_secs, body)));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn the_header_lists_the_timestamp_then_one_signature_per_secret() {
        let value = header_value(1_700_000_000, b"{}", &["whsec_a", "whsec_b"]);
        let parts: Vec<&str> = value.split(',').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "t=1700000000");
        assert_eq!(
            parts[1],
            format!("v1={}", sign("whsec_a", 1_700_000_000, b"{}"))
        );
        assert_eq!(
            parts[2],
            format!("v1={}", sign("whsec_b", 1_700_000_000, b"{}"))
        );
        assert_ne!(parts[1], parts[2]);
    }
}
