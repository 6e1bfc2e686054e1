//! Every request the connector sends is one Stripe's OpenAPI subset accepts, and the checker
//! refuses what Stripe would refuse.

use kassa_payments::gateway::{AuthorizeOutcome, PaymentGateway, RefundOutcome};
use kassa_payments::{IdempotencyKey, PaymentId, RefundId};
use serde_json::{json, Value};

use super::fake::{PM_3DS, PM_INSUFFICIENT_FUNDS, PM_VISA};
use super::openapi::{decode_form, Mode, Spec};
use super::{authorize_request, eur, setup, SECRET_KEY};

fn gateway_ref(outcome: AuthorizeOutcome) -> String {
    match outcome {
        AuthorizeOutcome::Authorized { gateway_ref }
        | AuthorizeOutcome::RequiresAction { gateway_ref, .. } => gateway_ref,
        other => panic!("no gateway reference in {other:?}"),
    }
}

#[tokio::test]
async fn every_request_the_connector_sends_validates_against_the_openapi_subset() {
    let s = setup().await;
    let spec = Spec::load();
    // Every operation and every optional parameter the connector can send.
    let authorized = gateway_ref(
        s.gateway
            .authorize(&authorize_request(eur(1000), PM_VISA, None))
            .await
            .unwrap(),
    );
    s.gateway
        .capture(
            &authorized,
            eur(600),
            &IdempotencyKey::capture(PaymentId::new()),
        )
        .await
        .unwrap();
    for amount in [100, 250] {
        let key = IdempotencyKey::refund(RefundId::new());
        let outcome = s
            .gateway
            .refund(&authorized, eur(amount), &key)
            .await
            .unwrap();
        assert!(
            matches!(outcome, RefundOutcome::Succeeded { .. }),
            "{outcome:?}"
        );
    }
    s.gateway.retrieve(&authorized).await.unwrap();
    let view = s.gateway.inspect(&authorized).await.unwrap();
    assert_eq!(view.refunded, eur(350), "{view:?}");
    assert_eq!(view.captured, eur(600));
    assert_eq!(view.status, "succeeded");
    let with_3ds = authorize_request(
        eur(2500),
        PM_3DS,
        Some("https://shop.example/orders/1/3ds?x=1&y=ä"),
    );
    let pending = gateway_ref(s.gateway.authorize(&with_3ds).await.unwrap());
    s.gateway
        .void(&pending, &IdempotencyKey::void(PaymentId::new()))
        .await
        .unwrap();
    let declined = s
        .gateway
        .authorize(&authorize_request(eur(300), PM_INSUFFICIENT_FUNDS, None))
        .await
        .unwrap();
    assert!(matches!(declined, AuthorizeOutcome::Declined(_)));

    let received = s.fake.received();
    let operations: Vec<String> = received
        .iter()
        .map(|r| {
            spec.operation(&r.method, &r.path)
                .map(|(t, _)| format!("{} {t}", r.method))
                .unwrap_or_default()
        })
        .collect();
    for expected in [
        "POST /v1/payment_intents",
        "POST /v1/payment_intents/{intent}/capture",
        "POST /v1/payment_intents/{intent}/cancel",
        "POST /v1/refunds",
        "GET /v1/payment_intents/{intent}",
        "GET /v1/refunds",
    ] {
        assert!(
            operations.iter().any(|o| o == expected),
            "{expected} not exercised: {operations:?}"
        );
    }
    for request in &received {
        let errors = spec.validate_request(
            &request.method,
            &request.path,
            &request.query,
            &request.body,
        );
        assert!(
            errors.is_empty(),
            "{} {} {}: {errors:#?}",
            request.method,
            request.path,
            request.body
        );
        assert_eq!(request.header("stripe-version"), Some("2023-08-16"));
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {SECRET_KEY}").as_str())
        );
        if request.method == "POST" {
            assert_eq!(
                request.header("content-type"),
                Some("application/x-www-form-urlencoded")
            );
            let key = request.header("idempotency-key").unwrap();
            assert!(key.starts_with("kassa:") && key.len() <= 255, "{key}");
        } else {
            assert_eq!(
                request.header("idempotency-key"),
                None,
                "a GET carries no key"
            );
            assert_eq!(request.body, "");
        }
    }
    // The encoded return URL survives the round trip exactly.
    let create_3ds = received
        .iter()
        .find(|r| r.body.contains("return_url"))
        .unwrap();
    assert_eq!(
        create_3ds.form()["return_url"],
        "https://shop.example/orders/1/3ds?x=1&y=ä"
    );
}

