//! The state machine: every transition from every state, legal or refused, and the amount
//! rules of capture and refund.

use kassa_kernel::{Currency, Money, Timestamp};

use super::*;
use crate::error::PaymentError;

fn t0() -> Timestamp {
    Timestamp::from_millis(1_000)
}

fn t1() -> Timestamp {
    Timestamp::from_millis(2_000)
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::Eur)
}

fn action() -> NextAction {
    NextAction::redirect("/v1/sandbox/challenges/g1")
}

fn decline() -> Decline {
    Decline {
        code: "generic_decline".into(),
        message: "The card was declined.".into(),
    }
}

fn new_payment() -> Payment {
    Payment::new(
        PaymentId::new(),
        OrderRef::parse("ord_1").unwrap(),
        eur(1000),
        "sandbox",
        t0(),
    )
    .unwrap()
}

fn processing() -> Payment {
    let mut p = new_payment();
    p.begin_authorization(t0()).unwrap();
    p
}

fn requires_action() -> Payment {
    let mut p = processing();
    p.record_action_required("g1".into(), action(), t0())
        .unwrap();
    p
}

fn requires_capture() -> Payment {
    let mut p = processing();
    p.record_authorized("g1".into(), t0()).unwrap();
    p
}

fn capture_pending() -> Payment {
    let mut p = requires_capture();
    p.begin_capture(None, t0()).unwrap();
    p
}

fn void_pending() -> Payment {
    let mut p = requires_capture();
    p.begin_void(t0()).unwrap();
    p
}

fn action_void_pending() -> Payment {
    let mut p = requires_action();
    p.begin_void(t0()).unwrap();
    p
}

fn succeeded() -> Payment {
    let mut p = capture_pending();
    p.record_captured(t0()).unwrap();
    p
}

fn canceled() -> Payment {
    let mut p = new_payment();
    p.begin_void(t0()).unwrap();
    p
}

fn failed() -> Payment {
    let mut p = processing();
    p.record_declined(decline(), t0()).unwrap();
    p
}

type Build = fn() -> Payment;
type Transition = fn(&mut Payment) -> Result<(), PaymentError>;

const STATES: &[(&str, Build)] = &[
    ("requires_payment_method", new_payment),
    ("processing", processing),
    ("requires_action", requires_action),
    ("requires_capture", requires_capture),
    ("capture pending", capture_pending),
    ("void pending", void_pending),
    ("void pending (3-D Secure)", action_void_pending),
    ("succeeded", succeeded),
    ("canceled", canceled),
    ("failed", failed),
];

const TRANSITIONS: &[(&str, Transition)] = &[
    ("begin_authorization", |p| p.begin_authorization(t1())),
    ("record_authorized", |p| {
        p.record_authorized("g2".into(), t1())
    }),
    ("record_action_required", |p| {
        p.record_action_required("g2".into(), action(), t1())
    }),
    ("record_declined", |p| p.record_declined(decline(), t1())),
    ("record_authorization_not_performed", |p| {
        p.record_authorization_not_performed(t1())
    }),
    ("begin_capture", |p| p.begin_capture(None, t1()).map(|_| ())),
    ("record_captured", |p| p.record_captured(t1())),
    ("begin_void", |p| p.begin_void(t1()).map(|_| ())),
    ("record_voided", |p| p.record_voided(t1())),
    ("record_not_performed", |p| p.record_not_performed(t1())),
    ("check_refund", |p| p.check_refund(eur(100))),
];

