//! Accounts, sessions and tokens, staff accounts, abuse limits and the audit log, against
//! docs/API.md "Accounts and sessions" and "Staff" (issue 3).

use std::time::Duration;

use kassa_identity::{IdentityError, TokenRefusal};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{id_of, items_of, variant_body, TestApp, TestResponse, CLOCK_START_RFC3339};
use crate::identity_helpers::{
    create_staff, me, new_customer, new_staff, refresh, register, register_customer, sign_in,
    signed_in, staff_sign_in, with_bearer, Jwt, Tokens, ACCESS_TTL_SECS, CLOCK_START_SECS,
    NEW_PASSWORD, PASSWORD, REFRESH_TTL_SECS,
};

const WRONG_PASSWORD: &str = "Not-The-Password-0000";

/// Why identity refuses `token`, as the service tells tests (every reason is the same
/// `invalid_token` over HTTP); `None` if it accepts it or fails otherwise.
async fn refusal(app: &TestApp, token: &str) -> Option<TokenRefusal> {
    match app.districts.identity.authenticate(token).await {
        Err(IdentityError::InvalidToken(reason)) => Some(reason),
        _ => None,
    }
}

/// A problem body without its `instance` (the request id), to compare two answers.
fn without_instance(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(object) = body.as_object_mut() {
        object.remove("instance");
    }
    body
}

/// The `Retry-After` of a 429 `throttled` answer, in seconds.
#[track_caller]
fn assert_throttled(res: &TestResponse) -> u64 {
    res.assert_problem(429, "throttled");
    let retry_after = res
        .header("retry-after")
        .unwrap_or_else(|| panic!("a 429 without Retry-After: {:#}", res.body));
    retry_after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not whole seconds: {retry_after:?}"))
}