#[test]
fn the_create_body_decodes_to_the_parameters_the_issue_asks_for() {
    let body =
        "amount=1000&currency=eur&capture_method=manual&confirm=true&payment_method=pm_card_visa\
                &payment_method_types%5B%5D=card&metadata%5Border_id%5D=ord_1";
    assert_eq!(
        decode_form(body).unwrap(),
        json!({"amount": "1000", "currency": "eur", "capture_method": "manual", "confirm": "true",
               "payment_method": "pm_card_visa", "payment_method_types": ["card"],
               "metadata": {"order_id": "ord_1"}})
    );
    assert_eq!(
        decode_form("items%5B0%5D%5Bprice%5D=p&items%5B1%5D%5Bprice%5D=q&a=1").unwrap(),
        json!({"items": [{"price": "p"}, {"price": "q"}], "a": "1"})
    );
    for bad in ["a=1&a=2", "a%5B=1", "a%5B2%5D=x", "%5Bx%5D=1"] {
        assert!(decode_form(bad).is_err(), "{bad}");
    }
}

/// The checker is only worth something if it can say no.
#[test]
fn the_checker_refuses_what_stripe_would_refuse() {
    let spec = Spec::load();
    let create = |body: &str| spec.validate_request("POST", "/v1/payment_intents", "", body);
    let good =
        "amount=1000&currency=eur&capture_method=manual&confirm=true&payment_method=pm_card_visa\
                &payment_method_types%5B%5D=card&metadata%5Border_id%5D=ord_1";
    assert_eq!(create(good), Vec::<String>::new());
    let cases = [
        (format!("{good}&bogus=1"), "/bogus: unknown property"),
        (
            format!("{good}&metadata%5Border_id%5D=ord_2"),
            "given twice",
        ),
        (
            "currency=eur".to_owned(),
            "required property amount is missing",
        ),
        (
            "amount=1000".to_owned(),
            "required property currency is missing",
        ),
        (
            "amount=ten&currency=eur".to_owned(),
            "/amount: \"ten\" is not of type integer",
        ),
        (
            "amount=1000&currency=eur&capture_method=later".to_owned(),
            "/capture_method",
        ),
        (
            "amount=1000&currency=eur&confirm=yes".to_owned(),
            "/confirm",
        ),
        (
            format!("amount=1000&currency=eur&description={}", "d".repeat(1001)),
            "longer than 1000",
        ),
        (
            "amount=1000&currency=eur&shipping%5Bnope%5D=1".to_owned(),
            "/shipping",
        ),
        (
            "amount=1000&currency=eur&payment_method_types=card".to_owned(),
            "/payment_method_types",
        ),
    ];
    for (body, expected) in cases {
        let errors = create(&body);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{body}: expected '{expected}' in {errors:#?}"
        );
    }
    let capture = spec.validate_request("POST", "/v1/payment_intents/pi_1/capture", "", "amount=1");
    assert!(
        capture
            .iter()
            .any(|e| e.contains("/amount: unknown property")),
        "{capture:?}"
    );
    let cancel = spec.validate_request(
        "POST",
        "/v1/payment_intents/pi_1/cancel",
        "",
        "cancellation_reason=oops",
    );
    assert!(!cancel.is_empty());
    let get = spec.validate_request("GET", "/v1/payment_intents/pi_1", "secret=1", "");
    assert!(
        get.iter().any(|e| e.contains("unknown query parameter")),
        "{get:?}"
    );
    let unknown = spec.validate_request("POST", "/v1/charges", "", "");
    assert!(!unknown.is_empty());
}

#[test]
fn the_checker_reads_json_strictly_and_allows_null_where_stripe_says_nullable() {
    let spec = Spec::load();
    let schema = spec.component("refund");
    let refund = json!({"id": "re_1", "object": "refund", "amount": 100, "created": 1, "currency": "eur",
                        "payment_intent": null, "metadata": null});
    assert_eq!(
        spec.validate(schema, &refund, Mode::Json),
        Vec::<String>::new()
    );
    let as_text =
        json!({"id": "re_1", "object": "refund", "amount": "100", "created": 1, "currency": "eur"});
    assert!(!spec.validate(schema, &as_text, Mode::Json).is_empty());
    let null_amount =
        json!({"id": "re_1", "object": "refund", "amount": null, "created": 1, "currency": "eur"});
    assert!(!spec.validate(schema, &null_amount, Mode::Json).is_empty());
    let wrong_object: Value =
        json!({"id": "re_1", "object": "charge", "amount": 1, "created": 1, "currency": "eur"});
    assert!(!spec.validate(schema, &wrong_object, Mode::Json).is_empty());
}
