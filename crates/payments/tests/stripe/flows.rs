//! The connector against the fake Stripe: what each call sends, what each answer becomes, and
//! how failures, retries and the circuit breaker behave.

use std::time::Duration;

use kassa_payments::connectors::stripe::{BreakerState, StripeGateway};
use kassa_payments::gateway::{
    AuthorizeOutcome, GatewayError, GatewayErrorKind, GatewayPaymentStatus, PaymentGateway,
    RefundOutcome,
};
use kassa_payments::{Decline, IdempotencyKey, NextAction, PaymentId, RefundId};
use serde_json::json;

use super::fake::{Script, PM_3DS, PM_DECLINED, PM_INSUFFICIENT_FUNDS, PM_VISA};
use super::{authorize_request, eur, setup, setup_with, SECRET_KEY};

async fn authorized(gateway: &StripeGateway, minor: i64) -> String {
    match gateway
        .authorize(&authorize_request(eur(minor), PM_VISA, None))
        .await
        .unwrap()
    {
        AuthorizeOutcome::Authorized { gateway_ref } => gateway_ref,
        other => panic!("not authorized: {other:?}"),
    }
}

fn capture_key() -> IdempotencyKey {
    IdempotencyKey::capture(PaymentId::new())
}

fn refund_key() -> IdempotencyKey {
    IdempotencyKey::refund(RefundId::new())
}

fn server_error(status: u16) -> Script {
    Script::status(status, "api_error", "Something went wrong on Stripe's end.")
}

#[tokio::test]
async fn authorize_capture_partially_and_refund_twice() {
    let s = setup().await;
    let request = authorize_request(eur(1000), PM_VISA, None);
    let AuthorizeOutcome::Authorized { gateway_ref } = s.gateway.authorize(&request).await.unwrap()
    else {
        panic!("not authorized")
    };
    let create = &s.fake.received()[0];
    assert_eq!(
        create.header("idempotency-key"),
        Some(request.idempotency_key.as_str())
    );
    let form = create.form();
    assert_eq!(
        (
            &form["amount"],
            &form["currency"],
            &form["capture_method"],
            &form["confirm"]
        ),
        (
            &json!("1000"),
            &json!("eur"),
            &json!("manual"),
            &json!("true")
        )
    );
    assert_eq!(form["metadata"]["order_id"], request.order_ref.as_str());
    assert_eq!(form["payment_method"], PM_VISA);
    assert_eq!(
        s.gateway.retrieve(&gateway_ref).await.unwrap(),
        GatewayPaymentStatus::Authorized
    );

    s.gateway
        .capture(&gateway_ref, eur(600), &capture_key())
        .await
        .unwrap();
    assert_eq!(s.fake.intent(&gateway_ref)["amount_received"], 600);
    let first = s
        .gateway
        .refund(&gateway_ref, eur(200), &refund_key())
        .await
        .unwrap();
    let second = s
        .gateway
        .refund(&gateway_ref, eur(400), &refund_key())
        .await
        .unwrap();
    let (RefundOutcome::Succeeded { refund_ref: a }, RefundOutcome::Succeeded { refund_ref: b }) =
        (first, second)
    else {
        panic!("a refund did not succeed")
    };
    assert_ne!(a, b);
    // Past what was captured: Stripe refuses, an invalid request (nothing refunded).
    let err = s
        .gateway
        .refund(&gateway_ref, eur(1), &refund_key())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.retryable),
        (GatewayErrorKind::Invalid, false),
        "{err}"
    );
    assert!(err.message.contains("amount_too_large"), "{err}");
    assert_eq!(
        s.gateway.retrieve(&gateway_ref).await.unwrap(),
        GatewayPaymentStatus::Captured { amount: eur(600) }
    );
    assert_eq!(s.fake.intent_count(), 1);
}

