//! Stripe's side of the connector: the request bodies it sends, the objects Stripe answers with
//! (API version [`super::STRIPE_VERSION`]), how an amount is written, and how a PaymentIntent
//! status maps to our outcomes (STYLE §7: hyperswitch's "transformers", without its generics).
//!
//! Responses are parsed leniently: only the fields kassa uses are read, unknown fields are
//! ignored, and fields the spec marks required but kassa can do without default, so a newer
//! API version adding or moving fields does not break parsing. The contract tests check the
//! structs against Stripe's own example objects (`fixtures-subset.json`).
//!
//! | PaymentIntent status | authorize answers | retrieve answers |
//! |---|---|---|
//! | `requires_capture` | `Authorized` | `Authorized` |
//! | `requires_action` | `RequiresAction` (the `redirect_to_url` URL) | `RequiresAction` |
//! | `requires_payment_method` | `Declined` (from `last_payment_error`) | `Declined` |
//! | `canceled` | `Declined` (`cancellation_reason`) | `Canceled` |
//! | `succeeded` | `Authorized`, with a warning: manual capture was asked for | `Captured` (`amount_received`) |
//! | `processing` | read again once, then an unknown outcome | unknown outcome (ask later) |
//! | `requires_confirmation` | invalid: kassa always confirms | invalid |

use std::collections::BTreeMap;
use std::fmt;

use kassa_kernel::{Currency, Money};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::form::{Form, FormValue};
use crate::gateway::{AuthorizeOutcome, AuthorizeRequest, GatewayError, GatewayPaymentStatus};
use crate::model::{Decline, NextAction};

/// Longest Stripe id kassa accepts as a gateway reference. Stripe's ids are far shorter; the
/// bound keeps a corrupt reference out of a URL.
pub const STRIPE_ID_LEN_MAX: usize = 255;
/// The metadata key naming the order on every PaymentIntent (dashboard, webhooks,
/// reconciliation).
pub const METADATA_ORDER_ID: &str = "order_id";

/// `POST /v1/payment_intents`: create and confirm in one call, funds held for a later capture.
///
/// Only cards are asked for (`payment_method_types[]=card`): without it API 2023-08-16 turns on
/// automatic payment methods, which refuses a confirmation without `return_url`. With a
/// `return_url`, Stripe answers 3-D Secure with a `redirect_to_url` next action.
pub(crate) fn create_intent_form(request: &AuthorizeRequest) -> Result<Form, GatewayError> {
    let amount = amount(request.amount)?;
    let mut form = Form::new()
        .text("amount", amount)
        .text("currency", currency(request.amount.currency()))
        .text("capture_method", "manual")
        .text("confirm", "true")
        .text("payment_method", request.payment_method.expose())
        .value(
            "payment_method_types",
            FormValue::List(vec![FormValue::text("card")]),
        )
        .value(
            "metadata",
            FormValue::Map(vec![(
                METADATA_ORDER_ID,
                FormValue::text(request.order_ref.as_str()),
            )]),
        );
    if let Some(return_url) = &request.return_url {
        form = form.text("return_url", return_url.as_str());
    }
    Ok(form)
}

/// `POST /v1/payment_intents/{id}/capture`; partial captures release the rest.
pub(crate) fn capture_form(amount_to_capture: Money) -> Result<Form, GatewayError> {
    Ok(Form::new().text("amount_to_capture", amount(amount_to_capture)?))
}

/// `POST /v1/refunds` against the PaymentIntent; each refund is its own call and key.
pub(crate) fn refund_form(payment_intent: &str, refund: Money) -> Result<Form, GatewayError> {
    Ok(Form::new()
        .text("payment_intent", payment_intent)
        .text("amount", amount(refund)?))
}

/// Stripe's amount: an integer in the currency's smallest unit, which is our minor unit for
/// every currency kassa supports (JPY and KRW are zero-decimal at Stripe too; HUF stays
/// two-decimal in the API). Three-decimal currencies (KWD, BHD) must end in 0 (Stripe's
/// currencies page, "Three-decimal currencies"); refused here rather than by Stripe, before
/// anything is sent.
pub(crate) fn amount(money: Money) -> Result<String, GatewayError> {
    let minor = money.amount_minor();
    if minor <= 0 {
        return Err(GatewayError::invalid(format!(
            "stripe: amounts must be above zero, not {money}"
        )));
    }
    if money.currency().exponent() == 3 && minor % 10 != 0 {
        return Err(GatewayError::invalid(format!(
            "stripe: {money} cannot be charged: amounts in three-decimal currencies must be \
             multiples of 10 minor units"
        )));
    }
    Ok(minor.to_string())
}

