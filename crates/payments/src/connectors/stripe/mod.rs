//! The Stripe connector: [`StripeGateway`] implements [`PaymentGateway`] over Stripe's
//! PaymentIntents API with manual capture, pinned to API version [`STRIPE_VERSION`] (the
//! version of the OpenAPI subset the contract tests check every request against).
//!
//! | kassa | Stripe |
//! |---|---|
//! | authorize | `POST /v1/payment_intents` (`capture_method=manual`, `confirm=true`, the token as `payment_method`, `metadata[order_id]`, `return_url` when given) |
//! | capture | `POST /v1/payment_intents/{id}/capture` (`amount_to_capture`; partial allowed) |
//! | void | `POST /v1/payment_intents/{id}/cancel` |
//! | refund | `POST /v1/refunds` (`payment_intent`, `amount`; several partial refunds) |
//! | retrieve | `GET /v1/payment_intents/{id}` |
//!
//! Every POST carries the operation's deterministic key as `Idempotency-Key`, so asking again
//! after a timeout returns Stripe's first answer instead of acting twice. A card decline
//! (`card_error`) is an outcome; every other refusal is an invalid request. How failures,
//! retries and the circuit breaker work is in `transport.rs` and `breaker.rs`; the wire
//! structs and the status mapping in [`wire`]; webhook signatures and events in [`webhook`].
//!
//! Webhooks: [`StripeGateway`] is also the [`WebhookVerifier`] the route
//! `POST /v1/webhooks/stripe` calls; [`gateway_event`] turns a verified event into kassa's
//! [`GatewayEvent`], which the payments service applies once (`service/webhook.rs`).
//! [`PaymentGateway::inspect`] (the intent and its refunds) feeds the reconciliation report.

mod breaker;
mod config;
mod form;
mod transport;
pub mod webhook;
pub mod wire;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use kassa_kernel::{Clock, Money};
use reqwest::Method;

use crate::gateway::{
    AuthorizeOutcome, AuthorizeRequest, GatewayError, GatewayEvent, GatewayNotice,
    GatewayPaymentStatus, GatewayPaymentView, PaymentGateway, RefundOutcome, WebhookRejection,
    WebhookVerifier,
};
use crate::keys::IdempotencyKey;
use crate::model::{Decline, OrderRef};
use form::Form;
use transport::{Answer, Request, Transport};
use wire::{ErrorType, PaymentIntent, PaymentIntentStatus};

pub use breaker::BreakerState;
pub use config::*;
pub use webhook::{
    parse_event, verify_signature, Event, EventObject, EventParseError, SignatureError,
    WebhookError,
};

/// The API version every request pins (`Stripe-Version`), so Stripe answers in the shapes the
/// contract tests were checked against, whatever the account's default version.
pub const STRIPE_VERSION: &str = "2023-08-16";

/// Why a [`StripeGateway`] could not be built; `server` reports it at startup.
#[derive(Debug, thiserror::Error)]
pub enum StripeSetupError {
    #[error("the Stripe secret key is empty")]
    MissingSecretKey,
    #[error("the Stripe secret key cannot be sent in an HTTP header")]
    InvalidSecretKey,
    #[error("the Stripe base URL is not an http(s) URL")]
    InvalidBaseUrl,
    #[error("the HTTP client for Stripe cannot be built")]
    Client(#[source] reqwest::Error),
}

/// The Stripe gateway. A handle: clones share one HTTP connection pool and one circuit
/// breaker. `Debug` shows neither the secret key nor the webhook secrets.
#[derive(Clone)]
pub struct StripeGateway {
    inner: Arc<Inner>,
}

struct Inner {
    config: StripeConfig,
    clock: Arc<dyn Clock>,
    breaker: breaker::Breaker,
    transport: Transport,
}

impl fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeGateway")
            .field("config", &self.inner.config)
            .field("breaker", &self.inner.breaker.state())
            .finish_non_exhaustive()
    }
}