/// The member names of an object body, sorted.
fn keys(body: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = body
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

// ---- registration --------------------------------------------------------------------------

#[tokio::test]
async fn registering_answers_the_same_202_for_a_new_and_an_already_registered_email() {
    // Arrange
    let app = TestApp::spawn().await;

    // Act
    let new = register(&app, "ada@example.com", PASSWORD).await;
    let again = register(&app, "ada@example.com", NEW_PASSWORD).await;

    // Assert
    assert_eq!(new.assert_status(202), &json!({"status": "accepted"}));
    assert_eq!((again.status, &again.body), (new.status, &new.body));
    assert_eq!(again.header("content-type"), new.header("content-type"));
    // The second registration changed nothing: the first password still signs in.
    signed_in(&app, "ada@example.com").await;
    sign_in(&app, "ada@example.com", NEW_PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test]
async fn a_weak_password_is_refused_with_weak_password_pointing_at_password() {
    // Arrange
    let app = TestApp::spawn().await;
    let too_long: String = "Lantern-Otter-7".repeat(9).chars().take(129).collect();
    let weak = [
        ("9 characters", "Otter-482".to_owned()),
        ("129 characters", too_long),
        ("one character repeated", "zzzzzzzzzzzz".to_owned()),
        ("an ascending run", "abcdefghijk".to_owned()),
        ("a descending run", "9876543210".to_owned()),
        ("a common password, in any case", "PassWord123".to_owned()),
        (
            "the email's local part",
            "my-ADA.lovelace-secret".to_owned(),
        ),
    ];

    for (why, password) in weak {
        // Act
        let res = register(&app, "ada.lovelace@example.com", &password).await;

        // Assert
        assert_eq!(res.status.as_u16(), 422, "{why}: {:#}", res.body);
        res.assert_problem(422, "weak_password");
        assert_eq!(res.pointers(), ["/password"], "{why}: {:#}", res.body);
    }
    // The bounds themselves are accepted: 10 and 128 characters.
    let longest: String = "Lantern-Otter-7".repeat(9).chars().take(128).collect();
    for (email, password) in [
        ("grace@example.com", "Otter-4821"),
        ("hedy@example.com", longest.as_str()),
    ] {
        register(&app, email, password).await.assert_status(202);
        sign_in(&app, email, password).await.assert_status(200);
    }
}

// ---- signing in ----------------------------------------------------------------------------

#[tokio::test]
async fn signing_in_answers_the_documented_tokens_with_a_jwt_of_the_documented_claims() {
    // Arrange
    let app = TestApp::spawn().await;
    register_customer(&app, "ada@example.com").await;

    // Act
    let res = sign_in(&app, "ada@example.com", PASSWORD).await;

    // Assert
    let tokens = Tokens::from_response(&res);
    let body = &tokens.body;
    assert_eq!(
        keys(body),
        [
            "access_token",
            "cart",
            "expires_in",
            "refresh_expires_in",
            "refresh_token",
            "session_id",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], ACCESS_TTL_SECS);
    assert_eq!(body["refresh_expires_in"], REFRESH_TTL_SECS);
    assert_eq!(body["cart"], Value::Null);
    assert!(tokens.session_id.starts_with("sess_"), "{body:#}");
    assert!(tokens.refresh.len() >= 32, "a short refresh token");
    let jwt = Jwt::parse(&tokens.access);
    assert_eq!(jwt.header_value(), json!({"alg": "HS256", "typ": "JWT"}));
    let claims = jwt.claims();
    assert_eq!(claims["iss"], "kassa");
    assert_eq!(claims["aud"], "kassa");
    assert_eq!(claims["kind"], "customer");
    assert_eq!(claims["sid"], tokens.session_id.as_str());
    assert!(claims["sub"]
        .as_str()
        .is_some_and(|s| s.starts_with("cus_")));
    assert_eq!(claims["iat"], CLOCK_START_SECS);
    assert_eq!(claims["exp"], CLOCK_START_SECS + ACCESS_TTL_SECS);
    me(&app, &tokens.access).await.assert_status(200);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_invalid_credentials_answer() {
    // Arrange
    let app = TestApp::spawn().await;
    register_customer(&app, "ada@example.com").await;

    // Act
    let wrong_password = sign_in(&app, "ada@example.com", WRONG_PASSWORD).await;
    let unknown_email = sign_in(&app, "nobody@example.com", PASSWORD).await;

    // Assert
    wrong_password.assert_problem(401, "invalid_credentials");
    unknown_email.assert_problem(401, "invalid_credentials");
    assert_eq!(
        without_instance(&wrong_password.body),
        without_instance(&unknown_email.body)
    );
}

#[tokio::test]
async fn me_answers_the_signed_in_customer_and_refuses_a_missing_or_garbage_token() {
    // Arrange
    let app = TestApp::spawn().await;
    let ada = new_customer(&app, "ada@example.com").await;

    // Act
    let res = me(&app, &ada.access).await;
    let without_token = app.get("/v1/me").await;
    let garbage = me(&app, "not.a.token").await;

    // Assert
    let body = res.assert_status(200);
    assert_eq!(
        body,
        &json!({
            "id": Jwt::parse(&ada.access).claims()["sub"],
            "email": "ada@example.com",
            "created_at": CLOCK_START_RFC3339,
        })
    );
    assert!(id_of(body).starts_with("cus_"));
    assert_eq!(
        without_token.status.as_u16(),
        401,
        "{:#}",
        without_token.body
    );
    assert_eq!(
        without_token.header("content-type"),
        Some("application/problem+json")
    );
    garbage.assert_problem(401, "invalid_token");
}

// ---- refresh tokens ------------------------------------------------------------------------

#[tokio::test]
async fn refreshing_answers_a_new_working_pair_and_spends_the_old_refresh_token() {
    // Arrange
    let app = TestApp::spawn().await;
    let first = new_customer(&app, "ada@example.com").await;
    app.clock.advance(Duration::from_secs(60));

    // Act
    let res = refresh(&app, &first.refresh).await;

    // Assert
    let second = Tokens::from_response(&res);
    assert_eq!(
        keys(&second.body),
        [
            "access_token",
            "expires_in",
            "refresh_expires_in",
            "refresh_token",
            "session_id",
            "token_type"
        ]
    );
    assert_eq!(second.body["token_type"], "Bearer");
    assert_eq!(second.body["expires_in"], ACCESS_TTL_SECS);
    assert_eq!(second.body["refresh_expires_in"], REFRESH_TTL_SECS);
    assert_eq!(second.session_id, first.session_id, "the same session");
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(
        Jwt::parse(&second.access).claims()["iat"],
        CLOCK_START_SECS + 60
    );
    me(&app, &second.access).await.assert_status(200);
    refresh(&app, &first.refresh)
        .await
        .assert_problem(401, "invalid_refresh_token");
}

#[tokio::test]
async fn presenting_a_spent_refresh_token_again_revokes_its_whole_session_and_no_other() {
    // Arrange
    let app = TestApp::spawn().await;
    let first = new_customer(&app, "ada@example.com").await;
    let elsewhere = signed_in(&app, "ada@example.com").await;
    let second = Tokens::from_response(&refresh(&app, &first.refresh).await);
    me(&app, &second.access).await.assert_status(200);

    // Act: someone replays the spent token.
    let replay = refresh(&app, &first.refresh).await;

    // Assert
    replay.assert_problem(401, "invalid_refresh_token");
    refresh(&app, &second.refresh)
        .await
        .assert_problem(401, "invalid_refresh_token");
    for access in [&first.access, &second.access] {
        me(&app, access).await.assert_problem(401, "invalid_token");
        assert_eq!(
            refusal(&app, access).await,
            Some(TokenRefusal::SessionRevoked)
        );
    }
    // Only that session: the same customer's other session carries on.
    me(&app, &elsewhere.access).await.assert_status(200);
    Tokens::from_response(&refresh(&app, &elsewhere.refresh).await);
}

// ---- signing out ---------------------------------------------------------------------------

#[tokio::test]
async fn signing_out_refuses_the_session_s_tokens_at_once_and_leaves_other_sessions() {
    // Arrange
    let app = TestApp::spawn().await;
    let here = new_customer(&app, "ada@example.com").await;
    let elsewhere = signed_in(&app, "ada@example.com").await;

    // Act
    let res = with_bearer(
        &app,
        Method::DELETE,
        "/v1/sessions/current",
        &here.access,
        None,
    )
    .await;

    // Assert
    res.assert_status(204);
    me(&app, &here.access)
        .await
        .assert_problem(401, "invalid_token");
    refresh(&app, &here.refresh)
        .await
        .assert_problem(401, "invalid_refresh_token");
    me(&app, &elsewhere.access).await.assert_status(200);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_account_and_no_other_account_s() {
    // Arrange
    let app = TestApp::spawn().await;
    let phone = new_customer(&app, "ada@example.com").await;
    let laptop = signed_in(&app, "ada@example.com").await;
    let bob = new_customer(&app, "bob@example.com").await;

    // Act
    let res = with_bearer(&app, Method::DELETE, "/v1/sessions", &phone.access, None).await;

    // Assert
    res.assert_status(204);
    for session in [&phone, &laptop] {
        me(&app, &session.access)
            .await
            .assert_problem(401, "invalid_token");
        refresh(&app, &session.refresh)
            .await
            .assert_problem(401, "invalid_refresh_token");
    }
    me(&app, &bob.access).await.assert_status(200);
    // Signing in again starts a new session.
    let again = signed_in(&app, "ada@example.com").await;
    me(&app, &again.access).await.assert_status(200);
}

// ---- password changes ----------------------------------------------------------------------

#[tokio::test]
async fn changing_the_password_ends_every_session_and_only_the_new_password_signs_in() {
    // Arrange
    let app = TestApp::spawn().await;
    let here = new_customer(&app, "ada@example.com").await;
    let elsewhere = signed_in(&app, "ada@example.com").await;

    // Act
    let res = with_bearer(
        &app,
        Method::PUT,
        "/v1/me/password",
        &here.access,
        Some(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;

    // Assert
    res.assert_status(204);
    for session in [&here, &elsewhere] {
        me(&app, &session.access)
            .await
            .assert_problem(401, "invalid_token");
        refresh(&app, &session.refresh)
            .await
            .assert_problem(401, "invalid_refresh_token");
    }
    sign_in(&app, "ada@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let fresh = Tokens::from_response(&sign_in(&app, "ada@example.com", NEW_PASSWORD).await);
    me(&app, &fresh.access).await.assert_status(200);
}

#[tokio::test]
async fn a_password_change_with_a_wrong_current_password_is_refused_and_ends_no_session() {
    // Arrange
    let app = TestApp::spawn().await;
    let ada = new_customer(&app, "ada@example.com").await;

    // Act
    let res = with_bearer(
        &app,
        Method::PUT,
        "/v1/me/password",
        &ada.access,
        Some(&json!({"current_password": WRONG_PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;

    // Assert
    res.assert_problem(401, "invalid_credentials");
    me(&app, &ada.access).await.assert_status(200);
    signed_in(&app, "ada@example.com").await;
}

#[tokio::test]
async fn a_weak_new_password_is_refused_with_weak_password_pointing_at_new_password() {
    // Arrange
    let app = TestApp::spawn().await;
    let ada = new_customer(&app, "ada@example.com").await;

    // Act
    let res = with_bearer(
        &app,
        Method::PUT,
        "/v1/me/password",
        &ada.access,
        Some(&json!({"current_password": PASSWORD, "new_password": "qwertyuiop"})),
    )
    .await;

    // Assert
    res.assert_problem(422, "weak_password");
    assert_eq!(res.pointers(), ["/new_password"], "{:#}", res.body);
    me(&app, &ada.access).await.assert_status(200);
    signed_in(&app, "ada@example.com").await;
}

// ---- abuse limits --------------------------------------------------------------------------

#[tokio::test]
async fn five_failed_sign_ins_throttle_the_email_even_for_the_right_password_until_the_window_ends()
{
    // Arrange: the documented limit, 5 failed sign-ins per account per 15 minutes.
    let app = TestApp::spawn().await;
    register_customer(&app, "ada@example.com").await;
    for attempt in 1..=5 {
        let res = sign_in(&app, "ada@example.com", WRONG_PASSWORD).await;
        assert_eq!(
            res.status.as_u16(),
            401,
            "attempt {attempt}: {:#}",
            res.body
        );
    }

    // Act
    let sixth = sign_in(&app, "ada@example.com", PASSWORD).await;

    // Assert
    let retry_after = assert_throttled(&sixth);
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After {retry_after} is not within the 15-minute window"
    );
    // Other accounts are not held back by it.
    register_customer(&app, "bob@example.com").await;
    signed_in(&app, "bob@example.com").await;
    // Still refused one second before Retry-After says …
    app.clock.advance(Duration::from_secs(retry_after - 1));
    assert_throttled(&sign_in(&app, "ada@example.com", PASSWORD).await);
    // … and lifted once the 15-minute window has passed.
    app.clock
        .set(kassa_kernel::Timestamp::from_millis(CLOCK_START_SECS * 1_000).plus_secs(15 * 60));
    let tokens = signed_in(&app, "ada@example.com").await;
    me(&app, &tokens.access).await.assert_status(200);
}

#[tokio::test]
async fn a_throttled_unknown_email_is_answered_exactly_like_a_throttled_known_one() {
    // Arrange
    let app = TestApp::spawn().await;
    register_customer(&app, "ada@example.com").await;
    for _ in 0..5 {
        sign_in(&app, "ada@example.com", WRONG_PASSWORD)
            .await
            .assert_problem(401, "invalid_credentials");
        sign_in(&app, "nobody@example.com", WRONG_PASSWORD)
            .await
            .assert_problem(401, "invalid_credentials");
    }

    // Act
    let known = sign_in(&app, "ada@example.com", PASSWORD).await;
    let unknown = sign_in(&app, "nobody@example.com", PASSWORD).await;

    // Assert
    assert_eq!(assert_throttled(&known), assert_throttled(&unknown));
    assert_eq!(
        without_instance(&known.body),
        without_instance(&unknown.body)
    );
}

#[tokio::test]
async fn thirty_sign_in_attempts_from_one_address_throttle_the_next_until_the_window_ends() {
    // Arrange: the documented limit, 30 sign-in attempts per client address per 15 minutes.
    // Each attempt names another email, so the per-account limit never applies.
    let app = TestApp::spawn().await;
    register_customer(&app, "ada@example.com").await;
    for attempt in 1..=30 {
        let res = sign_in(&app, &format!("guess{attempt}@example.com"), PASSWORD).await;
        assert_eq!(
            res.status.as_u16(),
            401,
            "attempt {attempt}: {:#}",
            res.body
        );
    }

    // Act: the 31st, with a registered email and its right password.
    let res = sign_in(&app, "ada@example.com", PASSWORD).await;

    // Assert
    let retry_after = assert_throttled(&res);
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    app.clock.advance(Duration::from_secs(15 * 60));
    signed_in(&app, "ada@example.com").await;
}

#[tokio::test]
async fn ten_registrations_from_one_address_in_an_hour_throttle_the_eleventh() {
    // Arrange: the documented limit, 10 registrations per client address per hour.
    let app = TestApp::spawn().await;
    for n in 1..=10 {
        let res = register(&app, &format!("shopper{n}@example.com"), PASSWORD).await;
        assert_eq!(res.status.as_u16(), 202, "registration {n}: {:#}", res.body);
    }

    // Act
    let eleventh = register(&app, "ada@example.com", PASSWORD).await;

    // Assert
    let retry_after = assert_throttled(&eleventh);
    assert!((1..=3_600).contains(&retry_after), "{retry_after}");
    app.clock.advance(Duration::from_secs(60 * 60));
    // The throttled registration created nothing; once the hour is over, it goes through.
    sign_in(&app, "ada@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    register_customer(&app, "ada@example.com").await;
    signed_in(&app, "ada@example.com").await;
}

// ---- access tokens that must be refused ----------------------------------------------------

#[tokio::test]
async fn an_access_token_is_refused_once_its_fifteen_minutes_have_passed() {
    // Arrange
    let app = TestApp::spawn().await;
    let ada = new_customer(&app, "ada@example.com").await;
    app.clock.advance(Duration::from_secs(899));
    me(&app, &ada.access).await.assert_status(200);

    // Act
    app.clock.advance(Duration::from_secs(2));
    let res = me(&app, &ada.access).await;

    // Assert
    res.assert_problem(401, "invalid_token");
    assert_eq!(
        refusal(&app, &ada.access).await,
        Some(TokenRefusal::Expired)
    );
    // The session outlives its access token: a refresh gives a working one.
    let fresh = Tokens::from_response(&refresh(&app, &ada.refresh).await);
    me(&app, &fresh.access).await.assert_status(200);
}

#[tokio::test]
async fn an_access_token_with_a_tampered_payload_is_refused() {
    // Arrange
    let app = TestApp::spawn().await;
    let ada = new_customer(&app, "ada@example.com").await;
    let bob = new_customer(&app, "bob@example.com").await;
    let jwt = Jwt::parse(&ada.access);
    let payload = jwt.payload_json();
    // Re-encoding the payload as it is gives the token back: the edits below are the only change.
    assert_eq!(jwt.with_payload_json(&payload), jwt);
    let ada_id = jwt.claims()["sub"].as_str().expect("sub").to_owned();
    let bob_id = Jwt::parse(&bob.access).claims()["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let exp = jwt.claims()["exp"].as_i64().expect("exp");
    let as_bob = payload.replace(&ada_id, &bob_id);
    let longer = payload.replace(
        &format!("\"exp\":{exp}"),
        &format!("\"exp\":{}", exp + 3_600),
    );
    assert_ne!(as_bob, payload);
    assert_ne!(longer, payload);
    let as_bob = jwt.with_payload_json(&as_bob).encode();
    let longer = jwt.with_payload_json(&longer).encode();

    // Act: Ada's session posing as Bob; Ada's token made to outlive its 15 minutes.
    let posing = me(&app, &as_bob).await;
    app.clock.advance(Duration::from_secs(901));
    let extended = me(&app, &longer).await;

    // Assert
    posing.assert_problem(401, "invalid_token");
    extended.assert_problem(401, "invalid_token");
    assert_eq!(
        refusal(&app, &as_bob).await,
        Some(TokenRefusal::BadSignature)
    );
    assert_eq!(
        refusal(&app, &longer).await,
        Some(TokenRefusal::BadSignature)
    );
}

#[tokio::test]
async fn an_access_token_with_alg_none_or_another_algorithm_is_refused() {
    // Arrange
    let app = TestApp::spawn().await;
    let ada = new_customer(&app, "ada@example.com").await;
    let jwt = Jwt::parse(&ada.access);
    let forged = [
        jwt.with_header_json(r#"{"alg":"none","typ":"JWT"}"#)
            .with_signature(""),
        jwt.with_header_json(r#"{"alg":"none"}"#).with_signature(""),
        jwt.with_header_json(r#"{"alg":"HS512","typ":"JWT"}"#),
        jwt.with_header_json(r#"{"alg":"RS256","typ":"JWT"}"#),
    ];

    for token in forged {
        let token = token.encode();

        // Act
        let res = me(&app, &token).await;

        // Assert
        res.assert_problem(401, "invalid_token");
        assert_eq!(
            refusal(&app, &token).await,
            Some(TokenRefusal::UnsupportedHeader),
            "{}",
            Jwt::parse(&token).header_json()
        );
    }
    me(&app, &ada.access).await.assert_status(200);
}

/// Two signing keys of 32 bytes or more.
const JWT_SECRET: &str = "kassa-tests-signing-key-number-one-0123456789";
const OTHER_JWT_SECRET: &str = "kassa-tests-signing-key-number-two-9876543210";

#[tokio::test]
async fn an_access_token_signed_with_another_key_is_refused() {
    // Arrange: no HMAC crate is at hand here, so the forger is another kassa signing with
    // another key. A third kassa with the same key as ours shows that the refusal is the key's
    // doing: its token passes the signature check and fails only on the session.
    let app =
        TestApp::spawn_with(|s| s.identity.jwt_secret = Some(JWT_SECRET.to_owned().into())).await;
    let forger =
        TestApp::spawn_with(|s| s.identity.jwt_secret = Some(OTHER_JWT_SECRET.to_owned().into()))
            .await;
    let twin =
        TestApp::spawn_with(|s| s.identity.jwt_secret = Some(JWT_SECRET.to_owned().into())).await;
    new_customer(&app, "ada@example.com").await;
    let forged = new_customer(&forger, "ada@example.com").await;
    let same_key = new_customer(&twin, "ada@example.com").await;
    me(&forger, &forged.access).await.assert_status(200);

    // Act
    let res = me(&app, &forged.access).await;

    // Assert
    res.assert_problem(401, "invalid_token");
    assert_eq!(
        refusal(&app, &forged.access).await,
        Some(TokenRefusal::BadSignature)
    );
    me(&app, &same_key.access)
        .await
        .assert_problem(401, "invalid_token");
    assert_eq!(
        refusal(&app, &same_key.access).await,
        Some(TokenRefusal::UnknownSession)
    );
}

// ---- staff ---------------------------------------------------------------------------------

#[tokio::test]
async fn staff_sign_in_answers_tokens_for_staff_and_refuses_a_customer_s_credentials() {
    // Arrange
    let app = TestApp::spawn().await;
    let mia = create_staff(&app, "mia@example.com", "manager").await;
    register_customer(&app, "ada@example.com").await;

    // Act
    let staff = staff_sign_in(&app, "mia@example.com", PASSWORD).await;
    let customer = staff_sign_in(&app, "ada@example.com", PASSWORD).await;

    // Assert
    let tokens = Tokens::from_response(&staff);
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], ACCESS_TTL_SECS);
    assert_eq!(tokens.body["refresh_expires_in"], REFRESH_TTL_SECS);
    assert!(tokens.session_id.starts_with("sess_"));
    let claims = Jwt::parse(&tokens.access).claims();
    assert_eq!(claims["kind"], "staff");
    assert_eq!(claims["sub"], mia["id"]);
    with_bearer(
        &app,
        Method::GET,
        "/v1/admin/products",
        &tokens.access,
        None,
    )
    .await
    .assert_status(200);
    customer.assert_problem(401, "invalid_credentials");
    // Nor does a staff member sign in as a customer.
    sign_in(&app, "mia@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    // Staff refresh like customers do.
    let next = Tokens::from_response(&refresh(&app, &tokens.refresh).await);
    with_bearer(&app, Method::GET, "/v1/admin/products", &next.access, None)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn the_owner_creates_staff_members_and_a_taken_email_is_email_taken() {
    // Arrange
    let app = TestApp::spawn().await;
    let body = json!({"email": "sam@example.com", "password": PASSWORD, "role": "support"});

    // Act
    let created = app
        .admin(Method::POST, "/v1/admin/staff", Some(&body))
        .await;
    let duplicate = app
        .admin(
            Method::POST,
            "/v1/admin/staff",
            Some(&json!({"email": "sam@example.com", "password": NEW_PASSWORD, "role": "manager"})),
        )
        .await;
    let weak = app
        .admin(
            Method::POST,
            "/v1/admin/staff",
            Some(&json!({"email": "wes@example.com", "password": "abcdefghij", "role": "manager"})),
        )
        .await;

    // Assert
    let member = created.assert_status(201).clone();
    let id = id_of(&member);
    assert!(id.starts_with("staff_"), "{member:#}");
    assert_eq!(
        member,
        json!({
            "id": id,
            "email": "sam@example.com",
            "role": "support",
            "disabled": false,
            "created_at": CLOCK_START_RFC3339,
        })
    );
    duplicate.assert_problem(409, "email_taken");
    weak.assert_problem(422, "weak_password");
    assert_eq!(weak.pointers(), ["/password"]);
    let list = app
        .admin(Method::GET, "/v1/admin/staff", None)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(list["next_cursor"], Value::Null);
    assert!(items_of(&list).contains(&member), "{list:#}");
    assert!(
        !items_of(&list)
            .iter()
            .any(|m| m["email"] == "wes@example.com"),
        "a refused member was created: {list:#}"
    );
    // The duplicate did not change the member: the first password still signs in as support.
    Tokens::from_response(&staff_sign_in(&app, "sam@example.com", PASSWORD).await);
}

#[tokio::test]
async fn the_last_active_owner_can_be_neither_demoted_nor_disabled() {
    // Arrange
    let app = TestApp::spawn().await;
    let owner = app.owner_id.to_string();
    let path = format!("/v1/admin/staff/{owner}");
    let changes = [json!({"role": "manager"}), json!({"disabled": true})];

    // Act / Assert: the only owner.
    for change in &changes {
        app.admin(Method::PATCH, &path, Some(change))
            .await
            .assert_problem(409, "last_owner");
    }

    // Act / Assert: a second owner who is disabled does not count.
    let second = create_staff(&app, "olga@example.com", "owner").await;
    let disabled = app
        .admin(
            Method::PATCH,
            &format!("/v1/admin/staff/{}", id_of(&second)),
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.assert_status(200)["disabled"], true);
    for change in &changes {
        app.admin(Method::PATCH, &path, Some(change))
            .await
            .assert_problem(409, "last_owner");
    }

    // Act / Assert: with another active owner, the first can step down.
    create_staff(&app, "otto@example.com", "owner").await;
    let demoted = app
        .admin(Method::PATCH, &path, Some(&json!({"role": "manager"})))
        .await;
    assert_eq!(demoted.assert_status(200)["role"], "manager");
}

#[tokio::test]
async fn disabling_a_staff_member_ends_its_sessions_and_refuses_its_sign_in() {
    // Arrange
    let app = TestApp::spawn().await;
    let (mia, tokens) = new_staff(&app, "mia@example.com", "manager").await;
    with_bearer(
        &app,
        Method::GET,
        "/v1/admin/products",
        &tokens.access,
        None,
    )
    .await
    .assert_status(200);

    // Act
    let res = app
        .admin(
            Method::PATCH,
            &format!("/v1/admin/staff/{}", id_of(&mia)),
            Some(&json!({"disabled": true})),
        )
        .await;

    // Assert
    let member = res.assert_status(200);
    assert_eq!(member["disabled"], true);
    assert_eq!(member["role"], "manager");
    with_bearer(
        &app,
        Method::GET,
        "/v1/admin/products",
        &tokens.access,
        None,
    )
    .await
    .assert_problem(401, "invalid_token");
    refresh(&app, &tokens.refresh)
        .await
        .assert_problem(401, "invalid_refresh_token");
    staff_sign_in(&app, "mia@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test]
async fn a_role_change_applies_to_the_member_s_next_request() {
    // Arrange
    let app = TestApp::spawn().await;
    let (mia, tokens) = new_staff(&app, "mia@example.com", "manager").await;
    let category = |handle: &str| json!({"handle": handle, "name": "Mugs"});
    with_bearer(
        &app,
        Method::POST,
        "/v1/admin/categories",
        &tokens.access,
        Some(&category("mugs")),
    )
    .await
    .assert_status(201);

    // Act
    app.admin(
        Method::PATCH,
        &format!("/v1/admin/staff/{}", id_of(&mia)),
        Some(&json!({"role": "support"})),
    )
    .await
    .assert_status(200);

    // Assert: the same token, now a support member's.
    with_bearer(
        &app,
        Method::POST,
        "/v1/admin/categories",
        &tokens.access,
        Some(&category("cups")),
    )
    .await
    .assert_problem(403, "forbidden");
    with_bearer(
        &app,
        Method::GET,
        "/v1/admin/products",
        &tokens.access,
        None,
    )
    .await
    .assert_status(200);
}

// ---- the audit log -------------------------------------------------------------------------

/// Every entry of the audit log, newest first, read by the owner.
async fn audit_entries(app: &TestApp) -> Vec<Value> {
    let page = app
        .admin(Method::GET, "/v1/admin/audit?limit=100", None)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(page["next_cursor"], Value::Null, "more than one page");
    items_of(&page).clone()
}

#[track_caller]
fn request_id(res: &TestResponse) -> String {
    res.header("x-request-id")
        .expect("every response has an x-request-id")
        .to_owned()
}

#[tokio::test]
async fn the_audit_log_records_who_changed_what_where_from_and_the_request_id_newest_first() {
    // Arrange
    let app = TestApp::spawn().await;
    let owner = app.owner_id.to_string();
    let (mia, manager) = new_staff(&app, "mia@example.com", "manager").await;
    app.clock.advance(Duration::from_secs(60));
    let created = app
        .admin(
            Method::POST,
            "/v1/admin/products",
            Some(&json!({
                "handle": "mug",
                "title": "Mug",
                "variants": [variant_body("MUG-1", &[(1600, "EUR")], 400)],
            })),
        )
        .await;
    let product = id_of(created.assert_status(201));
    app.clock.advance(Duration::from_secs(60));
    let patched = with_bearer(
        &app,
        Method::PATCH,
        &format!("/v1/admin/products/{product}"),
        &manager.access,
        Some(&json!({"title": "Big mug"})),
    )
    .await;
    patched.assert_status(200);
    app.clock.advance(Duration::from_secs(60));
    with_bearer(
        &app,
        Method::GET,
        &format!("/v1/admin/products/{product}"),
        &manager.access,
        None,
    )
    .await
    .assert_status(200);

    // Act
    let entries = audit_entries(&app).await;

    // Assert
    assert!(entries.len() >= 2, "{entries:#?}");
    let expected =
        |index: usize, staff: &str, action: &str, resource: &str, at: &str, rid: String| {
            json!({
                "id": entries[index]["id"],
                "staff_id": staff,
                "action": action,
                "resource": resource,
                "at": at,
                "client_addr": "127.0.0.1",
                "request_id": rid,
            })
        };
    assert_eq!(
        entries[0],
        expected(
            0,
            &id_of(&mia),
            "PATCH /v1/admin/products/{product_id}",
            &format!("/v1/admin/products/{product}"),
            "2026-11-18T11:08:40.000Z",
            request_id(&patched),
        )
    );
    assert_eq!(
        entries[1],
        expected(
            1,
            &owner,
            "POST /v1/admin/products",
            "/v1/admin/products",
            "2026-11-18T11:07:40.000Z",
            request_id(&created),
        )
    );
    for entry in &entries {
        assert!(
            entry["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("aud_")),
            "{entry:#}"
        );
        assert!(
            !entry["action"]
                .as_str()
                .unwrap_or("GET")
                .starts_with("GET "),
            "a read was audited: {entry:#}"
        );
    }
    let times: Vec<&str> = entries.iter().filter_map(|e| e["at"].as_str()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {times:?}"
    );
    // Pages of one follow the same order.
    let first = app
        .admin(Method::GET, "/v1/admin/audit?limit=1", None)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(items_of(&first), &vec![entries[0].clone()]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .admin(
            Method::GET,
            &format!("/v1/admin/audit?limit=1&cursor={cursor}"),
            None,
        )
        .await
        .assert_status(200)
        .clone();
    assert_eq!(items_of(&second), &vec![entries[1].clone()]);
}

#[tokio::test]
async fn reads_and_refused_requests_are_not_audited() {
    // Arrange
    let app = TestApp::spawn().await;
    let (_, manager) = new_staff(&app, "mia@example.com", "manager").await;
    let (_, support) = new_staff(&app, "sam@example.com", "support").await;
    let before = audit_entries(&app).await;
    let unknown_product = format!("/v1/admin/products/{}", kassa_kernel::ids::ProductId::new());

    // Act
    let reads = [
        with_bearer(
            &app,
            Method::GET,
            "/v1/admin/products",
            &manager.access,
            None,
        )
        .await,
        with_bearer(
            &app,
            Method::GET,
            "/v1/admin/tax-rates",
            &support.access,
            None,
        )
        .await,
    ];
    let not_found = with_bearer(
        &app,
        Method::PATCH,
        &unknown_product,
        &manager.access,
        Some(&json!({"title": "Ghost"})),
    )
    .await;
    let forbidden = with_bearer(
        &app,
        Method::POST,
        "/v1/admin/categories",
        &support.access,
        Some(&json!({"handle": "mugs", "name": "Mugs"})),
    )
    .await;

    // Assert
    for read in &reads {
        read.assert_status(200);
    }
    not_found.assert_problem(404, "product_not_found");
    forbidden.assert_problem(403, "forbidden");
    assert_eq!(audit_entries(&app).await, before);
}