/// Stripe wants the ISO code in lower case.
pub(crate) fn currency(currency: Currency) -> String {
    currency.code().to_ascii_lowercase()
}

/// A Stripe id taken from our records, checked before it becomes part of a URL path.
pub(crate) fn checked_id(id: &str) -> Result<&str, GatewayError> {
    let fits = !id.is_empty()
        && id.len() <= STRIPE_ID_LEN_MAX
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if fits {
        Ok(id)
    } else {
        Err(GatewayError::invalid(format!(
            "stripe: '{}' is not a Stripe id",
            id.chars().take(40).collect::<String>()
        )))
    }
}

/// A reference to another object: its id, or the object itself when it was expanded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawExpandable")]
pub struct ExpandableId(pub String);

#[derive(Deserialize)]
#[serde(untagged)]
enum RawExpandable {
    Id(String),
    Object { id: String },
}

impl From<RawExpandable> for ExpandableId {
    fn from(raw: RawExpandable) -> ExpandableId {
        match raw {
            RawExpandable::Id(id) | RawExpandable::Object { id } => ExpandableId(id),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentIntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
    /// A status added after API version 2023-08-16.
    #[serde(other)]
    Unknown,
}

/// A PaymentIntent, as far as kassa reads it. `Debug` redacts the client secret.
#[derive(Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_capturable: i64,
    #[serde(default)]
    pub amount_received: i64,
    pub currency: String,
    pub status: PaymentIntentStatus,
    #[serde(default)]
    pub capture_method: Option<String>,
    /// Lets a browser with the publishable key finish the payment (Stripe.js); for the
    /// shopper only, never for a log.
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    pub next_action: Option<IntentNextAction>,
    #[serde(default)]
    pub last_payment_error: Option<ApiError>,
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    #[serde(default)]
    pub latest_charge: Option<ExpandableId>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub livemode: bool,
    /// Unix seconds.
    #[serde(default)]
    pub created: i64,
}

impl fmt::Debug for PaymentIntent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentIntent")
            .field("id", &self.id)
            .field("amount", &self.amount)
            .field("amount_capturable", &self.amount_capturable)
            .field("amount_received", &self.amount_received)
            .field("currency", &self.currency)
            .field("status", &self.status)
            .field("capture_method", &self.capture_method)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("next_action", &self.next_action)
            .field("last_payment_error", &self.last_payment_error)
            .field("cancellation_reason", &self.cancellation_reason)
            .field("latest_charge", &self.latest_charge)
            .field("metadata", &self.metadata)
            .field("livemode", &self.livemode)
            .field("created", &self.created)
            .finish()
    }
}

/// What the shopper must do. Card 3-D Secure confirmed server-side with a `return_url` is a
/// `redirect_to_url`; `use_stripe_sdk` means Stripe.js must handle it with the client secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IntentNextAction {
    #[serde(rename = "type")]
    pub action_type: String,
    #[serde(default)]
    pub redirect_to_url: Option<RedirectToUrl>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RedirectToUrl {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub return_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    ApiError,
    CardError,
    IdempotencyError,
    InvalidRequestError,
    /// A type newer than the pinned version, or none at all (Stripe always sends one; a
    /// stand-in's `last_payment_error` may not, and the intent must still be readable).
    #[default]
    #[serde(other)]
    Unknown,
}

/// Stripe's `api_errors`: the body of every error answer (under `error`) and a PaymentIntent's
/// `last_payment_error`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    #[serde(rename = "type", default)]
    pub error_type: ErrorType,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    /// The PaymentIntent the error is about, when it is about one.
    #[serde(default)]
    pub payment_intent: Option<ExpandableId>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: ApiError,
}

/// A page of `GET /v1/refunds`.
#[derive(Debug, Clone, Deserialize)]
pub struct RefundList {
    pub data: Vec<Refund>,
    #[serde(default)]
    pub has_more: bool,
}

/// A Refund, as far as kassa reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    /// `pending`, `succeeded`, `failed`, `canceled` or `requires_action`; a string in the spec.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<ExpandableId>,
    #[serde(default)]
    pub charge: Option<ExpandableId>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub created: i64,
}

