//! Tokens: short-lived signed access tokens (JWT) and opaque refresh tokens.
//!
//! **Access tokens** are JWTs (RFC 7519) signed with HMAC-SHA256 (`HS256`), written and
//! checked here by hand so that exactly one algorithm is ever accepted. The header is always
//! `{"alg":"HS256","typ":"JWT"}`; the claims are
//! `{"iss":"kassa","aud":"kassa","sub":"cus_…|staff_…","sid":"sess_…","kind":"customer"|"staff","iat":…,"exp":…}`
//! with times in seconds since the epoch. They live [`ACCESS_TOKEN_TTL_SECS_DEFAULT`] (15
//! minutes) unless configured otherwise. Verification refuses, in this order: a token longer than
//! [`ACCESS_TOKEN_LEN_MAX`]; anything but three unpadded base64url parts; a header that is not
//! exactly HS256 (`alg: none`, `HS512`, `RS256`, unknown header fields such as `crit` — all
//! before the signature is looked at); a signature that does not verify, in constant time,
//! under the current secret or the previous one (kept during a rotation); claims that do not
//! parse, name another issuer or audience, have expired by the injected clock, or whose `sub`
//! is not an id of the kind `kind` names. Valid means `now < exp`.
//!
//! **Refresh tokens** are 32 random bytes in unpadded base64url; only their SHA-256 is stored,
//! so a leaked database holds no usable token. Looking one up by its hash needs no
//! constant-time comparison: the hash of a guess reveals nothing about stored tokens.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use kassa_kernel::ids::{CustomerId, SessionId, StaffId};
use kassa_kernel::Timestamp;
use sha2::{Digest, Sha256};

use crate::error::TokenRefusal;
use crate::model::{Subject, SubjectKind};

type HmacSha256 = Hmac<Sha256>;

/// Access token lifetime unless configured: 15 minutes. Sign-out and revocation take effect at
/// once anyway, because every authentication also checks the session in the store; the short
/// lifetime bounds how long a copied token is worth having, and how long the previous secret
/// must be kept after a key rotation (one lifetime).
pub const ACCESS_TOKEN_TTL_SECS_DEFAULT: u32 = 15 * 60;
/// Refresh token lifetime unless configured: 30 days. Each use rotates it, so a session stays
/// signed in as long as it is used at least once a month.
pub const REFRESH_TOKEN_TTL_SECS_DEFAULT: u32 = 30 * 24 * 60 * 60;
/// Shortest signing secret: 32 bytes, the output size of SHA-256, as RFC 7518 §3.2 requires
/// for HS256.
pub const JWT_SECRET_LEN_MIN: usize = 32;
/// Longest access token looked at: ours are about 330 characters; anything much longer is
/// refused before decoding, so a huge header costs nothing.
pub const ACCESS_TOKEN_LEN_MAX: usize = 1_024;
/// Random bytes in a refresh token: 256 bits.
pub const REFRESH_TOKEN_BYTES: usize = 32;
/// Length of a refresh token as issued: 32 bytes in unpadded base64url.
pub const REFRESH_TOKEN_LEN: usize = 43;

/// The issuer and audience of every access token.
const ISSUER: &str = "kassa";
/// The only header we write or accept, as its JSON.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The key access tokens are signed with. At least [`JWT_SECRET_LEN_MIN`] bytes; `Debug` does
/// not print it.
#[derive(Clone)]
pub struct JwtSecret(Vec<u8>);

/// Why a configured secret is refused. Never echoes the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtSecretError {
    #[error("the JWT secret must be at least {min} bytes long")]
    TooShort { min: usize },
}

impl JwtSecret {
    /// A random secret for a zero-configuration start. Tokens signed with it stop working
    /// when the process restarts; configure a secret to keep sessions across restarts and to
    /// share them between nodes.
    pub fn generate() -> Result<JwtSecret, getrandom::Error> {
        let mut bytes = vec![0_u8; 48];
        getrandom::fill(&mut bytes)?;
        Ok(JwtSecret(bytes))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<JwtSecret, JwtSecretError> {
        if bytes.len() < JWT_SECRET_LEN_MIN {
            return Err(JwtSecretError::TooShort {
                min: JWT_SECRET_LEN_MIN,
            });
        }
        Ok(JwtSecret(bytes))
    }

    /// HMAC takes keys of any length, so this does not fail in practice; the error exists
    /// because the `Mac` trait also serves fixed-size keys.
    fn mac(&self) -> Result<HmacSha256, SigningError> {
        HmacSha256::new_from_slice(&self.0).map_err(|_| SigningError::Key)
    }
}

impl FromStr for JwtSecret {
    type Err = JwtSecretError;

