//! Identity service tests, each on a fresh database: SQLite always, PostgreSQL when
//! TEST_DATABASE_URL is set. Time is a ManualClock; password hashing uses cheap parameters.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use kassa_db::Db;
use kassa_identity::store::IdentityStore;
use kassa_identity::*;
use kassa_kernel::ids::{CustomerId, StaffId};
use kassa_kernel::{DomainError, Email, ManualClock, Timestamp};
use kassa_testkit::TestDb;
use sha2::Sha256;

const START_MS: i64 = 1_795_000_000_000;
const PASSWORD: &str = "correct horse battery";
const OTHER_PASSWORD: &str = "tr0ub4dor & stapler";

/// The service behind the trait object other crates hold, the clock it sees, its database
/// (to build a second service on it) and the test database kept alive for the test.
struct Fixture {
    identity: Arc<dyn IdentityService>,
    clock: ManualClock,
    db: Db,
    _test: TestDb,
}

fn secret(byte: u8) -> JwtSecret {
    JwtSecret::from_bytes(vec![byte; 32]).unwrap()
}

/// Documented defaults except cheap hashing and a fixed signing secret.
fn config() -> IdentityConfig {
    IdentityConfig {
        password: PasswordParams::new(64, 1, 1).unwrap(),
        ..IdentityConfig::new(secret(1))
    }
}

async fn fixture() -> Fixture {
    fixture_with(config()).await
}

async fn fixture_with(config: IdentityConfig) -> Fixture {
    let test = TestDb::new().await;
    let db = test.district("identity").await;
    let store = IdentityStore::new(db.clone());
    store.migrate().await.unwrap();
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    let identity = Arc::new(Identity::new(store, Arc::new(clock.clone()), config));
    Fixture {
        identity,
        clock,
        db,
        _test: test,
    }
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn password(s: &str) -> Password {
    Password::parse(s.to_owned()).unwrap()
}

fn client_at(last: u8) -> ClientInfo {
    ClientInfo {
        addr: IpAddr::from([192, 0, 2, last]),
    }
}

fn client() -> ClientInfo {
    client_at(1)
}

fn code(err: &IdentityError) -> &'static str {
    err.problem_type().code
}

impl Fixture {
    /// Another service over the same database and clock, with `config`.
    fn service(&self, config: IdentityConfig) -> Identity {
        Identity::new(
            IdentityStore::new(self.db.clone()),
            Arc::new(self.clock.clone()),
            config,
        )
    }

    async fn register(&self, address: &str, pw: &str) {
        self.identity
            .register(email(address), password(pw), &client())
            .await
            .unwrap();
    }

    async fn sign_in(
        &self,
        address: &str,
        pw: &str,
    ) -> Result<(CustomerId, TokenPair), IdentityError> {
        self.sign_in_from(address, pw, &client()).await
    }

    async fn sign_in_from(
        &self,
        address: &str,
        pw: &str,
        client: &ClientInfo,
    ) -> Result<(CustomerId, TokenPair), IdentityError> {
        self.identity
            .sign_in_customer(&email(address), pw, client)
            .await
    }

    /// A registered and signed-in customer.
    async fn customer(&self, address: &str) -> (CustomerId, TokenPair) {
        self.register(address, PASSWORD).await;
        self.sign_in(address, PASSWORD).await.unwrap()
    }

    async fn authenticate(&self, pair: &TokenPair) -> Result<Principal, IdentityError> {
        self.identity.authenticate(pair.access_token.expose()).await
    }

    async fn refresh(&self, pair: &TokenPair) -> Result<TokenPair, IdentityError> {
        self.identity.refresh(pair.refresh_token.expose()).await
    }

    async fn staff(&self, address: &str, role: Role) -> StaffMember {
        self.identity
            .create_staff(email(address), password(PASSWORD), role)
            .await
            .unwrap()
    }

    async fn staff_session(&self, address: &str) -> TokenPair {
        self.identity
            .sign_in_staff(&email(address), PASSWORD, &client())
            .await
            .unwrap()
            .1
    }

