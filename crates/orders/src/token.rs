//! Guest order tokens: the secret that opens one order for a shopper who checked out without
//! signing in (`Order-Token` header). Issued once, in the answer of the checkout that created
//! the order; only its SHA-256 is stored, so a leaked database does not leak usable tokens.

use sha2::{Digest, Sha256};

/// Every token starts with it, so a token in a log or a support ticket is recognisable.
pub const ORDER_TOKEN_PREFIX: &str = "ordtok_";

/// Random bytes in a token: 256 bits, so guessing one is hopeless.
const ORDER_TOKEN_BYTES: usize = 32;

/// Length of an issued token: the prefix and 32 bytes in unpadded base64url (43 characters).
/// A token of any other length is refused before hashing, so a huge header costs nothing.
pub const ORDER_TOKEN_LEN: usize = ORDER_TOKEN_PREFIX.len() + 43;

/// A new token from the operating system's random source.
pub(crate) fn generate() -> Result<String, getrandom::Error> {
    use base64::Engine as _;
    let mut bytes = [0_u8; ORDER_TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "{ORDER_TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// SHA-256 of `token` as 64 lowercase hex digits: what the store keeps.
pub(crate) fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether `given` is the token whose hash is `stored`. Compared in time that does not depend
/// on where the hashes differ, so response timing tells nothing about how close a guess was.
pub(crate) fn matches(stored: &str, given: &str) -> bool {
    if given.len() != ORDER_TOKEN_LEN {
        return false;
    }
    let given = hash(given);
    if given.len() != stored.len() {
        return false;
    }
    let difference = given
        .bytes()
        .zip(stored.bytes())
        .fold(0_u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_token_has_its_prefix_and_length_and_matches_only_its_hash() {
        let token = generate().unwrap();
        assert!(token.starts_with(ORDER_TOKEN_PREFIX));
        assert_eq!(token.len(), ORDER_TOKEN_LEN);
        let other = generate().unwrap();
        assert_ne!(token, other);
        let stored = hash(&token);
        assert!(matches(&stored, &token));
        assert!(!matches(&stored, &other));
        assert!(!matches(&stored, ""));
        assert!(!matches(&stored, &"x".repeat(10_000)));
    }

    #[test]
    fn hashes_are_sha256_in_lowercase_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