/// The legal transitions and where they lead; every other pair must be refused.
fn expected(state: &str, transition: &str) -> Option<(PaymentStatus, Option<&'static str>)> {
    use PaymentStatus::*;
    let to = |status, pending| Some((status, pending));
    match (state, transition) {
        ("requires_payment_method", "begin_authorization") => to(Processing, Some("authorize")),
        ("requires_payment_method", "begin_void") => to(Canceled, None),
        ("processing", "record_authorized") => to(RequiresCapture, None),
        ("processing", "record_action_required") => to(RequiresAction, None),
        ("processing", "record_declined") => to(Failed, None),
        ("processing", "record_authorization_not_performed")
        | ("processing", "record_not_performed") => to(RequiresPaymentMethod, None),
        ("requires_action", "record_authorized") => to(RequiresCapture, None),
        ("requires_action", "record_declined") => to(Failed, None),
        ("requires_action", "begin_void") => to(RequiresAction, Some("void")),
        ("requires_capture", "begin_capture") => to(RequiresCapture, Some("capture")),
        ("requires_capture", "begin_void") => to(RequiresCapture, Some("void")),
        ("capture pending", "record_captured") => to(Succeeded, None),
        ("capture pending", "record_not_performed") => to(RequiresCapture, None),
        ("void pending", "record_voided") => to(Canceled, None),
        ("void pending", "record_not_performed") => to(RequiresCapture, None),
        ("void pending (3-D Secure)", "record_voided") => to(Canceled, None),
        ("void pending (3-D Secure)", "record_not_performed") => to(RequiresAction, None),
        ("succeeded", "check_refund") => to(Succeeded, None),
        // Voiding twice is harmless: the payment stays canceled.
        ("canceled", "begin_void") => to(Canceled, None),
        _ => None,
    }
}

fn pending_name(p: &Payment) -> Option<&'static str> {
    p.pending().map(|pending| pending.operation().as_str())
}

#[test]
fn every_transition_from_every_state_is_legal_or_refused_as_the_table_says() {
    let mut legal = 0;
    for (state, build) in STATES {
        for (transition, apply) in TRANSITIONS {
            let before = build();
            let mut payment = before.clone();
            let result = apply(&mut payment);
            match expected(state, transition) {
                Some((status, pending)) => {
                    legal += 1;
                    assert!(result.is_ok(), "{state} {transition}: {result:?}");
                    assert_eq!(payment.status(), status, "{state} {transition}");
                    assert_eq!(pending_name(&payment), pending, "{state} {transition}");
                    payment
                        .check_invariants()
                        .unwrap_or_else(|err| panic!("{state} {transition}: {err}"));
                }
                None => {
                    assert!(result.is_err(), "{state} {transition} was allowed");
                    assert_eq!(payment, before, "{state} {transition} changed the payment");
                }
            }
        }
    }
    assert_eq!(legal, 20);
}

#[test]
fn illegal_transitions_name_the_status_and_the_action() {
    let mut payment = canceled();
    let err = payment.begin_capture(None, t1()).unwrap_err();
    assert!(matches!(
        err,
        PaymentError::IllegalTransition {
            status: PaymentStatus::Canceled,
            action: PaymentAction::Capture,
            ..
        }
    ));
    assert!(err
        .to_string()
        .ends_with("is canceled; it cannot be captured."));
    let err = succeeded().begin_void(t1()).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("is succeeded; it cannot be voided."));
    let err = requires_capture().check_refund(eur(1)).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("is requires_capture; it cannot be refunded."));
}

#[test]
fn a_second_operation_waits_for_the_pending_one() {
    for build in [capture_pending as Build, void_pending] {
        let mut payment = build();
        assert!(matches!(
            payment.begin_capture(None, t1()),
            Err(PaymentError::OutcomeUnknown { .. })
        ));
        assert!(matches!(
            payment.begin_void(t1()),
            Err(PaymentError::OutcomeUnknown { .. })
        ));
    }
    assert!(matches!(
        processing().begin_void(t1()),
        Err(PaymentError::OutcomeUnknown { .. })
    ));
}

#[test]
fn a_new_payment_needs_an_amount_above_zero() {
    for minor in [0, -1] {
        let err = Payment::new(
            PaymentId::new(),
            OrderRef::parse("ord_1").unwrap(),
            eur(minor),
            "sandbox",
            t0(),
        )
        .unwrap_err();
        assert!(matches!(err, PaymentError::InvalidPaymentAmount { .. }));
    }
}

#[test]
fn a_partial_capture_takes_only_what_was_asked() {
    let mut payment = requires_capture();
    assert_eq!(
        payment.begin_capture(Some(eur(600)), t1()).unwrap(),
        eur(600)
    );
    payment.record_captured(t1()).unwrap();
    assert_eq!(payment.captured(), eur(600));
    assert_eq!(payment.refundable().unwrap(), eur(600));
    assert_eq!(payment.updated_at(), t1());
}