#[tokio::test]
async fn a_decline_is_an_outcome_with_the_issuer_decline_code() {
    let s = setup().await;
    let outcome = s
        .gateway
        .authorize(&authorize_request(eur(500), PM_INSUFFICIENT_FUNDS, None))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        AuthorizeOutcome::Declined(Decline {
            code: "insufficient_funds".into(),
            message: "Your card has insufficient funds.".into()
        })
    );
    let outcome = s
        .gateway
        .authorize(&authorize_request(eur(500), PM_DECLINED, None))
        .await
        .unwrap();
    assert!(
        matches!(outcome, AuthorizeOutcome::Declined(Decline { ref code, .. }) if code == "generic_decline")
    );
    // A decline is Stripe working: no retry, and it does not count against the breaker.
    assert_eq!(s.fake.request_count(), 2);
    assert_eq!(s.gateway.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn three_d_secure_redirects_and_retrieve_learns_how_it_ended() {
    let s = setup().await;
    let request = authorize_request(eur(700), PM_3DS, Some("https://shop.example/back"));
    let AuthorizeOutcome::RequiresAction {
        gateway_ref,
        next_action,
    } = s.gateway.authorize(&request).await.unwrap()
    else {
        panic!("no action required")
    };
    let expected = NextAction {
        redirect_url: Some(format!(
            "https://hooks.stripe.com/3d_secure_2/hosted/{gateway_ref}"
        )),
        client_secret: Some(format!("{gateway_ref}_secret_fake")),
    };
    assert_eq!(next_action, expected);
    assert_eq!(
        s.gateway.retrieve(&gateway_ref).await.unwrap(),
        GatewayPaymentStatus::RequiresAction {
            next_action: expected
        }
    );
    s.fake.complete_3ds(&gateway_ref, true);
    assert_eq!(
        s.gateway.retrieve(&gateway_ref).await.unwrap(),
        GatewayPaymentStatus::Authorized
    );

    let request = authorize_request(eur(700), PM_3DS, Some("https://shop.example/back"));
    let AuthorizeOutcome::RequiresAction { gateway_ref, .. } =
        s.gateway.authorize(&request).await.unwrap()
    else {
        panic!("no action required")
    };
    s.fake.complete_3ds(&gateway_ref, false);
    let GatewayPaymentStatus::Declined(decline) = s.gateway.retrieve(&gateway_ref).await.unwrap()
    else {
        panic!("not declined")
    };
    assert_eq!(decline.code, "payment_intent_authentication_failure");
    // Voiding an intent awaiting 3-D Secure releases it.
    let request = authorize_request(eur(700), PM_3DS, Some("https://shop.example/back"));
    let AuthorizeOutcome::RequiresAction { gateway_ref, .. } =
        s.gateway.authorize(&request).await.unwrap()
    else {
        panic!("no action required")
    };
    s.gateway
        .void(&gateway_ref, &IdempotencyKey::void(PaymentId::new()))
        .await
        .unwrap();
    assert_eq!(
        s.gateway.retrieve(&gateway_ref).await.unwrap(),
        GatewayPaymentStatus::Canceled
    );
}

/// Without `return_url` Stripe asks for Stripe.js (`use_stripe_sdk`): the next action carries
/// the intent's client secret and no redirect, and passing the challenge in the browser leaves
/// the intent authorized.
#[tokio::test]
async fn three_d_secure_without_a_return_url_hands_the_client_secret_to_stripe_js() {
    let s = setup().await;
    let AuthorizeOutcome::RequiresAction {
        gateway_ref,
        next_action,
    } = s
        .gateway
        .authorize(&authorize_request(eur(700), PM_3DS, None))
        .await
        .unwrap()
    else {
        panic!("no action required")
    };
    assert_eq!(next_action.redirect_url, None);
    assert_eq!(
        next_action.client_secret,
        Some(format!("{gateway_ref}_secret_fake"))
    );
    assert!(!format!("{next_action:?}").contains("secret_fake"));
    s.fake.complete_3ds(&gateway_ref, true);
    assert_eq!(
        s.gateway.retrieve(&gateway_ref).await.unwrap(),
        GatewayPaymentStatus::Authorized
    );
}

#[tokio::test]
async fn a_5xx_then_success_is_retried_with_the_same_idempotency_key_and_body() {
    for status in [500, 502, 503] {
        let s = setup().await;
        s.fake.script(server_error(status));
        s.fake.script(server_error(status));
        let request = authorize_request(eur(1000), PM_VISA, None);
        let outcome = s.gateway.authorize(&request).await.unwrap();
        assert!(
            matches!(outcome, AuthorizeOutcome::Authorized { .. }),
            "{status}: {outcome:?}"
        );
        let received = s.fake.received();
        assert_eq!(received.len(), 3, "{status}");
        for try_ in &received {
            assert_eq!(
                try_.header("idempotency-key"),
                Some(request.idempotency_key.as_str())
            );
            assert_eq!(try_.body, received[0].body);
        }
        assert_eq!(s.fake.intent_count(), 1);
    }
}

#[tokio::test]
async fn retries_are_bounded_and_a_500_leaves_the_outcome_unknown_but_a_503_does_not() {
    let s = setup().await;
    for _ in 0..3 {
        s.fake.script(server_error(500));
    }
    let err = s
        .gateway
        .authorize(&authorize_request(eur(1000), PM_VISA, None))
        .await
        .unwrap_err();
    // Stripe keeps a 500 once execution began: the authorization may exist.
    assert!(err.outcome_unknown() && err.retryable, "{err}");
    assert_eq!(
        s.fake.request_count(),
        3,
        "one try and max_retries = 2 retries"
    );

    let s = setup().await;
    for _ in 0..3 {
        s.fake.script(server_error(503));
    }
    let err = s
        .gateway
        .authorize(&authorize_request(eur(1000), PM_VISA, None))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.retryable),
        (GatewayErrorKind::Unavailable, true),
        "{err}"
    );
    assert_eq!(s.fake.request_count(), 3);

    // A read is never "maybe performed".
    let s = setup().await;
    for _ in 0..3 {
        s.fake.script(server_error(500));
    }
    let err = s.gateway.retrieve("pi_1").await.unwrap_err();
    assert_eq!(err.kind, GatewayErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn a_timeout_after_sending_is_an_unknown_outcome_and_the_same_key_finds_the_answer() {
    let s = setup_with(|c| c.timeout = Duration::from_millis(300)).await;
    s.fake
        .script(Script::PerformThenHang(Duration::from_secs(3)));
    let request = authorize_request(eur(1000), PM_VISA, None);
    let err = s.gateway.authorize(&request).await.unwrap_err();
    assert!(err.outcome_unknown(), "{err}");
    assert_eq!(err.kind, GatewayErrorKind::Timeout);
    assert_eq!(
        s.fake.request_count(),
        1,
        "a POST that may have been performed is not resent"
    );
    // Asking again with the same key gets Stripe's first answer: one authorization only.
    let outcome = s.gateway.authorize(&request).await.unwrap();
    assert!(
        matches!(outcome, AuthorizeOutcome::Authorized { .. }),
        "{outcome:?}"
    );
    assert_eq!(s.fake.intent_count(), 1);
}

#[tokio::test]
async fn a_read_that_times_out_is_tried_again() {
    let s = setup_with(|c| c.timeout = Duration::from_millis(300)).await;
    let gateway_ref = authorized(&s.gateway, 1000).await;
    s.fake
        .script(Script::PerformThenHang(Duration::from_secs(3)));
    assert_eq!(
        s.gateway.retrieve(&gateway_ref).await.unwrap(),
        GatewayPaymentStatus::Authorized
    );
    assert_eq!(s.fake.request_count(), 3);
}

/// Replaying the same key would return the same `processing` answer forever, so the intent
/// is read again; if that read fails the outcome stays unknown (the intent exists).
#[tokio::test]
async fn a_processing_answer_is_read_again_and_a_failed_read_leaves_it_unknown() {
    let s = setup().await;
    let gateway_ref = authorized(&s.gateway, 1000).await;
    let mut processing = s.fake.intent(&gateway_ref);
    processing["status"] = json!("processing");
    s.fake.script(Script::Reply {
        status: 200,
        body: processing.clone(),
        headers: Vec::new(),
    });
    let outcome = s
        .gateway
        .authorize(&authorize_request(eur(1000), PM_VISA, None))
        .await
        .unwrap();
    assert_eq!(outcome, AuthorizeOutcome::Authorized { gateway_ref });
    let received = s.fake.received();
    assert_eq!(received.last().map(|r| r.method.as_str()), Some("GET"));

    processing["id"] = json!("pi_unknownToTheFake");
    s.fake.script(Script::Reply {
        status: 200,
        body: processing,
        headers: Vec::new(),
    });
    let err = s
        .gateway
        .authorize(&authorize_request(eur(1000), PM_VISA, None))
        .await
        .unwrap_err();
    assert!(err.outcome_unknown(), "{err}");
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let s = setup().await;
    s.fake.script(Script::Reply {
        status: 429,
        body: json!({"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"}}),
        headers: vec![("retry-after", "1".to_owned())],
    });
    let gateway_ref = authorized(&s.gateway, 1000).await;
    let received = s.fake.received();
    assert_eq!(received.len(), 2);
    let waited = received[1].at.duration_since(received[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?} (backoff alone is ≤ 20 ms)"
    );
    assert!(s.fake.intent(&gateway_ref)["status"] == "requires_capture");

    // A Retry-After past the call's deadline is not waited for: the caller gets it.
    s.fake.script(Script::Reply {
        status: 429,
        body: json!({"error": {"type": "invalid_request_error", "code": "rate_limit"}}),
        headers: vec![("retry-after", "3600".to_owned())],
    });
    let err = s.gateway.retrieve(&gateway_ref).await.unwrap_err();
    assert_eq!(
        (err.kind, err.retryable),
        (GatewayErrorKind::Unavailable, true),
        "{err}"
    );
    assert_eq!(err.retry_after, Some(Duration::from_secs(3600)));
    assert_eq!(s.fake.request_count(), 3);
}