    /// The UTF-8 bytes of the configured text (e.g. the output of `openssl rand -base64 48`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JwtSecret::from_bytes(s.as_bytes().to_vec())
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

/// A signed access token as issued. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// The token to hand to the client. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// A refresh token as issued. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    pub(crate) fn generate() -> Result<RefreshToken, getrandom::Error> {
        let mut bytes = [0_u8; REFRESH_TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(RefreshToken(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The token to hand to the client. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// SHA-256 of a refresh token in lowercase hex: what the store keeps and looks up.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TokenHash(String);

impl TokenHash {
    pub(crate) fn of(token: &str) -> TokenHash {
        let digest = Sha256::digest(token.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push_str(&format!("{byte:02x}"));
        }
        TokenHash(hex)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// What an access token says, once verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AccessClaims {
    pub subject: Subject,
    pub session: SessionId,
    pub issued_at_secs: i64,
    pub expires_at_secs: i64,
}

/// The claims as JSON. Unknown claims are ignored (a newer node may add one); the header is
/// where strictness matters.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireClaims {
    iss: String,
    aud: String,
    sub: String,
    sid: String,
    kind: String,
    iat: i64,
    exp: i64,
}

/// The header as JSON: exactly `alg` and optionally `typ`; any other field (`crit`, `kid`,
/// `jku`, …) is refused rather than ignored.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

/// Why an access token could not be signed: a bug, never the caller's fault.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("the claims could not be serialised")]
    Json(#[from] serde_json::Error),
    #[error("HMAC refused the key")]
    Key,
}

/// Signs `claims` with `secret`.
pub(crate) fn encode(
    secret: &JwtSecret,
    claims: &AccessClaims,
) -> Result<AccessToken, SigningError> {
    let wire = WireClaims {
        iss: ISSUER.to_owned(),
        aud: ISSUER.to_owned(),
        sub: claims.subject.id_string(),
        sid: claims.session.to_string(),
        kind: claims.subject.kind().as_str().to_owned(),
        iat: claims.issued_at_secs,
        exp: claims.expires_at_secs,
    };
    let payload = serde_json::to_vec(&wire)?;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER_JSON),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = secret.mac()?;
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Ok(AccessToken(format!("{signing_input}.{signature}")))
}

/// Verifies `token` against `secrets` (current first, then previous) and the clock. See the
/// module documentation for the order of checks.
pub(crate) fn decode(
    token: &str,
    secrets: &[&JwtSecret],
    now: Timestamp,
) -> Result<AccessClaims, TokenRefusal> {
    if token.len() > ACCESS_TOKEN_LEN_MAX {
        return Err(TokenRefusal::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRefusal::Malformed);
    };
    check_header(header)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenRefusal::Malformed)?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let verified = secrets.iter().any(|secret| {
        secret.mac().is_ok_and(|mut mac| {
            mac.update(signing_input.as_bytes());
            mac.verify_slice(&signature).is_ok()
        })
    });
    if !verified {
        return Err(TokenRefusal::BadSignature);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenRefusal::Malformed)?;
    let wire: WireClaims = serde_json::from_slice(&payload).map_err(|_| TokenRefusal::Malformed)?;
    check_claims(wire, now)
}

fn check_header(header: &str) -> Result<(), TokenRefusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenRefusal::Malformed)?;
    let header: WireHeader =
        serde_json::from_slice(&bytes).map_err(|_| TokenRefusal::UnsupportedHeader)?;
    let typ_ok = header.typ.as_deref().is_none_or(|typ| typ == "JWT");
    if header.alg != "HS256" || !typ_ok {
        return Err(TokenRefusal::UnsupportedHeader);
    }
    Ok(())
}

fn check_claims(wire: WireClaims, now: Timestamp) -> Result<AccessClaims, TokenRefusal> {
    if wire.iss != ISSUER || wire.aud != ISSUER {
        return Err(TokenRefusal::WrongIssuerOrAudience);
    }
    // Valid while now < exp, compared in milliseconds so the last second is not cut short.
    if now.millis() >= wire.exp.saturating_mul(1_000) {
        return Err(TokenRefusal::Expired);
    }
    let subject = match wire.kind.parse::<SubjectKind>() {
        Ok(SubjectKind::Customer) => wire.sub.parse::<CustomerId>().map(Subject::Customer),
        Ok(SubjectKind::Staff) => wire.sub.parse::<StaffId>().map(Subject::Staff),
        Err(_) => return Err(TokenRefusal::BadSubject),
    }
    .map_err(|_| TokenRefusal::BadSubject)?;
    let session = wire
        .sid
        .parse::<SessionId>()
        .map_err(|_| TokenRefusal::Malformed)?;
    Ok(AccessClaims {
        subject,
        session,
        issued_at_secs: wire.iat,
        expires_at_secs: wire.exp,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_795_000_000_000;

    fn secret(byte: u8) -> JwtSecret {
        JwtSecret::from_bytes(vec![byte; 32]).unwrap()
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            subject: Subject::Customer(CustomerId::new()),
            session: SessionId::new(),
            issued_at_secs: NOW_MS / 1_000,
            expires_at_secs: NOW_MS / 1_000 + 900,
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_millis(NOW_MS)
    }

    /// A token with `header` and `payload` JSON, signed with `secret` over exactly what is
    /// sent — what an attacker holding the key, or a library with other defaults, would make.
    fn forge(header: &str, payload: &str, secret: &JwtSecret) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut mac = secret.mac().unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    fn payload_of(token: &str) -> String {
        let part = token.split('.').nth(1).unwrap();
        String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_token_round_trips_with_the_documented_header_and_claims() {
        let claims = claims();
        let token = encode(&secret(1), &claims).unwrap();
        let header = token.expose().split('.').next().unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(header).unwrap(),
            HEADER_JSON.as_bytes()
        );
        let payload: serde_json::Value = serde_json::from_str(&payload_of(token.expose())).unwrap();
        assert_eq!(payload["iss"], "kassa");
        assert_eq!(payload["aud"], "kassa");
        assert_eq!(payload["kind"], "customer");
        assert_eq!(payload["sub"], claims.subject.id_string());
        assert_eq!(payload["sid"], claims.session.to_string());
        assert_eq!(payload["exp"], claims.expires_at_secs);
        assert_eq!(decode(token.expose(), &[&secret(1)], now()), Ok(claims));
        assert!(token.expose().len() < ACCESS_TOKEN_LEN_MAX);
    }

    #[test]
    fn a_token_is_valid_until_one_millisecond_before_exp() {
        let claims = claims();
        let token = encode(&secret(1), &claims).unwrap();
        let exp_ms = claims.expires_at_secs * 1_000;
        let at = |ms| decode(token.expose(), &[&secret(1)], Timestamp::from_millis(ms));
        assert!(at(exp_ms - 1).is_ok());
        assert_eq!(at(exp_ms), Err(TokenRefusal::Expired));
    }

    #[test]
    fn the_previous_secret_verifies_but_other_keys_do_not() {
        let token = encode(&secret(1), &claims()).unwrap();
        assert!(decode(token.expose(), &[&secret(2), &secret(1)], now()).is_ok());
        assert_eq!(
            decode(token.expose(), &[&secret(2)], now()),
            Err(TokenRefusal::BadSignature)
        );
    }

    #[test]
    fn other_algorithms_are_refused_before_the_signature() {
        let payload = payload_of(encode(&secret(1), &claims()).unwrap().expose());
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"alg":"hs256","typ":"JWT"}"#,
            r#"{"alg":"HS256","typ":"JWE"}"#,
            r#"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#,
            r#"{"typ":"JWT"}"#,
        ] {
            // Correctly signed with the right key, still refused for the header alone.
            let token = forge(header, &payload, &secret(1));
            assert_eq!(
                decode(&token, &[&secret(1)], now()),
                Err(TokenRefusal::UnsupportedHeader),
                "{header}"
            );
        }
        // An unsigned token: `alg: none` with an empty signature.
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(&payload)
        );
        assert_eq!(
            decode(&unsigned, &[&secret(1)], now()),
            Err(TokenRefusal::UnsupportedHeader)
        );
        // HS256 with its signature removed.
        let token = encode(&secret(1), &claims()).unwrap();
        let stripped = token.expose().rsplit_once('.').unwrap().0.to_owned() + ".";
        assert_eq!(
            decode(&stripped, &[&secret(1)], now()),
            Err(TokenRefusal::BadSignature)
        );
    }