    fn advance_secs(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

// ---------------------------------------------------------------------------------------------
// Registration and sign-in

#[tokio::test]
async fn a_registered_customer_signs_in_and_is_authenticated() {
    let fx = fixture().await;
    fx.register("Jane.Doe@Example.com", PASSWORD).await;

    let (id, pair) = fx.sign_in("jane.doe@example.com", PASSWORD).await.unwrap();

    assert_eq!(
        fx.authenticate(&pair).await.unwrap(),
        Principal::Customer {
            id,
            session: pair.session_id
        }
    );
    assert_eq!(
        pair.access_expires_at,
        Timestamp::from_millis(START_MS + 15 * 60 * 1_000)
    );
    assert_eq!(
        pair.refresh_expires_at,
        Timestamp::from_millis(START_MS + 30 * 24 * 3_600 * 1_000)
    );
    let customer = fx.identity.customer(id).await.unwrap();
    assert_eq!(customer.email.as_str(), "jane.doe@example.com");
    assert_eq!(customer.created_at, Timestamp::from_millis(START_MS));
    // Nothing secret in Debug.
    let debug = format!("{pair:?}");
    assert!(!debug.contains(pair.access_token.expose()));
    assert!(!debug.contains(pair.refresh_token.expose()));
}

#[tokio::test]
async fn registering_an_existing_email_creates_nothing_and_answers_the_same() {
    let fx = fixture().await;
    let first = fx
        .identity
        .register(email("jane@example.com"), password(PASSWORD), &client())
        .await
        .unwrap();

    let second = fx
        .identity
        .register(
            email("JANE@example.com"),
            password(OTHER_PASSWORD),
            &client(),
        )
        .await
        .unwrap();

    assert_eq!(first, second);
    assert!(fx.sign_in("jane@example.com", PASSWORD).await.is_ok());
    let err = fx
        .sign_in("jane@example.com", OTHER_PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "invalid_credentials");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_give_the_same_error() {
    let fx = fixture().await;
    fx.register("jane@example.com", PASSWORD).await;

    let wrong = fx
        .sign_in("jane@example.com", OTHER_PASSWORD)
        .await
        .unwrap_err();
    let unknown = fx.sign_in("john@example.com", PASSWORD).await.unwrap_err();
    let overlong = fx
        .sign_in("jane@example.com", &"x".repeat(10_000))
        .await
        .unwrap_err();

    assert!(matches!(wrong, IdentityError::InvalidCredentials));
    assert!(matches!(unknown, IdentityError::InvalidCredentials));
    assert!(matches!(overlong, IdentityError::InvalidCredentials));
    assert_eq!(wrong.detail(), unknown.detail());
}

#[tokio::test]
async fn weak_passwords_are_refused_with_their_rule_and_field() {
    let cases = [
        ("short pw", WeakPassword::TooShort { min: 10 }),
        ("zzzzzzzzzzzz", WeakPassword::RepeatedCharacter),
        ("abcdefghijk", WeakPassword::Sequence),
        ("Password123", WeakPassword::Common),
    ];
    for (raw, rule) in cases {
        assert_eq!(Password::parse(raw.to_owned()).unwrap_err(), rule, "{raw}");
    }
    assert_eq!(
        Password::parse("y".repeat(129)).unwrap_err(),
        WeakPassword::TooLong { max: 128 }
    );

    let fx = fixture().await;
    let err = fx
        .identity
        .register(
            email("margaret@example.com"),
            password("i am MARGARET, hello"),
            &client(),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "weak_password");
    assert_eq!(err.field_errors()[0].0, "/password");
    assert!(fx
        .sign_in("margaret@example.com", "i am MARGARET, hello")
        .await
        .is_err());

    let (id, _) = fx.customer("jane@example.com").await;
    let err = fx
        .identity
        .change_password(
            Subject::Customer(id),
            PASSWORD,
            password("jane's new secret"),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        IdentityError::WeakPassword {
            field: PasswordField::NewPassword,
            reason: WeakPassword::ContainsEmail
        }
    ));
    assert_eq!(err.field_errors()[0].0, "/new_password");

    let err = fx
        .identity
        .create_staff(
            email("bob.smith@example.com"),
            password("bob.smith rules!"),
            Role::Owner,
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "weak_password");
}

#[tokio::test]
async fn customer_returns_the_account_and_an_unknown_id_is_not_found() {
    let fx = fixture().await;
    let (id, _) = fx.customer("jane@example.com").await;
    assert_eq!(fx.identity.customer(id).await.unwrap().id, id);
    let err = fx.identity.customer(CustomerId::new()).await.unwrap_err();
    assert_eq!(code(&err), "customer_not_found");
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens

#[tokio::test]
async fn refreshing_rotates_the_refresh_token() {
    let fx = fixture().await;
    let (id, first) = fx.customer("jane@example.com").await;
    fx.advance_secs(60);

    let second = fx.refresh(&first).await.unwrap();

    assert_eq!(second.session_id, first.session_id);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        second.refresh_expires_at,
        Timestamp::from_millis(START_MS + 60_000 + 30 * 24 * 3_600 * 1_000)
    );
    assert_eq!(
        fx.authenticate(&second).await.unwrap(),
        Principal::Customer {
            id,
            session: first.session_id
        }
    );
    // The new one works…
    let third = fx.refresh(&second).await.unwrap();
    assert!(fx.authenticate(&third).await.is_ok());
    // …the old one does not (and presenting it is reuse: see the next test).
    let err = fx.refresh(&first).await.unwrap_err();
    assert_eq!(code(&err), "invalid_refresh_token");
}

#[tokio::test]
async fn reusing_a_used_refresh_token_revokes_the_whole_session() {
    let fx = fixture().await;
    let (_, first) = fx.customer("jane@example.com").await;
    let (_, other_session) = fx.sign_in("jane@example.com", PASSWORD).await.unwrap();
    let second = fx.refresh(&first).await.unwrap();

    let err = fx.refresh(&first).await.unwrap_err();

    assert!(matches!(
        err,
        IdentityError::InvalidRefreshToken(RefreshRefusal::Reused)
    ));
    // The successor is dead too, and so are the session's access tokens.
    assert!(matches!(
        fx.refresh(&second).await.unwrap_err(),
        IdentityError::InvalidRefreshToken(RefreshRefusal::SessionRevoked)
    ));
    for pair in [&first, &second] {
        let err = fx.authenticate(pair).await.unwrap_err();
        assert!(matches!(
            err,
            IdentityError::InvalidToken(TokenRefusal::SessionRevoked)
        ));
        assert_eq!(code(&err), "invalid_token");
    }
    // The customer's other session is untouched.
    assert!(fx.authenticate(&other_session).await.is_ok());
    assert!(fx.refresh(&other_session).await.is_ok());
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let fx = fixture().await;
    let (_, first) = fx.customer("jane@example.com").await;
    let (_, second) = fx.sign_in("jane@example.com", PASSWORD).await.unwrap();
    let ttl_ms = 30 * 24 * 3_600 * 1_000;

    fx.clock.set(Timestamp::from_millis(START_MS + ttl_ms - 1));
    assert!(fx.refresh(&first).await.is_ok());
    fx.clock.set(Timestamp::from_millis(START_MS + ttl_ms));
    let err = fx.refresh(&second).await.unwrap_err();

    assert!(matches!(
        err,
        IdentityError::InvalidRefreshToken(RefreshRefusal::Expired)
    ));
}

#[tokio::test]
async fn unknown_and_malformed_refresh_tokens_are_refused() {
    let fx = fixture().await;
    fx.customer("jane@example.com").await;
    for token in ["", "short", &"A".repeat(43), &"A".repeat(10_000)] {
        let err = fx.identity.refresh(token).await.unwrap_err();
        assert_eq!(code(&err), "invalid_refresh_token", "{token}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_let_at_most_one_succeed_and_revoke_the_session() {
    let fx = fixture().await;
    let (_, pair) = fx.customer("jane@example.com").await;

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let identity = Arc::clone(&fx.identity);
            let token = pair.refresh_token.expose().to_owned();
            tokio::spawn(async move { identity.refresh(&token).await })
        })
        .collect();
    let mut succeeded = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(next) => succeeded.push(next),
            Err(err) => assert_eq!(code(&err), "invalid_refresh_token"),
        }
    }