impl StripeGateway {
    /// `clock` drives the circuit breaker and the webhook tolerance.
    pub fn new(
        config: StripeConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<StripeGateway, StripeSetupError> {
        let breaker = breaker::Breaker::new(config.breaker, clock.clone());
        let transport = Transport::new(&config, breaker.clone())?;
        Ok(StripeGateway {
            inner: Arc::new(Inner {
                config,
                clock,
                breaker,
                transport,
            }),
        })
    }

    pub fn config(&self) -> &StripeConfig {
        &self.inner.config
    }

    /// The circuit breaker's state, for metrics.
    pub fn breaker_state(&self) -> BreakerState {
        self.inner.breaker.state()
    }

    /// Checks a webhook delivery against the configured secrets and tolerance, then reads the
    /// event. `raw_body` must be the bytes as received.
    pub fn verify_webhook(
        &self,
        signature_header: &str,
        raw_body: &[u8],
    ) -> Result<Event, WebhookError> {
        verify_signature(
            signature_header,
            raw_body,
            &self.inner.config.webhook_secrets,
            self.inner.clock.now(),
            self.inner.config.webhook_tolerance,
        )?;
        Ok(parse_event(raw_body)?)
    }

    async fn post(
        &self,
        path: String,
        form: Form,
        key: &IdempotencyKey,
    ) -> Result<Answer, GatewayError> {
        let request = Request {
            method: Method::POST,
            path,
            form,
            idempotency_key: Some(key.as_str()),
        };
        self.inner.transport.send(&request).await
    }

    async fn get_intent(&self, id: &str) -> Result<PaymentIntent, GatewayError> {
        let request = Request {
            method: Method::GET,
            path: format!("/v1/payment_intents/{}", wire::checked_id(id)?),
            form: Form::new(),
            idempotency_key: None,
        };
        let answer = self.inner.transport.send(&request).await?;
        self.intent(answer)
    }

    /// The PaymentIntent a successful POST answered with.
    fn intent(&self, answer: Answer) -> Result<PaymentIntent, GatewayError> {
        match answer {
            Answer::Body(body) => parse(&body, "payment intent"),
            Answer::Refused { status, error } => Err(self.refused(status, &error)),
        }
    }

    /// A refusal that is not a decline: the request was not performed and sending it again
    /// will not help (an unknown or wrong-state payment intent, a key reused with other
    /// parameters, a bad API key).
    fn refused(&self, status: u16, error: &wire::ApiError) -> GatewayError {
        let status =
            reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::BAD_REQUEST);
        let detail = self.inner.transport.describe(status, Some(error));
        match error.error_type {
            ErrorType::IdempotencyError => GatewayError::invalid(format!(
                "stripe: idempotency key reused with other parameters: {detail}"
            )),
            _ => GatewayError::invalid(format!("stripe: request refused: {detail}")),
        }
    }
}

