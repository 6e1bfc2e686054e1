//! A checkout interrupted by a crash is finished or undone after a restart (DESIGN §5: "a
//! recovery worker resumes or compensates any checkout that a crash interrupted"; promises 1
//! and 2 across a restart).
//!
//! A `SagaFaults` hook stops the first checkout right after one saga step, as if the process
//! died there; the request fails. The app is then restarted over the same databases with the
//! same sandbox gateway (a gateway outlives a restarted kassa) and no hook, the clock moves
//! past the saga lease, and recovery runs. Whatever step the crash hit, the order must end
//! confirmed or compensated, never open; the gateway must have authorized it at most once and
//! hold no funds for an order that is not confirmed; stock must add up; and the client's retry
//! with its Idempotency-Key must get a confirmed order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kassa_kernel::ids::OrderId;
use kassa_kernel::Clock;
use kassa_orders::{SagaFaults, SagaStep};
use kassa_payments::connectors::sandbox::SandboxStatus;
use kassa_payments::{SandboxConfig, SandboxGateway};
use kassa_server::Hooks;
use serde_json::Value;

use crate::checkout_helpers::{
    admin_order, all_admin_orders, checkout_with, confirmed_order, minor, new_key, open_shop,
    ready_cart, stock, text, total_of, Stock, PM_SUCCESS,
};
use crate::helpers::TestApp;

const ON_HAND: i64 = 10;
const QUANTITY: i64 = 3;

/// Crashes the first checkout to complete `step`, and remembers which order it was.
struct CrashOnce {
    step: SagaStep,
    fired: AtomicBool,
    order: Mutex<Option<String>>,
}

impl CrashOnce {
    fn after(step: SagaStep) -> Arc<CrashOnce> {
        Arc::new(CrashOnce {
            step,
            fired: AtomicBool::new(false),
            order: Mutex::new(None),
        })
    }