    assert!(
        succeeded.len() <= 1,
        "{} refreshes succeeded",
        succeeded.len()
    );
    assert!(matches!(
        fx.authenticate(&pair).await.unwrap_err(),
        IdentityError::InvalidToken(TokenRefusal::SessionRevoked)
    ));
    for next in &succeeded {
        assert!(fx.refresh(next).await.is_err());
        assert!(fx.authenticate(next).await.is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Ending sessions

#[tokio::test]
async fn signing_out_ends_the_session() {
    let fx = fixture().await;
    let (_, pair) = fx.customer("jane@example.com").await;
    let (_, other) = fx.sign_in("jane@example.com", PASSWORD).await.unwrap();

    fx.identity.sign_out(pair.session_id).await.unwrap();

    assert!(matches!(
        fx.authenticate(&pair).await.unwrap_err(),
        IdentityError::InvalidToken(TokenRefusal::SessionRevoked)
    ));
    assert!(matches!(
        fx.refresh(&pair).await.unwrap_err(),
        IdentityError::InvalidRefreshToken(RefreshRefusal::SessionRevoked)
    ));
    assert!(fx.authenticate(&other).await.is_ok());
    // Signing out twice is fine.
    fx.identity.sign_out(pair.session_id).await.unwrap();
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_that_customer_only() {
    let fx = fixture().await;
    let (jane, first) = fx.customer("jane@example.com").await;
    let (_, second) = fx.sign_in("jane@example.com", PASSWORD).await.unwrap();
    let (_, johns) = fx.customer("john@example.com").await;

    let ended = fx
        .identity
        .sign_out_everywhere(Subject::Customer(jane))
        .await
        .unwrap();

    assert_eq!(ended, 2);
    for pair in [&first, &second] {
        assert_eq!(
            code(&fx.authenticate(pair).await.unwrap_err()),
            "invalid_token"
        );
        assert!(fx.refresh(pair).await.is_err());
    }
    assert!(fx.authenticate(&johns).await.is_ok());
    assert!(fx.refresh(&johns).await.is_ok());
    // Signing in again starts a fresh session.
    let (_, again) = fx.sign_in("jane@example.com", PASSWORD).await.unwrap();
    assert!(fx.authenticate(&again).await.is_ok());
}

#[tokio::test]
async fn changing_the_password_revokes_every_session_and_swaps_the_password() {
    let fx = fixture().await;
    let (jane, first) = fx.customer("jane@example.com").await;
    let (_, second) = fx.sign_in("jane@example.com", PASSWORD).await.unwrap();
    fx.advance_secs(10);

    fx.identity
        .change_password(Subject::Customer(jane), PASSWORD, password(OTHER_PASSWORD))
        .await
        .unwrap();

    for pair in [&first, &second] {
        assert!(matches!(
            fx.authenticate(pair).await.unwrap_err(),
            IdentityError::InvalidToken(TokenRefusal::SessionRevoked)
        ));
        assert!(fx.refresh(pair).await.is_err());
    }
    assert_eq!(
        code(&fx.sign_in("jane@example.com", PASSWORD).await.unwrap_err()),
        "invalid_credentials"
    );
    let (_, fresh) = fx
        .sign_in("jane@example.com", OTHER_PASSWORD)
        .await
        .unwrap();
    assert!(fx.authenticate(&fresh).await.is_ok());
    let customer = fx.identity.customer(jane).await.unwrap();
    assert_eq!(
        customer.password_changed_at,
        Timestamp::from_millis(START_MS + 10_000)
    );
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let fx = fixture().await;
    let (jane, pair) = fx.customer("jane@example.com").await;

    let err = fx
        .identity
        .change_password(
            Subject::Customer(jane),
            "not my password",
            password(OTHER_PASSWORD),
        )
        .await
        .unwrap_err();

    assert_eq!(code(&err), "invalid_credentials");
    assert!(fx.authenticate(&pair).await.is_ok());
    assert!(fx.sign_in("jane@example.com", PASSWORD).await.is_ok());
    let err = fx
        .identity
        .change_password(
            Subject::Customer(CustomerId::new()),
            PASSWORD,
            password(OTHER_PASSWORD),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "customer_not_found");
}

// ---------------------------------------------------------------------------------------------
// Access tokens

/// A JWT with exactly this header and payload JSON, HS256-signed with `key` (or with the given
/// signature text when `key` is `None`).
fn forge(header: &str, payload: &str, key: Option<&[u8]>) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = match key {
        Some(key) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
            mac.update(input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        None => String::new(),
    };
    format!("{input}.{signature}")
}

fn payload_json(token: &AccessToken) -> String {
    let part = token.expose().split('.').nth(1).unwrap();
    String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn an_access_token_is_valid_until_one_second_before_exp() {
    let fx = fixture().await;
    let (_, pair) = fx.customer("jane@example.com").await;
    let exp_ms = pair.access_expires_at.millis();
    assert_eq!(exp_ms, START_MS + 900_000);

    fx.clock.set(Timestamp::from_millis(exp_ms - 1_000));
    assert!(fx.authenticate(&pair).await.is_ok());
    fx.clock.set(Timestamp::from_millis(exp_ms));
    let err = fx.authenticate(&pair).await.unwrap_err();

    assert!(matches!(
        err,
        IdentityError::InvalidToken(TokenRefusal::Expired)
    ));
    assert_eq!(code(&err), "invalid_token");
    // The session itself lives on: a refresh gives a fresh access token.
    let next = fx.refresh(&pair).await.unwrap();
    assert!(fx.authenticate(&next).await.is_ok());
}

#[tokio::test]
async fn tampered_forged_and_malformed_access_tokens_are_refused() {
    let fx = fixture().await;
    let (_, pair) = fx.customer("jane@example.com").await;
    let token = pair.access_token.expose();
    let parts: Vec<&str> = token.split('.').collect();
    let payload = payload_json(&pair.access_token);
    let hs256 = r#"{"alg":"HS256","typ":"JWT"}"#;
    let key = [1_u8; 32];
    let other = CustomerId::new().to_string();
    let sub = fx.authenticate(&pair).await.unwrap().subject().id_string();

    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[5] ^= 0x20;
    let cases: Vec<(&str, String, TokenRefusal)> = vec![
        (
            "tampered payload",
            format!(
                "{}.{}.{}",
                parts[0],
                URL_SAFE_NO_PAD.encode(payload.replace(&sub, &other)),
                parts[2]
            ),
            TokenRefusal::BadSignature,
        ),
        (
            "tampered signature",
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                URL_SAFE_NO_PAD.encode(&signature)
            ),
            TokenRefusal::BadSignature,
        ),
        (
            "alg none, unsigned",
            forge(r#"{"alg":"none","typ":"JWT"}"#, &payload, None),
            TokenRefusal::UnsupportedHeader,
        ),
        (
            "alg none, signed anyway",
            forge(r#"{"alg":"none"}"#, &payload, Some(&key)),
            TokenRefusal::UnsupportedHeader,
        ),
        (
            "alg HS512",
            forge(r#"{"alg":"HS512","typ":"JWT"}"#, &payload, Some(&key)),
            TokenRefusal::UnsupportedHeader,
        ),
        (
            "alg RS256",
            forge(r#"{"alg":"RS256","typ":"JWT"}"#, &payload, Some(&key)),
            TokenRefusal::UnsupportedHeader,
        ),
        (
            "unsigned HS256",
            forge(hs256, &payload, None),
            TokenRefusal::BadSignature,
        ),
        (
            "wrong key",
            forge(hs256, &payload, Some(&[2_u8; 32])),
            TokenRefusal::BadSignature,
        ),
        (
            "two parts",
            format!("{}.{}", parts[0], parts[1]),
            TokenRefusal::Malformed,
        ),
        (
            "bad base64",
            format!("{}.{}.%%{}", parts[0], parts[1], parts[2]),
            TokenRefusal::Malformed,
        ),
        (
            "bad JSON",
            forge(hs256, "{\"sub\": ", Some(&key)),
            TokenRefusal::Malformed,
        ),
        ("empty", String::new(), TokenRefusal::Malformed),
    ];
    // The forging helper makes what the service makes, so only the changes above matter.
    assert_eq!(forge(hs256, &payload, Some(&key)), token);

    for (name, forged, reason) in cases {
        let err = fx.identity.authenticate(&forged).await.unwrap_err();
        assert_eq!(code(&err), "invalid_token", "{name}");
        assert!(
            matches!(err, IdentityError::InvalidToken(r) if r == reason),
            "{name}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_validly_signed_token_for_an_unknown_session_is_refused() {
    let fx = fixture().await;
    let (_, pair) = fx.customer("jane@example.com").await;
    let payload = payload_json(&pair.access_token).replace(
        &pair.session_id.to_string(),
        &kassa_kernel::ids::SessionId::new().to_string(),
    );
    let forged = forge(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &payload,
        Some(&[1_u8; 32]),
    );
    let err = fx.identity.authenticate(&forged).await.unwrap_err();
    assert!(matches!(
        err,
        IdentityError::InvalidToken(TokenRefusal::UnknownSession)
    ));
}

#[tokio::test]
async fn a_token_signed_with_the_previous_secret_is_accepted_during_rotation() {
    let fx = fixture().await;
    let (_, pair) = fx.customer("jane@example.com").await;

    let rotated = fx.service(IdentityConfig {
        jwt_secret: secret(2),
        jwt_previous_secret: Some(secret(1)),
        ..config()
    });
    let after_rotation = fx.service(IdentityConfig {
        jwt_secret: secret(2),
        ..config()
    });

    assert!(rotated
        .authenticate(pair.access_token.expose())
        .await
        .is_ok());
    assert!(matches!(
        after_rotation
            .authenticate(pair.access_token.expose())
            .await
            .unwrap_err(),
        IdentityError::InvalidToken(TokenRefusal::BadSignature)
    ));
    // New tokens are signed with the new secret only.
    let next = rotated.refresh(pair.refresh_token.expose()).await.unwrap();
    assert!(after_rotation
        .authenticate(next.access_token.expose())
        .await
        .is_ok());
    assert!(fx.authenticate(&next).await.is_err());
}

// ---------------------------------------------------------------------------------------------
// Throttling

#[tokio::test]
async fn five_failed_sign_ins_throttle_the_account_until_the_window_ends() {
    let fx = fixture().await;
    fx.register("jane@example.com", PASSWORD).await;
    for _ in 0..5 {
        let err = fx
            .sign_in("jane@example.com", "wrong password!")
            .await
            .unwrap_err();
        assert_eq!(code(&err), "invalid_credentials");
    }

    let err = fx.sign_in("jane@example.com", PASSWORD).await.unwrap_err();

    assert!(matches!(
        err,
        IdentityError::Throttled {
            retry_after_secs: 900
        }
    ));
    assert_eq!(code(&err), "throttled");
    assert_eq!(err.retry_after_secs(), Some(900));
    fx.advance_secs(899);
    assert_eq!(
        fx.sign_in("jane@example.com", PASSWORD)
            .await
            .unwrap_err()
            .retry_after_secs(),
        Some(1)
    );
    fx.advance_secs(1);
    assert!(fx.sign_in("jane@example.com", PASSWORD).await.is_ok());
    // Other accounts were never affected.
}

#[tokio::test]
async fn an_unknown_email_is_throttled_exactly_like_a_known_one() {
    let fx = fixture().await;
    for _ in 0..5 {
        let err = fx
            .sign_in("nobody@example.com", PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "invalid_credentials");
    }
    let err = fx
        .sign_in("nobody@example.com", PASSWORD)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        IdentityError::Throttled {
            retry_after_secs: 900
        }
    ));
    // The account key ignores case, as accounts do.
    let err = fx
        .sign_in("NOBODY@example.com", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "throttled");
}

#[tokio::test]
async fn a_successful_sign_in_neither_counts_nor_resets_failures() {
    let fx = fixture().await;
    fx.register("jane@example.com", PASSWORD).await;
    for _ in 0..4 {
        assert!(fx
            .sign_in("jane@example.com", "wrong password!")
            .await
            .is_err());
    }
    assert!(fx.sign_in("jane@example.com", PASSWORD).await.is_ok());
    assert!(fx.sign_in("jane@example.com", PASSWORD).await.is_ok());
    // The fifth failure is still within the limit; the next attempt is not.
    let err = fx
        .sign_in("jane@example.com", "wrong password!")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "invalid_credentials");
    let err = fx.sign_in("jane@example.com", PASSWORD).await.unwrap_err();
    assert_eq!(code(&err), "throttled");
}

#[tokio::test]
async fn failed_password_changes_count_against_the_account() {
    let fx = fixture().await;
    let (jane, _) = fx.customer("jane@example.com").await;
    for _ in 0..5 {
        let err = fx
            .identity
            .change_password(
                Subject::Customer(jane),
                "guess guess",
                password(OTHER_PASSWORD),
            )
            .await
            .unwrap_err();
        assert_eq!(code(&err), "invalid_credentials");
    }
    let err = fx
        .identity
        .change_password(Subject::Customer(jane), PASSWORD, password(OTHER_PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "throttled");
    assert_eq!(
        code(&fx.sign_in("jane@example.com", PASSWORD).await.unwrap_err()),
        "throttled"
    );
}

#[tokio::test]
async fn sign_ins_from_one_address_are_throttled_at_thirty_per_window() {
    let fx = fixture().await;
    fx.register("jane@example.com", PASSWORD).await;
    let crowd = client_at(9);
    // 29 attempts on 29 different accounts, then a successful one: 30 in all.
    for n in 0..29 {
        let err = fx
            .sign_in_from(&format!("user{n}@example.com"), PASSWORD, &crowd)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "invalid_credentials", "attempt {n}");
    }
    assert!(fx
        .sign_in_from("jane@example.com", PASSWORD, &crowd)
        .await
        .is_ok());

    let err = fx
        .sign_in_from("jane@example.com", PASSWORD, &crowd)
        .await
        .unwrap_err();

    assert!(matches!(
        err,
        IdentityError::Throttled {
            retry_after_secs: 900
        }
    ));
    // Another address is not affected; the first one is again after the window.
    assert!(fx
        .sign_in_from("jane@example.com", PASSWORD, &client_at(10))
        .await
        .is_ok());
    fx.advance_secs(900);
    assert!(fx
        .sign_in_from("jane@example.com", PASSWORD, &crowd)
        .await
        .is_ok());
}

#[tokio::test]
async fn ipv6_clients_are_counted_per_64_network() {
    let fx = fixture_with(IdentityConfig {
        throttle: ThrottleLimits {
            sign_in_address: ThrottleLimit {
                attempts_max: 2,
                window_secs: 60,
            },
            ..ThrottleLimits::default()
        },
        ..config()
    })
    .await;
    let from = |s: &str| ClientInfo {
        addr: s.parse().unwrap(),
    };
    for addr in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        let err = fx
            .sign_in_from("a@example.com", PASSWORD, &from(addr))
            .await
            .unwrap_err();
        assert_eq!(code(&err), "invalid_credentials");
    }
    let err = fx
        .sign_in_from("a@example.com", PASSWORD, &from("2001:db8:1:2:ffff::3"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        IdentityError::Throttled {
            retry_after_secs: 60
        }
    ));
    let err = fx
        .sign_in_from("a@example.com", PASSWORD, &from("2001:db8:1:3::1"))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "invalid_credentials");
}

#[tokio::test]
async fn registrations_from_one_address_are_throttled_at_ten_per_hour() {
    let fx = fixture().await;
    for n in 0..10 {
        fx.identity
            .register(
                email(&format!("user{n}@example.com")),
                password(PASSWORD),
                &client(),
            )
            .await
            .unwrap();
    }

    let err = fx
        .identity
        .register(email("late@example.com"), password(PASSWORD), &client())
        .await
        .unwrap_err();

    assert!(matches!(
        err,
        IdentityError::Throttled {
            retry_after_secs: 3_600
        }
    ));
    assert!(fx
        .identity
        .register(email("late@example.com"), password(PASSWORD), &client_at(2))
        .await
        .is_ok());
    fx.advance_secs(3_600);
    assert!(fx
        .identity
        .register(email("later@example.com"), password(PASSWORD), &client())
        .await
        .is_ok());
}

#[tokio::test]
async fn ended_throttle_windows_are_purged() {
    let fx = fixture().await;
    assert!(fx.sign_in("nobody@example.com", PASSWORD).await.is_err());
    assert_eq!(
        fx.identity.purge_expired_throttle_windows().await.unwrap(),
        0
    );
    // The longest window (registration, one hour) decides.
    fx.advance_secs(3_600);
    assert_eq!(
        fx.identity.purge_expired_throttle_windows().await.unwrap(),
        2
    );
}

// ---------------------------------------------------------------------------------------------
// Staff

#[tokio::test]
async fn the_first_owner_is_created_and_signs_in_as_staff() {
    let fx = fixture().await;
    let owner = fx.staff("Owner@Shop.example", Role::Owner).await;
    assert_eq!(owner.email.as_str(), "owner@shop.example");
    assert!(owner.is_active());

    let (member, pair) = fx
        .identity
        .sign_in_staff(&email("owner@shop.example"), PASSWORD, &client())
        .await
        .unwrap();

    assert_eq!(member, owner);
    let principal = fx.authenticate(&pair).await.unwrap();
    assert_eq!(
        principal,
        Principal::Staff {
            id: owner.id,
            role: Role::Owner,
            session: pair.session_id
        }
    );
    assert!(require(&principal, Permission::StaffManage).is_ok());
    // Staff and customer accounts are separate.
    assert_eq!(
        code(
            &fx.sign_in("owner@shop.example", PASSWORD)
                .await
                .unwrap_err()
        ),
        "invalid_credentials"
    );
    let (_, customer) = fx.customer("jane@example.com").await;
    let customer = fx.authenticate(&customer).await.unwrap();
    assert_eq!(
        code(&require(&customer, Permission::CatalogRead).unwrap_err()),
        "forbidden"
    );
}

#[tokio::test]
async fn a_duplicate_staff_email_is_email_taken() {
    let fx = fixture().await;
    fx.staff("owner@shop.example", Role::Owner).await;
    let err = fx
        .identity
        .create_staff(
            email("OWNER@shop.example"),
            password(OTHER_PASSWORD),
            Role::Support,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::EmailTaken));
    assert_eq!(code(&err), "email_taken");
    assert_eq!(fx.identity.staff_list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_role_change_takes_effect_on_the_next_request() {
    let fx = fixture().await;
    fx.staff("owner@shop.example", Role::Owner).await;
    let manager = fx.staff("manager@shop.example", Role::Manager).await;
    let pair = fx.staff_session("manager@shop.example").await;
    let principal = fx.authenticate(&pair).await.unwrap();
    assert!(require(&principal, Permission::StockWrite).is_ok());

    let updated = fx
        .identity
        .set_staff_role(manager.id, Role::Support)
        .await
        .unwrap();

    assert_eq!(updated.role, Role::Support);
    let principal = fx.authenticate(&pair).await.unwrap();
    assert_eq!(
        principal,
        Principal::Staff {
            id: manager.id,
            role: Role::Support,
            session: pair.session_id
        }
    );
    assert!(require(&principal, Permission::StockWrite).is_err());
    assert!(require(&principal, Permission::RefundsIssue).is_ok());
    let err = fx
        .identity
        .set_staff_role(StaffId::new(), Role::Owner)
        .await
        .unwrap_err();
    assert_eq!(code(&err), "staff_not_found");
}

#[tokio::test]
async fn the_last_active_owner_cannot_be_demoted_or_disabled() {
    let fx = fixture().await;
    let first = fx.staff("first@shop.example", Role::Owner).await;

    for err in [
        fx.identity
            .set_staff_role(first.id, Role::Manager)
            .await
            .unwrap_err(),
        fx.identity.disable_staff(first.id).await.unwrap_err(),
    ] {
        assert!(matches!(err, IdentityError::LastOwner));
        assert_eq!(code(&err), "last_owner");
    }
    // Setting the role it already has is not a demotion.
    assert!(fx
        .identity
        .set_staff_role(first.id, Role::Owner)
        .await
        .is_ok());

    let second = fx.staff("second@shop.example", Role::Owner).await;
    fx.identity
        .set_staff_role(first.id, Role::Manager)
        .await
        .unwrap();
    assert_eq!(
        code(&fx.identity.disable_staff(second.id).await.unwrap_err()),
        "last_owner"
    );

    // A disabled owner does not count as an owner.
    fx.identity
        .set_staff_role(first.id, Role::Owner)
        .await
        .unwrap();
    fx.identity.disable_staff(first.id).await.unwrap();
    assert_eq!(
        code(
            &fx.identity
                .set_staff_role(second.id, Role::Support)
                .await
                .unwrap_err()
        ),
        "last_owner"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    for _ in 0..5 {
        let fx = fixture().await;
        let a = fx.staff("a@shop.example", Role::Owner).await;
        let b = fx.staff("b@shop.example", Role::Owner).await;

        let demote_a = {
            let identity = Arc::clone(&fx.identity);
            tokio::spawn(async move { identity.set_staff_role(a.id, Role::Manager).await })
        };
        let disable_b = {
            let identity = Arc::clone(&fx.identity);
            tokio::spawn(async move { identity.disable_staff(b.id).await })
        };
        let results = [
            demote_a.await.unwrap().is_ok(),
            disable_b.await.unwrap().is_ok(),
        ];

        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{results:?}");
        let owners = fx
            .identity
            .staff_list()
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.role == Role::Owner && s.is_active())
            .count();
        assert_eq!(owners, 1);
    }
}

#[tokio::test]
async fn disabling_staff_revokes_its_sessions_and_refuses_its_sign_in() {
    let fx = fixture().await;
    fx.staff("owner@shop.example", Role::Owner).await;
    let support = fx.staff("support@shop.example", Role::Support).await;
    let first = fx.staff_session("support@shop.example").await;
    let second = fx.staff_session("support@shop.example").await;
    fx.advance_secs(5);

    let disabled = fx.identity.disable_staff(support.id).await.unwrap();

    assert_eq!(
        disabled.disabled_at,
        Some(Timestamp::from_millis(START_MS + 5_000))
    );
    for pair in [&first, &second] {
        assert_eq!(
            code(&fx.authenticate(pair).await.unwrap_err()),
            "invalid_token"
        );
        assert!(fx.refresh(pair).await.is_err());
    }
    let err = fx
        .identity
        .sign_in_staff(&email("support@shop.example"), PASSWORD, &client())
        .await
        .unwrap_err();
    assert_eq!(code(&err), "invalid_credentials");
    // Disabling again changes nothing.
    fx.advance_secs(5);
    let again = fx.identity.disable_staff(support.id).await.unwrap();
    assert_eq!(again.disabled_at, disabled.disabled_at);
}

#[tokio::test]
async fn staff_can_change_their_password_and_sign_out_everywhere() {
    let fx = fixture().await;
    let owner = fx.staff("owner@shop.example", Role::Owner).await;
    let pair = fx.staff_session("owner@shop.example").await;
    fx.identity
        .change_password(Subject::Staff(owner.id), PASSWORD, password(OTHER_PASSWORD))
        .await
        .unwrap();
    assert!(fx.authenticate(&pair).await.is_err());
    let (_, pair) = fx
        .identity
        .sign_in_staff(&email("owner@shop.example"), OTHER_PASSWORD, &client())
        .await
        .unwrap();
    assert_eq!(
        fx.identity
            .sign_out_everywhere(Subject::Staff(owner.id))
            .await
            .unwrap(),
        1
    );
    assert!(fx.authenticate(&pair).await.is_err());
}

#[tokio::test]
async fn the_staff_list_holds_everyone_oldest_first() {
    let fx = fixture().await;
    let owner = fx.staff("owner@shop.example", Role::Owner).await;
    fx.advance_secs(1);
    let support = fx.staff("support@shop.example", Role::Support).await;
    fx.identity.disable_staff(support.id).await.unwrap();

    let list = fx.identity.staff_list().await.unwrap();

    let ids: Vec<StaffId> = list.iter().map(|s| s.id).collect();
    assert_eq!(ids, [owner.id, support.id]);
    assert!(!list[1].is_active());
    assert_eq!(fx.identity.staff_member(owner.id).await.unwrap(), owner);
}

// ---------------------------------------------------------------------------------------------
// Audit log

#[tokio::test]
async fn audit_entries_are_listed_newest_first_page_by_page() {
    let fx = fixture().await;
    let owner = fx.staff("owner@shop.example", Role::Owner).await;
    let mut recorded = Vec::new();
    for n in 0..5 {
        fx.advance_secs(1);
        let entry = fx
            .identity
            .record_audit(AuditRecord {
                staff: owner.id,
                action: "product.update".to_owned(),
                resource: format!("prod_{n}"),
                client_addr: Some("2001:db8::7".parse().unwrap()),
                request_id: Some(format!("req-{n}")),
            })
            .await
            .unwrap();
        recorded.push(entry);
    }
    assert_eq!(recorded[0].at, Timestamp::from_millis(START_MS + 1_000));

    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = fx
            .identity
            .audit_log(AuditQuery { after, limit: 2 })
            .await
            .unwrap();
        pages.push(
            page.items
                .iter()
                .map(|e| e.resource.clone())
                .collect::<Vec<_>>(),
        );
        after = page.next_cursor;
        if after.is_none() {
            break;
        }
    }

    assert_eq!(
        pages,
        [
            vec!["prod_4", "prod_3"],
            vec!["prod_2", "prod_1"],
            vec!["prod_0"]
        ]
    );
    let newest = fx
        .identity
        .audit_log(AuditQuery {
            after: None,
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!(newest.items, [recorded[4].clone()]);
}

#[tokio::test]
async fn audit_entries_in_the_same_millisecond_page_without_gaps_or_repeats() {
    let fx = fixture().await;
    let owner = fx.staff("owner@shop.example", Role::Owner).await;
    for n in 0..7 {
        fx.identity
            .record_audit(AuditRecord {
                staff: owner.id,
                action: "stock.adjust".to_owned(),
                resource: format!("sku-{n}"),
                client_addr: None,
                request_id: None,
            })
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = fx
            .identity
            .audit_log(AuditQuery { after, limit: 3 })
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|e| e.id));
        after = page.next_cursor;
        if after.is_none() {
            break;
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 7);
    sorted.reverse();
    assert_eq!(seen, sorted);
}

#[tokio::test]
async fn audit_records_are_cut_to_their_limits_and_need_a_known_staff_member() {
    let fx = fixture().await;
    let owner = fx.staff("owner@shop.example", Role::Owner).await;
    let entry = fx
        .identity
        .record_audit(AuditRecord {
            staff: owner.id,
            action: "a".repeat(100),
            resource: "r".repeat(1_000),
            client_addr: None,
            request_id: Some("q".repeat(500)),
        })
        .await
        .unwrap();
    assert_eq!(entry.action.len(), 64);
    assert_eq!(entry.resource.len(), 256);
    assert_eq!(entry.request_id.as_deref().map(str::len), Some(128));

    let err = fx
        .identity
        .record_audit(AuditRecord {
            staff: StaffId::new(),
            action: "product.update".to_owned(),
            resource: "prod_x".to_owned(),
            client_addr: None,
            request_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(code(&err), "staff_not_found");

    // Page sizes are clamped to 1..=100.
    let page = fx
        .identity
        .audit_log(AuditQuery {
            after: None,
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next_cursor, None);
}