#[tokio::test]
async fn a_conflict_with_a_request_still_executing_is_retried_and_never_not_performed() {
    let s = setup().await;
    let in_use = Script::Reply {
        status: 409,
        body: json!({"error": {"type": "invalid_request_error", "code": "idempotency_key_in_use"}}),
        headers: Vec::new(),
    };
    s.fake.script(in_use.clone());
    authorized(&s.gateway, 1000).await;
    assert_eq!(s.fake.request_count(), 2);
    for _ in 0..3 {
        s.fake.script(in_use.clone());
    }
    let err = s
        .gateway
        .authorize(&authorize_request(eur(10), PM_VISA, None))
        .await
        .unwrap_err();
    assert!(err.outcome_unknown(), "{err}");
}

#[tokio::test]
async fn refusals_are_invalid_and_not_retried() {
    let s = setup().await;
    let err = s
        .gateway
        .capture("pi_missing", eur(100), &capture_key())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.retryable),
        (GatewayErrorKind::Invalid, false),
        "{err}"
    );
    assert!(err.message.contains("resource_missing"), "{err}");
    s.fake.script(Script::status(400, "idempotency_error", "Keys for idempotent requests can only be used with the same parameters they were first used with."));
    let err = s
        .gateway
        .authorize(&authorize_request(eur(10), PM_VISA, None))
        .await
        .unwrap_err();
    assert_eq!(err.kind, GatewayErrorKind::Invalid, "{err}");
    assert!(err.message.contains("idempotency key reused"), "{err}");
    // A capture after the payment was captured is refused by Stripe (a new key).
    let gateway_ref = authorized(&s.gateway, 1000).await;
    s.gateway
        .capture(&gateway_ref, eur(1000), &capture_key())
        .await
        .unwrap();
    let err = s
        .gateway
        .capture(&gateway_ref, eur(1000), &capture_key())
        .await
        .unwrap_err();
    assert!(
        err.message.contains("payment_intent_unexpected_state"),
        "{err}"
    );
    // An id that would change the URL is refused before anything is sent.
    let count = s.fake.request_count();
    assert!(s
        .gateway
        .void("pi_1/../../v1/refunds", &capture_key())
        .await
        .is_err());
    assert_eq!(s.fake.request_count(), count);
    assert_eq!(s.gateway.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable_not_unknown() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let s = setup_with(|c| c.base_url = closed).await;
    let err = s
        .gateway
        .authorize(&authorize_request(eur(10), PM_VISA, None))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.retryable),
        (GatewayErrorKind::Unavailable, true),
        "{err}"
    );
    assert!(!err.outcome_unknown());
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_half_opens_after_the_cool_down_and_closes_on_success() {
    let s = setup_with(|c| c.max_retries = 0).await;
    for _ in 0..3 {
        s.fake.script(server_error(503));
        let err = s.gateway.retrieve("pi_1").await.unwrap_err();
        assert_eq!(err.kind, GatewayErrorKind::Unavailable);
    }
    assert!(matches!(
        s.gateway.breaker_state(),
        BreakerState::Open { .. }
    ));
    assert_eq!(s.fake.request_count(), 3);

    // Open: nothing reaches Stripe, and the error says how long to wait.
    let err = s
        .gateway
        .authorize(&authorize_request(eur(10), PM_VISA, None))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.retryable),
        (GatewayErrorKind::Unavailable, true),
        "{err}"
    );
    assert!(!err.outcome_unknown());
    assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
    s.clock.advance(Duration::from_secs(20));
    let err = s.gateway.retrieve("pi_1").await.unwrap_err();
    assert_eq!(err.retry_after, Some(Duration::from_secs(10)));
    assert_eq!(
        s.fake.request_count(),
        3,
        "no request reached the fake while open"
    );

    // After the cool-down one probe goes through; its success closes the breaker.
    s.clock.advance(Duration::from_secs(10));
    let gateway_ref = authorized(&s.gateway, 1000).await;
    assert_eq!(s.gateway.breaker_state(), BreakerState::Closed);
    assert_eq!(s.fake.request_count(), 4);
    s.gateway
        .capture(&gateway_ref, eur(1000), &capture_key())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_probe_opens_the_breaker_again() {
    let s = setup_with(|c| c.max_retries = 0).await;
    for _ in 0..4 {
        s.fake.script(server_error(502));
    }
    for _ in 0..3 {
        assert!(s.gateway.retrieve("pi_1").await.is_err());
    }
    s.clock.advance(Duration::from_secs(30));
    assert!(s.gateway.retrieve("pi_1").await.is_err());
    assert_eq!(s.fake.request_count(), 4);
    let err = s.gateway.retrieve("pi_1").await.unwrap_err();
    assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(s.fake.request_count(), 4);
}