    fn crashed_order(&self) -> Option<String> {
        self.order
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl SagaFaults for CrashOnce {
    fn crash_after(&self, order: OrderId, step: SagaStep) -> bool {
        if step != self.step || self.fired.swap(true, Ordering::SeqCst) {
            return false;
        }
        *self.order.lock().unwrap_or_else(PoisonError::into_inner) = Some(order.to_string());
        true
    }
}

fn hooks(sandbox: &SandboxGateway, faults: Option<Arc<CrashOnce>>) -> Hooks {
    Hooks {
        sandbox: Some(sandbox.clone()),
        saga_faults: faults.map(|f| f as Arc<dyn SagaFaults>),
        ..Hooks::default()
    }
}

/// An order's status is one a checkout may end in.
fn is_settled(status: &str) -> bool {
    matches!(status, "confirmed" | "cancelled" | "payment_failed")
}

/// The state every recovered shop must be in: no order open, every confirmed order captured
/// once, every other order with no funds held, stock adding up to the confirmed orders.
async fn assert_books_balance(app: &TestApp, sandbox: &SandboxGateway) {
    let orders = all_admin_orders(app, "").await;
    let mut sold = 0;
    for order in &orders {
        let id = text(order, "id");
        let status = order["status"].as_str().unwrap_or_default();
        assert!(is_settled(status), "an order left open: {order:#}");
        let books = sandbox.payments_for(&id);
        assert!(
            sandbox.authorizations_for(&id) <= 1,
            "{id} authorized more than once: {books:?}"
        );
        if status == "confirmed" {
            sold += QUANTITY;
            assert_eq!(minor(&order["captured"]), total_of(order), "{order:#}");
            let captured: Vec<_> = books
                .iter()
                .filter(|p| p.status == SandboxStatus::Captured)
                .collect();
            assert_eq!(captured.len(), 1, "{id}: {books:?}");
            assert_eq!(captured[0].captured.amount_minor(), total_of(order));
        } else {
            assert!(
                books
                    .iter()
                    .all(|p| !p.is_authorized() && p.captured.amount_minor() == 0),
                "funds held for {status} order {id}: {books:?}"
            );
        }
    }
    assert_eq!(stock(app, "TEE-M").await, Stock::new(ON_HAND - sold, 0));
}

/// The scenario of the module documentation, for a crash right after `step`. `recover_by_hand`:
/// call `Districts::recover` after the restart; otherwise move the clock before restarting and
/// rely on the recovery pass the app runs at start-up.
async fn a_checkout_crashed_after(step: SagaStep, recover_by_hand: bool) {
    // Arrange
    let sandbox = SandboxGateway::new(SandboxConfig::default());
    let faults = CrashOnce::after(step);
    let app = TestApp::spawn_with_hooks(|_| {}, hooks(&sandbox, Some(faults.clone()))).await;
    let shop = open_shop(&app, &[("TEE-M", 2500, ON_HAND as u32)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", QUANTITY)]).await;
    let key = new_key();

    // Act: the checkout that "crashes"
    let res = checkout_with(&app, &cart, PM_SUCCESS, Some(&key)).await;

    // Assert: the client saw a failure; the hook fired
    assert!(
        res.status.is_server_error(),
        "a crashed checkout answered {}: {:#}",
        res.status,
        res.body
    );
    let order_id = faults
        .crashed_order()
        .unwrap_or_else(|| panic!("the hook never saw step {step:?}"));

    // Act: restart, let the lease lapse, recover
    let app = if recover_by_hand {
        let app = app.restart(hooks(&sandbox, None)).await;
        app.clock.advance(Duration::from_secs(120));
        let report = app.districts.recover(app.clock.now()).await;
        assert!(report.is_some(), "the recovery pass failed");
        // The pass the app runs at start-up may have taken the order first (it reads the
        // clock when it runs); either pass settling it is right.
        wait_until_settled(&app, &order_id).await;
        app
    } else {
        app.clock.advance(Duration::from_secs(120));
        let app = app.restart(hooks(&sandbox, None)).await;
        wait_until_settled(&app, &order_id).await;
        app
    };

    // Assert: the order ended, and everything adds up
    let detail = admin_order(&app, &order_id).await;
    let status = detail["order"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(is_settled(&status), "after recovery: {detail:#}");
    eprintln!("crash after {step:?}: the order is {status} after recovery");
    if step == SagaStep::Commit {
        // Stock left and the order was confirmed before the crash: only finishing is right.
        assert_eq!(status, "confirmed", "{detail:#}");
    }
    assert_books_balance(&app, &sandbox).await;

    // Act: the client retries with its key
    let retry = checkout_with(&app, &cart, PM_SUCCESS, Some(&key)).await;

    // Assert: a confirmed order (the recovered one if recovery finished it)
    let retried = confirmed_order(&retry);
    if status == "confirmed" {
        assert_eq!(
            text(&retried, "id"),
            order_id,
            "the retry made a second order"
        );
    }
    assert_books_balance(&app, &sandbox).await;
    let confirmed = all_admin_orders(&app, "status=confirmed").await;
    assert_eq!(
        confirmed.len(),
        1,
        "one confirmed order for one cart: {confirmed:#?}"
    );
}

/// Polls the staff order route until the order is no longer open (recovery at start-up runs
/// in the background); gives up after 10 seconds.
async fn wait_until_settled(app: &TestApp, order_id: &str) {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = admin_order(app, order_id).await;
        let order = &last["order"];
        // A confirmed order may still be capturing: wait for that too.
        let captured =
            order["status"] != "confirmed" || minor(&order["captured"]) == total_of(order);
        if is_settled(order["status"].as_str().unwrap_or_default()) && captured {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("recovery did not settle {order_id}: {last:#}");
}

#[tokio::test]
async fn a_checkout_crashed_after_reserving_is_finished_or_undone_after_a_restart() {
    a_checkout_crashed_after(SagaStep::Reserve, true).await;
}

#[tokio::test]
async fn a_checkout_crashed_after_authorizing_is_finished_or_undone_after_a_restart() {
    a_checkout_crashed_after(SagaStep::Authorize, true).await;
}

#[tokio::test]
async fn a_checkout_crashed_after_committing_is_finished_after_a_restart() {
    a_checkout_crashed_after(SagaStep::Commit, true).await;
}

#[tokio::test]
async fn recovery_at_start_up_settles_a_checkout_crashed_after_authorizing() {
    a_checkout_crashed_after(SagaStep::Authorize, false).await;
}

/// The gateway authorized but its answer was lost (a timeout). The payments district may
/// settle the unknown outcome at once by asking again with the same key (201), or leave it
/// pending (202, no next action) for recovery; either way the order ends confirmed with
/// exactly one authorization.
#[tokio::test]
async fn a_gateway_timeout_ends_confirmed_with_one_authorization() {
    // Arrange
    let app = TestApp::spawn().await;
    let shop = open_shop(&app, &[("TEE-M", 2500, ON_HAND as u32)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", QUANTITY)]).await;

    // Act
    let res = checkout_with(&app, &cart, "pm_sandbox_timeout", Some(&new_key())).await;

    // Assert
    let status = res.status.as_u16();
    assert!(matches!(status, 201 | 202), "{status}: {:#}", res.body);
    assert_eq!(res.body["next_action"], Value::Null, "{:#}", res.body);
    let order_id = text(&res.body["order"], "id");
    if status == 202 {
        assert_eq!(res.body["order"]["status"], "awaiting_payment");
        assert_eq!(
            stock(&app, "TEE-M").await,
            Stock::new(ON_HAND, QUANTITY),
            "the stock is held while the outcome is unknown"
        );
        app.clock.advance(Duration::from_secs(120));
        let report = app.districts.recover(app.clock.now()).await;
        assert!(report.is_some(), "the recovery pass failed");
        wait_until_settled(&app, &order_id).await;
    }
    eprintln!("pm_sandbox_timeout answered {status}");

    // Assert
    let detail = admin_order(&app, &order_id).await;
    assert_eq!(detail["order"]["status"], "confirmed", "{detail:#}");
    let sandbox = app.districts.sandbox.clone().expect("the sandbox gateway");
    assert_eq!(sandbox.authorizations_for(&order_id), 1);
    assert_books_balance(&app, &sandbox).await;
}

/// A staff capture whose answer never arrives (the sandbox performs it, then times out) leaves
/// the payment's capture pending; the reconciliation job `serve` runs (every
/// `payments.reconcile_interval_secs`) sends it again with its key and records the capture once.
#[tokio::test]
async fn a_capture_whose_answer_was_lost_is_settled_by_the_reconciliation_job() {
    // Arrange
    let sandbox = SandboxGateway::new(SandboxConfig::default());
    let app = TestApp::spawn_with_hooks(
        |s| {
            s.orders.capture = kassa_server::settings::CaptureSetting::OnFulfilment;
            s.payments.reconcile_interval_secs = 1;
        },
        hooks(&sandbox, None),
    )
    .await;
    let shop = open_shop(&app, &[("TEE-M", 2500, ON_HAND as u32)]).await;
    let cart = ready_cart(&app, &shop, &[("TEE-M", 1)]).await;
    let order = confirmed_order(&checkout_with(&app, &cart, PM_SUCCESS, Some(&new_key())).await);
    let order_id = text(&order, "id");
    let order_ref = kassa_payments::OrderRef::parse(order_id.as_str()).unwrap();
    let payments = app.districts.payments.clone();
    let payment = payments
        .payment_for_order(&order_ref)
        .await
        .unwrap()
        .unwrap();
    sandbox.inject_fault(
        kassa_payments::Operation::Capture,
        kassa_payments::connectors::sandbox::SandboxFault::Timeout,
    );

    // Act: the capture's answer is lost
    let path = format!("/v1/admin/orders/{order_id}/capture");
    let token = app.owner_token().await;
    let res = app
        .send(
            reqwest::Method::POST,
            &path,
            None,
            &[
                ("authorization", &format!("Bearer {token}")),
                ("idempotency-key", &new_key()),
            ],
        )
        .await;
    res.assert_problem(503, "payment_outcome_unknown");
    let pending = payments.payment(payment.id()).await.unwrap();
    assert!(pending.pending().is_some(), "{pending:?}");

    // Assert: the job settles it within a few ticks, with the one capture the sandbox made
    let mut settled = None;
    for _ in 0..50 {
        let now = payments.payment(payment.id()).await.unwrap();
        if now.pending().is_none() {
            settled = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = settled.expect("the reconciliation job did not settle the capture in 5 s");
    assert_eq!(settled.status(), kassa_payments::PaymentStatus::Succeeded);
    let books = sandbox.state(settled.gateway_ref().unwrap()).unwrap();
    assert_eq!(books.status, SandboxStatus::Captured);
    assert_eq!(books.captured, settled.captured());
}