/// A Charge, as far as kassa reads it (webhooks: `charge.refunded`, `charge.captured`, …).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_captured: i64,
    #[serde(default)]
    pub amount_refunded: i64,
    pub currency: String,
    /// `succeeded`, `pending` or `failed`.
    pub status: String,
    #[serde(default)]
    pub captured: bool,
    #[serde(default)]
    pub refunded: bool,
    #[serde(default)]
    pub paid: bool,
    #[serde(default)]
    pub payment_intent: Option<ExpandableId>,
    #[serde(default)]
    pub failure_code: Option<String>,
    #[serde(default)]
    pub failure_message: Option<String>,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub created: i64,
}

/// A Dispute (chargeback), as far as kassa reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub charge: ExpandableId,
    #[serde(default)]
    pub payment_intent: Option<ExpandableId>,
    pub reason: String,
    /// `warning_needs_response`, `needs_response`, `under_review`, `won`, `lost`, …
    pub status: String,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub created: i64,
}

/// An amount Stripe reported, in our terms.
pub fn money(amount_minor: i64, currency: &str) -> Result<Money, GatewayError> {
    let currency: Currency = currency.to_ascii_uppercase().parse().map_err(|_| {
        GatewayError::invalid(format!(
            "stripe: currency '{}' is not one kassa supports",
            currency.chars().take(8).collect::<String>()
        ))
    })?;
    Ok(Money::new(amount_minor, currency))
}

/// The answer to an authorization, from the PaymentIntent Stripe returned (after reading a
/// `processing` one again; see `StripeGateway::authorize`).
pub(crate) fn authorize_outcome(intent: &PaymentIntent) -> Result<AuthorizeOutcome, GatewayError> {
    let gateway_ref = intent.id.clone();
    Ok(match intent.status {
        PaymentIntentStatus::RequiresCapture => AuthorizeOutcome::Authorized { gateway_ref },
        PaymentIntentStatus::Succeeded => {
            tracing::warn!(
                gateway_ref = %intent.id,
                "stripe captured a payment intent created with capture_method=manual"
            );
            AuthorizeOutcome::Authorized { gateway_ref }
        }
        PaymentIntentStatus::RequiresAction => AuthorizeOutcome::RequiresAction {
            next_action: next_action(intent)?,
            gateway_ref,
        },
        PaymentIntentStatus::RequiresPaymentMethod => {
            AuthorizeOutcome::Declined(failed_payment_decline(intent))
        }
        PaymentIntentStatus::Canceled => AuthorizeOutcome::Declined(canceled_decline(intent)),
        PaymentIntentStatus::Processing
        | PaymentIntentStatus::RequiresConfirmation
        | PaymentIntentStatus::Unknown => return Err(undecided(intent)),
    })
}

/// Where a payment stands, from its PaymentIntent.
pub(crate) fn payment_status(intent: &PaymentIntent) -> Result<GatewayPaymentStatus, GatewayError> {
    Ok(match intent.status {
        PaymentIntentStatus::RequiresCapture => GatewayPaymentStatus::Authorized,
        PaymentIntentStatus::RequiresAction => GatewayPaymentStatus::RequiresAction {
            next_action: next_action(intent)?,
        },
        PaymentIntentStatus::RequiresPaymentMethod => {
            GatewayPaymentStatus::Declined(failed_payment_decline(intent))
        }
        PaymentIntentStatus::Canceled => GatewayPaymentStatus::Canceled,
        PaymentIntentStatus::Succeeded => GatewayPaymentStatus::Captured {
            amount: money(received(intent), &intent.currency)?,
        },
        PaymentIntentStatus::Processing
        | PaymentIntentStatus::RequiresConfirmation
        | PaymentIntentStatus::Unknown => return Err(undecided(intent)),
    })
}

/// What a succeeded intent captured: Stripe's `amount_received`. Stripe always sends it; a
/// stand-in that leaves it out (localstripe) gets the intent's amount, logged, rather than a
/// capture of nothing.
fn received(intent: &PaymentIntent) -> i64 {
    if intent.amount_received > 0 {
        intent.amount_received
    } else {
        tracing::warn!(gateway_ref = %intent.id, "succeeded payment intent without amount_received");
        intent.amount
    }
}

/// Stripe's name for a PaymentIntent status, as the reconciliation report shows it.
pub(crate) fn status_name(status: PaymentIntentStatus) -> &'static str {
    match status {
        PaymentIntentStatus::RequiresPaymentMethod => "requires_payment_method",
        PaymentIntentStatus::RequiresConfirmation => "requires_confirmation",
        PaymentIntentStatus::RequiresAction => "requires_action",
        PaymentIntentStatus::Processing => "processing",
        PaymentIntentStatus::RequiresCapture => "requires_capture",
        PaymentIntentStatus::Succeeded => "succeeded",
        PaymentIntentStatus::Canceled => "canceled",
        PaymentIntentStatus::Unknown => "unknown",
    }
}