#[tokio::test]
async fn retries_stop_when_the_breaker_opens_mid_call() {
    let s = setup_with(|c| c.max_retries = 5).await;
    for _ in 0..6 {
        s.fake.script(server_error(500));
    }
    let err = s
        .gateway
        .authorize(&authorize_request(eur(10), PM_VISA, None))
        .await
        .unwrap_err();
    // Three tries opened the breaker; the call still says the outcome is unknown.
    assert_eq!(s.fake.request_count(), 3);
    assert!(err.outcome_unknown(), "{err}");
    assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn the_secret_key_never_shows_in_debug_output_or_errors() {
    let s = setup_with(|c| c.max_retries = 0).await;
    let mut shown = vec![
        format!("{:?}", s.gateway),
        format!("{:?}", s.gateway.config()),
    ];
    // An upstream that echoes the key back in its error message.
    s.fake.script(Script::status(
        401,
        "invalid_request_error",
        &format!("Invalid API Key provided: {SECRET_KEY}"),
    ));
    let err = s
        .gateway
        .authorize(&authorize_request(eur(10), PM_VISA, None))
        .await
        .unwrap_err();
    assert_eq!(err.kind, GatewayErrorKind::Invalid);
    assert!(err.message.contains("[redacted]"), "{err}");
    let mut errors: Vec<GatewayError> = vec![err];
    s.fake.script(Script::status(
        500,
        "api_error",
        &format!("boom {SECRET_KEY}"),
    ));
    errors.push(
        s.gateway
            .authorize(&authorize_request(eur(10), PM_VISA, None))
            .await
            .unwrap_err(),
    );
    s.fake.script(Script::status(
        402,
        "card_error",
        &format!("declined {SECRET_KEY}"),
    ));
    let declined = s
        .gateway
        .authorize(&authorize_request(eur(10), PM_VISA, None))
        .await
        .unwrap();
    shown.push(format!("{declined:?}"));
    errors.push(
        s.gateway
            .capture("pi_missing", eur(1), &capture_key())
            .await
            .unwrap_err(),
    );
    for err in &errors {
        shown.push(format!("{err} {err:?}"));
    }
    for text in shown {
        assert!(!text.contains(SECRET_KEY), "the key leaked: {text}");
        assert!(
            !text.contains("kassaContract4242"),
            "part of the key leaked: {text}"
        );
    }
    // It was sent, though: every request authenticated with it.
    for request in s.fake.received() {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {SECRET_KEY}").as_str())
        );
    }
}