/// Reads a 2xx body. A body that cannot be read is no usable answer: the request may have been
/// performed, so the outcome is unknown (the gateway contract).
fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|err| {
        GatewayError::timeout(format!(
            "stripe: the {what} in the answer cannot be read ({err}); the outcome is unknown"
        ))
    })
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizeOutcome, GatewayError> {
        let form = wire::create_intent_form(request)?;
        let answer = self
            .post(
                "/v1/payment_intents".to_owned(),
                form,
                &request.idempotency_key,
            )
            .await?;
        let intent = match answer {
            Answer::Refused { error, .. } if error.error_type == ErrorType::CardError => {
                return Ok(AuthorizeOutcome::Declined(wire::decline(&error)));
            }
            answer => self.intent(answer)?,
        };
        // A processing intent settles later. Asking again with the same key would replay this
        // very answer (Stripe caches it), so read the intent's current state instead.
        // The intent exists whatever that read answers, so a failed read leaves the outcome
        // unknown, never "not performed".
        let intent = if intent.status == PaymentIntentStatus::Processing {
            self.get_intent(&intent.id).await.map_err(|err| {
                GatewayError::timeout(format!(
                    "stripe: payment intent {} is processing and could not be read again: {err}",
                    intent.id
                ))
            })?
        } else {
            intent
        };
        wire::authorize_outcome(&intent)
    }

    async fn capture(
        &self,
        gateway_ref: &str,
        amount: Money,
        idempotency_key: &IdempotencyKey,
    ) -> Result<(), GatewayError> {
        let path = format!(
            "/v1/payment_intents/{}/capture",
            wire::checked_id(gateway_ref)?
        );
        let form = wire::capture_form(amount)?;
        let intent = self.intent(self.post(path, form, idempotency_key).await?)?;
        match intent.status {
            PaymentIntentStatus::Succeeded => Ok(()),
            status => Err(GatewayError::invalid(format!(
                "stripe: capture of {gateway_ref} answered status {status:?}"
            ))),
        }
    }

    async fn void(
        &self,
        gateway_ref: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<(), GatewayError> {
        let path = format!(
            "/v1/payment_intents/{}/cancel",
            wire::checked_id(gateway_ref)?
        );
        let intent = self.intent(self.post(path, Form::new(), idempotency_key).await?)?;
        match intent.status {
            PaymentIntentStatus::Canceled => Ok(()),
            status => Err(GatewayError::invalid(format!(
                "stripe: cancel of {gateway_ref} answered status {status:?}"
            ))),
        }
    }

    async fn refund(
        &self,
        gateway_ref: &str,
        amount: Money,
        idempotency_key: &IdempotencyKey,
    ) -> Result<RefundOutcome, GatewayError> {
        let form = wire::refund_form(wire::checked_id(gateway_ref)?, amount)?;
        let answer = self
            .post("/v1/refunds".to_owned(), form, idempotency_key)
            .await?;
        let refund: wire::Refund = match answer {
            Answer::Body(body) => parse(&body, "refund")?,
            Answer::Refused { error, .. } if error.error_type == ErrorType::CardError => {
                return Ok(RefundOutcome::Failed(wire::decline(&error)));
            }
            Answer::Refused { status, error } => return Err(self.refused(status, &error)),
        };
        Ok(refund_outcome(refund))
    }

    async fn retrieve(&self, gateway_ref: &str) -> Result<GatewayPaymentStatus, GatewayError> {
        let intent = self.get_intent(gateway_ref).await?;
        wire::payment_status(&intent)
    }

    /// The PaymentIntent and its refunds (`GET /v1/refunds?payment_intent=…`, the first 100:
    /// more refunds than that on one payment is reported as a gateway error, not summed wrong).
    async fn inspect(&self, gateway_ref: &str) -> Result<GatewayPaymentView, GatewayError> {
        let intent = self.get_intent(gateway_ref).await?;
        let request = Request {
            method: Method::GET,
            path: "/v1/refunds".to_owned(),
            form: Form::new()
                .text("payment_intent", intent.id.as_str())
                .text("limit", "100"),
            idempotency_key: None,
        };
        let refunds: wire::RefundList = match self.inner.transport.send(&request).await? {
            Answer::Body(body) => parse(&body, "refund list")?,
            Answer::Refused { status, error } => return Err(self.refused(status, &error)),
        };
        if refunds.has_more {
            return Err(GatewayError::invalid(format!(
                "stripe: payment intent {} has more than 100 refunds",
                intent.id
            )));
        }
        let refunded = refunds
            .data
            .iter()
            .filter(|r| !matches!(r.status.as_deref(), Some("failed") | Some("canceled")))
            .map(|r| r.amount)
            .sum::<i64>();
        Ok(GatewayPaymentView {
            gateway_ref: intent.id.clone(),
            status: wire::status_name(intent.status).to_owned(),
            mapped: wire::payment_status(&intent)
                .ok()
                .map(|status| match status {
                    GatewayPaymentStatus::RequiresAction { .. } => {
                        crate::PaymentStatus::RequiresAction
                    }
                    GatewayPaymentStatus::Authorized => crate::PaymentStatus::RequiresCapture,
                    GatewayPaymentStatus::Declined(_) => crate::PaymentStatus::Failed,
                    GatewayPaymentStatus::Captured { .. } => crate::PaymentStatus::Succeeded,
                    GatewayPaymentStatus::Canceled => crate::PaymentStatus::Canceled,
                }),
            amount: wire::money(intent.amount, &intent.currency)?,
            captured: wire::money(intent.amount_received, &intent.currency)?,
            refunded: wire::money(refunded, &intent.currency)?,
        })
    }

    fn unavailable_for(&self) -> Option<std::time::Duration> {
        self.inner.breaker.refusing_for()
    }
}

