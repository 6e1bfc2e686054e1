use super::*;
use crate::gateway::GatewayErrorKind;
use crate::keys::IdempotencyKey;
use crate::model::{OrderRef, PaymentId, PaymentMethodToken};
use serde_json::json;

fn intent(value: serde_json::Value) -> PaymentIntent {
    let mut base = json!({
        "id": "pi_1", "object": "payment_intent", "amount": 1000, "currency": "eur",
        "status": "requires_capture", "capture_method": "manual",
        "client_secret": "pi_1_secret_abc", "livemode": false, "created": 1
    });
    if let (Some(base), Some(extra)) = (base.as_object_mut(), value.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(base).unwrap()
}

fn request(return_url: Option<&str>) -> AuthorizeRequest {
    AuthorizeRequest {
        amount: Money::new(1099, Currency::Eur),
        payment_method: PaymentMethodToken::parse("pm_card_visa").unwrap(),
        idempotency_key: IdempotencyKey::authorize(PaymentId::new()),
        order_ref: OrderRef::parse("ord_42").unwrap(),
        return_url: return_url.map(str::to_owned),
    }
}

#[test]
fn the_create_body_asks_for_a_confirmed_manual_capture_card_payment() {
    let body = create_intent_form(&request(None)).unwrap().encode();
    assert_eq!(
        body,
        "amount=1099&currency=eur&capture_method=manual&confirm=true&payment_method=pm_card_visa\
         &payment_method_types%5B%5D=card&metadata%5Border_id%5D=ord_42"
    );
    let with_return = create_intent_form(&request(Some("https://shop.example/3ds")))
        .unwrap()
        .encode();
    assert!(with_return.ends_with("&return_url=https%3A%2F%2Fshop.example%2F3ds"));
}

#[test]
fn amounts_are_minor_units_above_zero_and_three_decimal_ones_end_in_zero() {
    assert_eq!(amount(Money::new(1, Currency::Usd)).unwrap(), "1");
    assert_eq!(amount(Money::new(500, Currency::Jpy)).unwrap(), "500");
    assert_eq!(amount(Money::new(5120, Currency::Kwd)).unwrap(), "5120");
    for bad in [
        Money::new(0, Currency::Eur),
        Money::new(-5, Currency::Eur),
        Money::new(5124, Currency::Kwd),
        Money::new(1, Currency::Bhd),
    ] {
        let err = amount(bad).unwrap_err();
        assert_eq!(err.kind, GatewayErrorKind::Invalid, "{bad}");
    }
    assert_eq!(currency(Currency::Huf), "huf");
}

#[test]
fn ids_that_could_change_the_url_path_are_refused() {
    assert_eq!(
        checked_id("pi_3NnlpV2eZvKYlo2C1").unwrap(),
        "pi_3NnlpV2eZvKYlo2C1"
    );
    for bad in [
        "",
        "pi_1/capture",
        "../v1/refunds",
        "pi 1",
        "pi_1?x=1",
        &"a".repeat(256),
    ] {
        assert!(checked_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_status_maps_to_an_authorize_outcome() {
    let outcome = |status: &str| authorize_outcome(&intent(json!({"status": status})));
    assert_eq!(
        outcome("requires_capture").unwrap(),
        AuthorizeOutcome::Authorized {
            gateway_ref: "pi_1".into()
        }
    );
    assert_eq!(
        outcome("succeeded").unwrap(),
        AuthorizeOutcome::Authorized {
            gateway_ref: "pi_1".into()
        }
    );
    assert!(matches!(
        outcome("requires_payment_method").unwrap(),
        AuthorizeOutcome::Declined(Decline { code, .. }) if code == "payment_failed"
    ));
    assert!(matches!(
        outcome("canceled").unwrap(),
        AuthorizeOutcome::Declined(Decline { code, .. }) if code == "canceled"
    ));
    assert!(outcome("processing").unwrap_err().outcome_unknown());
    assert_eq!(
        outcome("requires_confirmation").unwrap_err().kind,
        GatewayErrorKind::Invalid
    );
    assert_eq!(
        outcome("some_new_status").unwrap_err().kind,
        GatewayErrorKind::Invalid
    );
    // requires_action without a redirect: the client secret, for Stripe.js (see the next test).
    assert!(matches!(
        outcome("requires_action").unwrap(),
        AuthorizeOutcome::RequiresAction { next_action, .. }
            if next_action.redirect_url.is_none() && next_action.client_secret.is_some()
    ));
}

#[test]
fn requires_action_carries_the_redirect_url_or_the_client_secret_for_stripe_js() {
    let redirect = intent(json!({
        "status": "requires_action",
        "next_action": {"type": "redirect_to_url",
            "redirect_to_url": {"url": "https://hooks.stripe.com/3d_secure/x", "return_url": "https://shop.example/3ds"}}
    }));
    assert_eq!(
        authorize_outcome(&redirect).unwrap(),
        AuthorizeOutcome::RequiresAction {
            gateway_ref: "pi_1".into(),
            next_action: NextAction {
                redirect_url: Some("https://hooks.stripe.com/3d_secure/x".into()),
                client_secret: Some("pi_1_secret_abc".into()),
            }
        }
    );
    let sdk = intent(json!({
        "status": "requires_action",
        "next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
    }));
    assert_eq!(
        authorize_outcome(&sdk).unwrap(),
        AuthorizeOutcome::RequiresAction {
            gateway_ref: "pi_1".into(),
            next_action: NextAction {
                redirect_url: None,
                client_secret: Some("pi_1_secret_abc".into()),
            }
        }
    );
    // Neither a redirect nor a client secret: nothing the storefront could do.
    let mut bare = sdk.clone();
    bare.client_secret = None;
    let err = authorize_outcome(&bare).unwrap_err();
    assert_eq!(err.kind, GatewayErrorKind::Invalid);
    assert!(err.message.contains("use_stripe_sdk"), "{err}");
}

#[test]
fn every_status_maps_to_a_payment_status() {
    let status =
        |status: &str| payment_status(&intent(json!({"status": status, "amount_received": 600})));
    assert_eq!(
        status("requires_capture").unwrap(),
        GatewayPaymentStatus::Authorized
    );
    assert_eq!(status("canceled").unwrap(), GatewayPaymentStatus::Canceled);
    assert_eq!(
        status("succeeded").unwrap(),
        GatewayPaymentStatus::Captured {
            amount: Money::new(600, Currency::Eur)
        }
    );
    assert!(status("processing").unwrap_err().outcome_unknown());
    assert!(status("requires_confirmation").is_err());
    let failed_3ds = intent(json!({
        "status": "requires_payment_method",
        "last_payment_error": {"type": "invalid_request_error",
            "code": "payment_intent_authentication_failure",
            "message": "We are unable to authenticate your payment method."}
    }));
    assert_eq!(
        payment_status(&failed_3ds).unwrap(),
        GatewayPaymentStatus::Declined(Decline {
            code: "payment_intent_authentication_failure".into(),
            message: "We are unable to authenticate your payment method.".into()
        })
    );
}

#[test]
fn a_decline_prefers_the_issuer_code() {
    let error: ApiError = serde_json::from_value(json!({
        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "payment_intent": {"id": "pi_9", "object": "payment_intent"}
    }))
    .unwrap();
    assert_eq!(error.payment_intent, Some(ExpandableId("pi_9".into())));
    assert_eq!(decline(&error).code, "insufficient_funds");
    let error = ApiError {
        decline_code: None,
        code: Some("expired_card".into()),
        ..error
    };
    assert_eq!(decline(&error).code, "expired_card");
}

#[test]
fn debug_never_shows_the_client_secret() {
    let shown = format!("{:?}", intent(json!({})));
    assert!(!shown.contains("pi_1_secret_abc"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
}

#[test]
fn stripe_amounts_come_back_as_our_money() {
    assert_eq!(money(500, "jpy").unwrap(), Money::new(500, Currency::Jpy));
    assert_eq!(money(1, "xyz").unwrap_err().kind, GatewayErrorKind::Invalid);
}
