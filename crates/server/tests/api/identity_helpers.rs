//! Small helpers shared by the identity and access tests (`identity`, `permissions`,
//! `ownership`): accounts with a known password, bearer requests, and taking a JWT apart and
//! putting it back together, byte for byte, so a test can change exactly one thing in it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{TestApp, TestResponse};

/// A password every rule of the policy accepts, for every account the tests create.
pub const PASSWORD: &str = "Velvet-Otter-Marmalade-42";
/// Another acceptable password, for password changes.
pub const NEW_PASSWORD: &str = "Quiet-Harbour-Lantern-77";
/// The test clock's start (`helpers::CLOCK_START_RFC3339`) in seconds: `iat` of a fresh token.
pub const CLOCK_START_SECS: i64 = 1_795_000_000;
/// The documented access token lifetime: 15 minutes.
pub const ACCESS_TTL_SECS: i64 = 900;
/// The documented refresh token lifetime: 30 days.
pub const REFRESH_TTL_SECS: i64 = 2_592_000;

/// What a sign-in (or a refresh) handed out.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub session_id: String,
    /// The whole 200 body.
    pub body: Value,
}

impl Tokens {
    /// The tokens of a 200 sign-in or refresh answer; panics on anything else.
    #[track_caller]
    pub fn from_response(res: &TestResponse) -> Tokens {
        let body = res.assert_status(200).clone();
        let text = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in the tokens: {body:#}"))
                .to_owned()
        };
        Tokens {
            access: text("access_token"),
            refresh: text("refresh_token"),
            session_id: text("session_id"),
            body: body.clone(),
        }
    }
}

/// A request carrying `Authorization: Bearer <token>` (and nothing else).
pub async fn with_bearer(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> TestResponse {
    let auth = format!("Bearer {token}");
    app.send(method, path, body, &[("authorization", &auth)])
        .await
}

/// `POST /v1/customers`.
pub async fn register(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.post(
        "/v1/customers",
        &json!({"email": email, "password": password}),
    )
    .await
}

/// `POST /v1/sessions` with an email and password only.
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.post(
        "/v1/sessions",
        &json!({"email": email, "password": password}),
    )
    .await
}

/// `POST /v1/sessions` with an anonymous cart to merge.
pub async fn sign_in_with_cart(
    app: &TestApp,
    email: &str,
    cart_id: &str,
    cart_token: &str,
) -> TestResponse {
    app.post(
        "/v1/sessions",
        &json!({
            "email": email,
            "password": PASSWORD,
            "cart_id": cart_id,
            "cart_token": cart_token,
        }),
    )
    .await
}

/// Registers `email` with [`PASSWORD`] (asserting 202).
pub async fn register_customer(app: &TestApp, email: &str) {
    register(app, email, PASSWORD).await.assert_status(202);
}

/// Signs `email` in with [`PASSWORD`]; asserts 200.
pub async fn signed_in(app: &TestApp, email: &str) -> Tokens {
    Tokens::from_response(&sign_in(app, email, PASSWORD).await)
}

/// Registers `email` with [`PASSWORD`] and signs it in.
pub async fn new_customer(app: &TestApp, email: &str) -> Tokens {
    register_customer(app, email).await;
    signed_in(app, email).await
}

/// `POST /v1/sessions/refresh`.
pub async fn refresh(app: &TestApp, refresh_token: &str) -> TestResponse {
    app.post(
        "/v1/sessions/refresh",
        &json!({"refresh_token": refresh_token}),
    )
    .await
}

/// `GET /v1/me` with an access token.
pub async fn me(app: &TestApp, access_token: &str) -> TestResponse {
    with_bearer(app, Method::GET, "/v1/me", access_token, None).await
}

/// The owner (through `app.admin`) creates a staff member with [`PASSWORD`]; returns the 201
/// body.
pub async fn create_staff(app: &TestApp, email: &str, role: &str) -> Value {
    app.admin(
        Method::POST,
        "/v1/admin/staff",
        Some(&json!({"email": email, "password": PASSWORD, "role": role})),
    )
    .await
    .assert_status(201)
    .clone()
}