impl WebhookVerifier for StripeGateway {
    fn gateway(&self) -> &'static str {
        "stripe"
    }

    fn verify(&self, signature: &str, raw_body: &[u8]) -> Result<GatewayEvent, WebhookRejection> {
        let event = self
            .verify_webhook(signature, raw_body)
            .map_err(|err| match err {
                WebhookError::Signature(err) => WebhookRejection::Signature(err.to_string()),
                WebhookError::Parse(err) => WebhookRejection::Payload(err.to_string()),
            })?;
        Ok(gateway_event(event))
    }
}

/// A verified Stripe event in kassa's terms (the table in docs/ARCHITECTURE.md, "Stripe").
pub fn gateway_event(event: Event) -> GatewayEvent {
    let notice = notice(&event);
    GatewayEvent {
        gateway: "stripe",
        created_at: event.created_at(),
        id: event.id,
        event_type: event.event_type,
        notice,
    }
}

fn notice(event: &Event) -> GatewayNotice {
    match (&event.object, event.event_type.as_str()) {
        (EventObject::PaymentIntent(intent), kind) => match wire::event_status(kind, intent) {
            Some(status) => GatewayNotice::Payment {
                gateway_ref: intent.id.clone(),
                order_ref: intent
                    .metadata
                    .get(wire::METADATA_ORDER_ID)
                    .and_then(|id| OrderRef::parse(id.as_str()).ok()),
                status,
            },
            None => GatewayNotice::Ignored,
        },
        (EventObject::Charge(charge), "charge.refunded") => {
            match (
                &charge.payment_intent,
                wire::money(charge.amount_refunded, &charge.currency),
            ) {
                (Some(intent), Ok(total)) => GatewayNotice::Refunded {
                    gateway_ref: intent.0.clone(),
                    total,
                },
                _ => GatewayNotice::Ignored,
            }
        }
        (EventObject::Dispute(dispute), "charge.dispute.created") => {
            match (
                &dispute.payment_intent,
                wire::money(dispute.amount, &dispute.currency),
            ) {
                (Some(intent), Ok(amount)) => GatewayNotice::Disputed {
                    gateway_ref: intent.0.clone(),
                    dispute_ref: dispute.id.clone(),
                    amount,
                    reason: dispute.reason.clone(),
                    status: dispute.status.clone(),
                },
                _ => GatewayNotice::Ignored,
            }
        }
        _ => GatewayNotice::Ignored,
    }
}

/// A refund Stripe accepted is `succeeded`, or `pending` (and rarely `requires_action`) until
/// the network confirms it: both are accepted refunds, the money is on its way, and a later
/// failure arrives as a webhook (`charge.refund.updated`) for reconciliation. `failed` and
/// `canceled` are refusals.
fn refund_outcome(refund: wire::Refund) -> RefundOutcome {
    match refund.status.as_deref() {
        Some("failed") | Some("canceled") => RefundOutcome::Failed(Decline {
            code: refund
                .failure_reason
                .unwrap_or_else(|| "refund_failed".to_owned()),
            message: "Stripe could not refund the payment.".to_owned(),
        }),
        _ => RefundOutcome::Succeeded {
            refund_ref: refund.id,
        },
    }
}