#[test]
fn capture_amounts_are_checked_at_both_ends_and_by_currency() {
    let payment = requires_capture();
    assert_eq!(payment.capture_amount(Some(eur(1))).unwrap(), eur(1));
    assert_eq!(payment.capture_amount(Some(eur(1000))).unwrap(), eur(1000));
    assert_eq!(payment.capture_amount(None).unwrap(), eur(1000));
    for bad in [0, -5, 1001] {
        assert!(matches!(
            payment.capture_amount(Some(eur(bad))),
            Err(PaymentError::InvalidCaptureAmount { .. })
        ));
    }
    assert!(matches!(
        payment.capture_amount(Some(Money::new(100, Currency::Usd))),
        Err(PaymentError::CurrencyMismatch { .. })
    ));
}

#[test]
fn refunds_are_checked_against_what_is_left() {
    let payment = succeeded();
    assert!(payment.check_refund(eur(1000)).is_ok());
    assert!(payment.check_refund(eur(1)).is_ok());
    match payment.check_refund(eur(1001)) {
        Err(PaymentError::RefundExceedsCaptured { refundable, .. }) => {
            assert_eq!(refundable, eur(1000))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        payment.check_refund(eur(0)),
        Err(PaymentError::InvalidRefundAmount { .. })
    ));
    assert!(matches!(
        payment.check_refund(Money::new(5, Currency::Sek)),
        Err(PaymentError::CurrencyMismatch { .. })
    ));
}

#[test]
fn loading_refuses_a_payment_that_breaks_an_invariant() {
    let good = succeeded();
    let parts = |p: &Payment| PaymentParts {
        id: p.id(),
        order_ref: p.order_ref().clone(),
        amount: p.amount(),
        status: p.status(),
        captured: p.captured(),
        refunded: p.refunded(),
        gateway: p.gateway().to_owned(),
        gateway_ref: p.gateway_ref().map(str::to_owned),
        next_action: p.next_action().cloned(),
        decline: p.decline().cloned(),
        pending: p.pending(),
        created_at: p.created_at(),
        updated_at: p.updated_at(),
    };
    assert_eq!(Payment::from_parts(parts(&good)).unwrap(), good);
    let broken = [
        PaymentParts {
            refunded: eur(1001),
            ..parts(&good)
        },
        PaymentParts {
            captured: eur(0),
            ..parts(&good)
        },
        PaymentParts {
            captured: Money::new(1000, Currency::Usd),
            ..parts(&good)
        },
        PaymentParts {
            status: PaymentStatus::Processing,
            ..parts(&good)
        },
        PaymentParts {
            gateway_ref: None,
            ..parts(&good)
        },
        PaymentParts {
            decline: Some(decline()),
            ..parts(&good)
        },
        PaymentParts {
            next_action: Some(action()),
            ..parts(&good)
        },
        PaymentParts {
            pending: Some(Pending::Void),
            ..parts(&good)
        },
    ];
    for parts in broken {
        assert!(Payment::from_parts(parts.clone()).is_err(), "{parts:?}");
    }
}

#[test]
fn statuses_round_trip_through_their_names() {
    for status in PaymentStatus::ALL {
        assert_eq!(status.as_str().parse::<PaymentStatus>(), Ok(*status));
    }
    assert!("cancelled".parse::<PaymentStatus>().is_err());
    for status in RefundStatus::ALL {
        assert_eq!(status.as_str().parse::<RefundStatus>(), Ok(*status));
    }
    for op in Operation::ALL {
        assert_eq!(op.as_str().parse::<Operation>(), Ok(*op));
    }
    for outcome in AttemptOutcome::ALL {
        assert_eq!(outcome.as_str().parse::<AttemptOutcome>(), Ok(*outcome));
    }
}

#[test]
fn only_open_authorizations_keep_the_payment_method() {
    let keeps: Vec<PaymentStatus> = PaymentStatus::ALL
        .iter()
        .copied()
        .filter(PaymentStatus::keeps_payment_method)
        .collect();
    assert_eq!(
        keeps,
        [
            PaymentStatus::RequiresPaymentMethod,
            PaymentStatus::Processing
        ]
    );
}
