//! Cart tokens: the secret that opens an anonymous cart, and how it is compared. Who may use
//! which cart is decided in [`super::access`].

use std::fmt;

use sha2::{Digest, Sha256};

/// Random bytes in a cart token: 256 bits, so guessing one is hopeless.
pub const CART_TOKEN_BYTES: usize = 32;
/// Length of a token as issued: 32 bytes in unpadded base64url are 43 characters. A token of
/// any other length is refused before hashing, so a huge header costs nothing.
pub const CART_TOKEN_LEN: usize = 43;

/// The secret that lets an anonymous shopper use their cart, issued once by
/// [`crate::CartService::create_cart`]. Only its SHA-256 is stored, so a leaked database does
/// not leak usable tokens. `Debug` does not print it, and it has no `==`: tokens are compared
/// only as hashes, in constant time.
#[derive(Clone)]
pub struct CartToken(String);

impl CartToken {
    /// 32 bytes from the operating system's random source, in unpadded base64url.
    pub(crate) fn generate() -> Result<CartToken, getrandom::Error> {
        use base64::Engine as _;
        let mut bytes = [0_u8; CART_TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(CartToken(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// The token to hand to the shopper. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for CartToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CartToken(<redacted>)")
    }
}

/// SHA-256 of a cart token, as 64 lowercase hex digits: what the store keeps.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TokenHash(String);

impl TokenHash {
    /// Length of the hex form of a SHA-256.
    pub(crate) const LEN: usize = 64;

    pub(crate) fn of(token: &str) -> TokenHash {
        let digest = Sha256::digest(token.as_bytes());
        let mut hex = String::with_capacity(Self::LEN);
        for byte in digest {
            hex.push(hex_digit(byte >> 4));
            hex.push(hex_digit(byte & 0x0f));
        }
        TokenHash(hex)
    }

    /// The hash of a token as a shopper sent it; `None` for one that cannot be a token we
    /// issued (the wrong length), which is refused before hashing.
    pub(crate) fn of_given(token: &str) -> Option<TokenHash> {
        (token.len() == CART_TOKEN_LEN).then(|| TokenHash::of(token))
    }

    /// A stored hash; `None` if it is not 64 lowercase hex digits.
    pub(crate) fn from_stored(hex: String) -> Option<TokenHash> {
        let valid = hex.len() == Self::LEN
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then_some(TokenHash(hex))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in time that does not depend on where the hashes differ, so response timing
    /// tells an attacker nothing about how close a guess was.
    pub(crate) fn matches(&self, other: &TokenHash) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// Equal lengths are compared by OR-ing the XOR of every byte pair, with no early exit; the
/// lengths themselves are public (both are always 64).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_cart_token_is_43_url_safe_characters_and_debug_hides_it() {
        let token = CartToken::generate().unwrap();
        assert_eq!(token.expose().len(), CART_TOKEN_LEN);
        assert!(token
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(token.expose(), CartToken::generate().unwrap().expose());
        let debug = format!("{token:?}");
        assert!(!debug.contains(token.expose()), "{debug}");
    }

    #[test]
    fn a_token_matches_only_its_own_hash() {
        let token = CartToken::generate().unwrap();
        let given = TokenHash::of_given(token.expose()).unwrap();
        assert!(given.matches(&token.hash()));
        let other = CartToken::generate().unwrap();
        assert!(!TokenHash::of_given(other.expose())
            .unwrap()
            .matches(&token.hash()));
        assert!(TokenHash::of_given("").is_none());
        assert!(TokenHash::of_given(&"x".repeat(10_000)).is_none());
    }

    #[test]
    fn token_hashes_are_sha256_in_lowercase_hex() {
        // SHA-256("abc"), from FIPS 180-2.
        let hash = TokenHash::of("abc");
        assert_eq!(
            hash.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(TokenHash::from_stored(hash.as_str().to_owned()), Some(hash));
        assert_eq!(TokenHash::from_stored("AB".repeat(32)), None);
        assert_eq!(TokenHash::from_stored("ab".into()), None);
    }

    #[test]
    fn constant_time_comparison_needs_equal_length_and_bytes() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