/// `POST /v1/admin/sessions`.
pub async fn staff_sign_in(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.post(
        "/v1/admin/sessions",
        &json!({"email": email, "password": password}),
    )
    .await
}

/// A staff member of `role` created by the owner, signed in: (staff body, tokens).
pub async fn new_staff(app: &TestApp, email: &str, role: &str) -> (Value, Tokens) {
    let member = create_staff(app, email, role).await;
    let tokens = Tokens::from_response(&staff_sign_in(app, email, PASSWORD).await);
    (member, tokens)
}

// ---- JWTs ---------------------------------------------------------------------------------

/// A JWT's three parts as sent: base64url header, base64url payload, base64url signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwt {
    pub header: String,
    pub payload: String,
    pub signature: String,
}

impl Jwt {
    #[track_caller]
    pub fn parse(token: &str) -> Jwt {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "not a JWT: {token}");
        Jwt {
            header: parts[0].to_owned(),
            payload: parts[1].to_owned(),
            signature: parts[2].to_owned(),
        }
    }

    /// The header's JSON text, exactly as signed.
    #[track_caller]
    pub fn header_json(&self) -> String {
        decoded_text(&self.header)
    }

    /// The payload's JSON text, exactly as signed.
    #[track_caller]
    pub fn payload_json(&self) -> String {
        decoded_text(&self.payload)
    }

    #[track_caller]
    pub fn header_value(&self) -> Value {
        serde_json::from_str(&self.header_json()).expect("the header is JSON")
    }

    #[track_caller]
    pub fn claims(&self) -> Value {
        serde_json::from_str(&self.payload_json()).expect("the payload is JSON")
    }

    /// The token with this header text instead, the payload and signature kept.
    pub fn with_header_json(&self, header: &str) -> Jwt {
        Jwt {
            header: base64url_encode(header.as_bytes()),
            ..self.clone()
        }
    }

    /// The token with this payload text instead, the header and signature kept.
    pub fn with_payload_json(&self, payload: &str) -> Jwt {
        Jwt {
            payload: base64url_encode(payload.as_bytes()),
            ..self.clone()
        }
    }

    pub fn with_signature(&self, signature: &str) -> Jwt {
        Jwt {
            signature: signature.to_owned(),
            ..self.clone()
        }
    }

    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.header, self.payload, self.signature)
    }
}

#[track_caller]
fn decoded_text(part: &str) -> String {
    let bytes = base64url_decode(part).unwrap_or_else(|| panic!("not base64url: {part}"));
    String::from_utf8(bytes).expect("UTF-8 JSON")
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding (RFC 4648 §5), as JWTs use it.
pub fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // A chunk of k bytes gives k + 1 characters.
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(BASE64URL[index as usize]));
        }
    }
    out
}

/// The bytes of unpadded base64url text; `None` for anything else.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let mut n: u32 = 0;
        for (i, c) in chunk.iter().enumerate() {
            let value = BASE64URL.iter().position(|b| b == c)?;
            n |= (value as u32) << (18 - 6 * i);
        }
        // k characters carry k - 1 whole bytes.
        for i in 0..chunk.len() - 1 {
            out.push(((n >> (16 - 8 * i)) & 0xff) as u8);
        }
    }
    Some(out)
}

#[test]
fn base64url_round_trips_and_matches_rfc_4648_vectors() {
    let vectors = [
        ("", ""),
        ("f", "Zg"),
        ("fo", "Zm8"),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg"),
        ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ];
    for (plain, encoded) in vectors {
        assert_eq!(base64url_encode(plain.as_bytes()), encoded);
        assert_eq!(base64url_decode(encoded).as_deref(), Some(plain.as_bytes()));
    }
    // The URL-safe alphabet: 0xfb 0xff encodes with '-' and '_' where base64 has '+' and '/'.
    assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
    assert_eq!(base64url_decode("-_8"), Some(vec![0xfb, 0xff]));
    assert_eq!(base64url_decode("Zm9v="), None);
    assert_eq!(base64url_decode("Z"), None);
}