/// What a `payment_intent.*` event says about the payment, read from the event's type and its
/// object together: `payment_failed` is a decline whatever the object's status, and an event
/// kassa does not act on (`created`, `processing`, a status the object does not support) is
/// `None`. Never a decline from `requires_payment_method` alone: a `created` event shows that
/// status too, and reading it as a failure would fail a payment that is about to succeed.
pub(crate) fn event_status(
    event_type: &str,
    intent: &PaymentIntent,
) -> Option<GatewayPaymentStatus> {
    let expect = match event_type {
        "payment_intent.payment_failed" => {
            return Some(GatewayPaymentStatus::Declined(failed_payment_decline(
                intent,
            )));
        }
        "payment_intent.succeeded" => PaymentIntentStatus::Succeeded,
        "payment_intent.amount_capturable_updated" => PaymentIntentStatus::RequiresCapture,
        "payment_intent.requires_action" => PaymentIntentStatus::RequiresAction,
        "payment_intent.canceled" => PaymentIntentStatus::Canceled,
        _ => return None,
    };
    if intent.status != expect {
        tracing::warn!(
            gateway_ref = %intent.id, event_type, status = ?intent.status,
            "stripe event whose object is in another status; not applied"
        );
        return None;
    }
    payment_status(intent).ok()
}

/// `processing` is not an answer yet (the outcome is unknown until Stripe settles it);
/// `requires_confirmation` never follows kassa's `confirm=true` and cannot be handled; a
/// status newer than the pinned API version is not understood.
fn undecided(intent: &PaymentIntent) -> GatewayError {
    match intent.status {
        PaymentIntentStatus::Processing => GatewayError::timeout(format!(
            "stripe: payment intent {} is processing; its outcome is not known yet",
            intent.id
        )),
        status => GatewayError::invalid(format!(
            "stripe: payment intent {} is in status {status:?}, which kassa does not handle",
            intent.id
        )),
    }
}

/// The 3-D Secure step in our terms: Stripe's `redirect_to_url` page when checkout sent a
/// `return_url`, and always the intent's client secret, with which Stripe.js
/// (`handleNextAction`) runs a `use_stripe_sdk` action — what Stripe answers card
/// authentication with when no `return_url` was sent. An action with neither cannot be passed
/// on to the storefront.
fn next_action(intent: &PaymentIntent) -> Result<NextAction, GatewayError> {
    let action = intent.next_action.as_ref();
    let redirect_url = action
        .and_then(|a| a.redirect_to_url.as_ref())
        .and_then(|r| r.url.clone());
    let client_secret = intent
        .client_secret
        .as_ref()
        .map(|secret| secret.expose_secret().to_owned());
    if redirect_url.is_none() && client_secret.is_none() {
        return Err(GatewayError::invalid(format!(
            "stripe: payment intent {} requires a '{}' action with neither a redirect URL nor \
             a client secret",
            intent.id,
            action.map_or("missing", |a| a.action_type.as_str())
        )));
    }
    Ok(NextAction {
        redirect_url,
        client_secret,
    })
}

/// A card error as a decline: the issuer's `decline_code` when Stripe gives one, else Stripe's
/// `code` (`expired_card`, `incorrect_cvc`, …).
pub(crate) fn decline(error: &ApiError) -> Decline {
    Decline {
        code: error
            .decline_code
            .clone()
            .or_else(|| error.code.clone())
            .unwrap_or_else(|| "card_declined".to_owned()),
        message: error
            .message
            .clone()
            .unwrap_or_else(|| "The card was declined.".to_owned()),
    }
}

/// A payment intent back in `requires_payment_method`: the last attempt failed (a decline, or
/// 3-D Secure failed: `payment_intent_authentication_failure`).
fn failed_payment_decline(intent: &PaymentIntent) -> Decline {
    match &intent.last_payment_error {
        Some(error) => decline(error),
        None => Decline {
            code: "payment_failed".to_owned(),
            message: "The payment was not completed.".to_owned(),
        },
    }
}

fn canceled_decline(intent: &PaymentIntent) -> Decline {
    Decline {
        code: intent
            .cancellation_reason
            .clone()
            .unwrap_or_else(|| "canceled".to_owned()),
        message: "Stripe canceled the payment.".to_owned(),
    }
}

#[cfg(test)]
mod tests;