    #[test]
    fn tampering_with_the_payload_or_signature_is_detected() {
        let claims = claims();
        let token = encode(&secret(1), &claims).unwrap();
        let parts: Vec<&str> = token.expose().split('.').collect();
        let longer = payload_of(token.expose()).replace(
            &format!("\"exp\":{}", claims.expires_at_secs),
            &format!("\"exp\":{}", claims.expires_at_secs + 86_400),
        );
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(longer),
            parts[2]
        );
        assert_eq!(
            decode(&tampered, &[&secret(1)], now()),
            Err(TokenRefusal::BadSignature)
        );
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[0] ^= 1;
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(signature)
        );
        assert_eq!(
            decode(&tampered, &[&secret(1)], now()),
            Err(TokenRefusal::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let token = encode(&secret(1), &claims()).unwrap();
        let parts: Vec<&str> = token.expose().split('.').collect();
        let cases = [
            String::new(),
            format!("{}.{}", parts[0], parts[1]),
            format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[2]),
            format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
            format!("{}.{}.!!!", parts[0], parts[1]),
            format!("***.{}.{}", parts[1], parts[2]),
        ];
        for case in &cases {
            assert_eq!(
                decode(case, &[&secret(1)], now()),
                Err(TokenRefusal::Malformed),
                "{case}"
            );
        }
        // Signed correctly but the payload is not our JSON.
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        for payload in ["not json", "{}", r#"{"iss":"kassa"}"#] {
            assert_eq!(
                decode(&forge(header, payload, &secret(1)), &[&secret(1)], now()),
                Err(TokenRefusal::Malformed),
                "{payload}"
            );
        }
        assert_eq!(
            decode(&"a".repeat(ACCESS_TOKEN_LEN_MAX + 1), &[&secret(1)], now()),
            Err(TokenRefusal::TooLong)
        );
    }

    #[test]
    fn issuer_audience_and_subject_kind_are_checked() {
        let claims = claims();
        let payload = payload_of(encode(&secret(1), &claims).unwrap().expose());
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let check =
            |payload: String| decode(&forge(header, &payload, &secret(1)), &[&secret(1)], now());
        assert_eq!(
            check(payload.replace("\"iss\":\"kassa\"", "\"iss\":\"other\"")),
            Err(TokenRefusal::WrongIssuerOrAudience)
        );
        assert_eq!(
            check(payload.replace("\"aud\":\"kassa\"", "\"aud\":\"other\"")),
            Err(TokenRefusal::WrongIssuerOrAudience)
        );
        assert_eq!(
            check(payload.replace("\"kind\":\"customer\"", "\"kind\":\"staff\"")),
            Err(TokenRefusal::BadSubject)
        );
        assert_eq!(
            check(payload.replace("\"kind\":\"customer\"", "\"kind\":\"admin\"")),
            Err(TokenRefusal::BadSubject)
        );
    }

    #[test]
    fn secrets_are_at_least_32_bytes_and_never_printed() {
        assert_eq!(
            "x".repeat(31).parse::<JwtSecret>().unwrap_err(),
            JwtSecretError::TooShort { min: 32 }
        );
        let secret: JwtSecret = "s".repeat(32).parse().unwrap();
        assert_eq!(format!("{secret:?}"), "JwtSecret(<redacted>)");
        assert_eq!(JwtSecret::generate().unwrap().0.len(), 48);
    }

    #[test]
    fn refresh_tokens_are_43_url_safe_characters_hashed_with_sha256() {
        let token = RefreshToken::generate().unwrap();
        assert_eq!(token.expose().len(), REFRESH_TOKEN_LEN);
        assert!(token
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(token, RefreshToken::generate().unwrap());
        assert!(!format!("{token:?}").contains(token.expose()));
        // SHA-256("abc"), from FIPS 180-2.
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
