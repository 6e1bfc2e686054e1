//! The checkout saga (DESIGN §5): making the order from the cart's snapshot, then the steps of
//! [`SagaStep`], each run by whoever holds the order's saga lease — the checkout request, a
//! second request for the same cart that found the lease free, the 3-D Secure continuation,
//! the recovery worker or the TTL sweeper, on any node.
//!
//! Every step first makes its idempotent call to another district, then records its outcome
//! (next step, status, events) in one orders transaction guarded by the lease. A step whose
//! call failed in a way the order cannot recover from moves the saga to `compensate` with a
//! [`CloseReason`]; compensating releases the reservation, voids the payment and closes the
//! order, which gives up its cart's open checkout so the shopper may try again.

use kassa_inventory::{InventoryError, ReservationStatus};
use kassa_kernel::ids::OrderId;
use kassa_kernel::{Money, Quantity, Sku, Timestamp};
use kassa_payments::{Payment, PaymentError, PaymentId, PaymentMethodToken, PaymentStatus};
use tokio::time::Instant;

use super::RECOVERY_BATCH_MAX;
use super::{no_events, payment_ref, randomness_failed, Orders, EXPIRE_BATCH_MAX, FOLLOW_POLL};
use crate::error::CartProblem;
use crate::events;
use crate::model::{
    CaptureMode, Checkout, CheckoutRequest, CloseReason, Order, OrderLine, OrderShipping,
    OrderStatus, OrderTotals, RecoveryReport, SagaStep,
};
use crate::store::{Guard, OrderChange, OrderRecord, SagaLease};
use crate::{token, OrderError};

/// How many orders one checkout call makes or follows: its own, and one more when the order
/// it followed ended cancelled or payment_failed (the shopper's retry after a decline).
const CHECKOUT_TRIES_MAX: usize = 2;

/// Who drives the saga, which decides what the `await_action` step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// A checkout request: an order waiting for 3-D Secure is answered with its next action.
    Checkout,
    /// The shopper finished the challenge: ask payments how it ended.
    Continue,
    /// The recovery worker or the sweeper: ask the gateway again (`resolve`).
    Recover,
}

/// What one step decided.
enum Flow {
    /// The step is recorded; drive on from this order. The error, when there is one, is why
    /// the saga now compensates: the caller gets it once compensation is done.
    Next(OrderRecord, Option<OrderError>),
    /// Stop driving for now: release the lease and answer.
    Stop(Result<Checkout, OrderError>),
    /// The lease is no longer ours (our call outlived it and another driver took over): touch
    /// nothing more.
    LeaseLost,
}

/// What inserting a new order for the cart found.
enum Created {
    /// Made: the order (boxed, it is large), its lease and the guest token.
    Order(Box<OrderRecord>, SagaLease, String),
    /// Another order holds the cart's open checkout.
    Held(OrderId),
    /// The insert conflicted, but the holder gave the cart up meanwhile.
    Free,
}

/// How a followed checkout ended.
enum Followed {
    Answer(Result<Checkout, OrderError>),
    /// Closed before confirmation, the cart given up: a new checkout may be made.
    Closed(Order),
}

fn checkout_of(order: Order) -> Checkout {
    Checkout {
        order,
        order_token: None,
        next_action: None,
    }
}

fn invariant(order: OrderId, what: &str) -> OrderError {
    OrderError::Invariant(format!("order {order}: {what}"))
}

/// Cancelled or payment_failed: the checkout ended without a sale.
fn is_closed(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Cancelled | OrderStatus::PaymentFailed)
}

/// The order a cart's snapshot makes (id and times are set when it is inserted), or every
/// reason the cart cannot be checked out.
fn draft_order(
    priced: &kassa_cart::PricedCart,
    customer: Option<kassa_kernel::ids::CustomerId>,
    now: Timestamp,
) -> Result<Order, OrderError> {
    let cart = &priced.cart;
    let mut problems = Vec::new();
    if priced.lines.is_empty() {
        problems.push(CartProblem::Empty);
    }
    let mut lines = Vec::new();
    for priced_line in &priced.lines {
        let sellable = (
            priced_line.available,
            &priced_line.offer,
            priced_line.unit_price,
        );
        match (sellable, priced_line.line_total) {
            ((true, Some(offer), Some(unit_price)), Some(line_total)) => lines.push(OrderLine {
                sku: priced_line.line.sku.clone(),
                product_id: offer.product_id,
                product_title: offer.product_title.clone(),
                variant_title: offer.variant_title.clone(),
                quantity: priced_line.line.quantity,
                unit_price,
                line_total,
                fulfilled_quantity: 0,
            }),
            _ => {
                if !problems.contains(&CartProblem::UnavailableLines) {
                    problems.push(CartProblem::UnavailableLines);
                }
            }
        }
    }
    if cart.email.is_none() {
        problems.push(CartProblem::NoEmail);
    }
    if cart.shipping_address.is_none() {
        problems.push(CartProblem::NoShippingAddress);
    }
    if priced.shipping.is_none() {
        problems.push(CartProblem::NoShippingOption);
    }
    let (Some(email), Some(address), Some(shipping)) =
        (&cart.email, &cart.shipping_address, &priced.shipping)
    else {
        return Err(OrderError::CartNotReady(problems));
    };
    if !problems.is_empty() {
        return Err(OrderError::CartNotReady(problems));
    }
    let zero = Money::zero(cart.currency);
    let totals = priced.totals;
    Ok(Order {
        id: OrderId::new(),
        cart_id: cart.id,
        customer_id: customer,
        email: email.clone(),
        currency: cart.currency,
        status: OrderStatus::Pending,
        close_reason: None,
        saga_step: SagaStep::Reserve,
        lines,
        shipping_address: address.clone(),
        shipping: OrderShipping {
            option_id: shipping.option_id,
            name: shipping.name.clone(),
            amount: shipping.amount,
        },
        tax_rate: priced.tax_rate,
        totals: OrderTotals {
            subtotal: totals.subtotal,
            shipping: totals.shipping,
            tax: totals.tax,
            total: totals.total,
        },
        payment_id: None,
        captured: zero,
        refunded: zero,
        reservation_expires_at: None,
        fulfilments: Vec::new(),
        created_at: now,
        updated_at: now,
        confirmed_at: None,
    })
}

/// The error a declined payment stands for.
fn declined(order: OrderId, payment: &Payment) -> OrderError {
    match payment.decline() {
        Some(decline) => OrderError::Payment(PaymentError::Declined {
            payment_id: payment.id(),
            decline: decline.clone(),
        }),
        None => invariant(order, "its payment failed without a decline"),
    }
}

impl Orders {
    pub(super) async fn checkout_cart(
        &self,
        request: CheckoutRequest,
    ) -> Result<Checkout, OrderError> {
        let priced = self.carts.cart(request.cart_id, &request.access).await?;
        let draft = draft_order(&priced, request.customer, self.clock.now())?;
        // A gateway whose connector refuses calls (an open circuit breaker) fails the checkout
        // here, fast, before any stock is reserved or any order made: 503 with Retry-After.
        self.payments.check_available()?;
        let mut last_closed = None;
        for _ in 0..CHECKOUT_TRIES_MAX {
            match self.create(&draft, &request.payment_method).await? {
                Created::Order(record, lease, token) => {
                    return self
                        .drive(*record, lease, Some(token), Mode::Checkout)
                        .await
                }
                Created::Held(id) => match self.follow(id).await? {
                    Followed::Answer(answer) => return answer,
                    Followed::Closed(order) => last_closed = Some(order),
                },
                Created::Free => {}
            }
        }
        match last_closed {
            Some(order) => Err(self.closed_error(&order).await),
            None => Err(OrderError::Invariant(format!(
                "cart {}: its open checkout changed hands on every try",
                request.cart_id
            ))),
        }
    }

    /// Inserts the order made from `draft`, holding the cart's open checkout and the saga
    /// lease, with a new guest token whose hash only is stored.
    async fn create(
        &self,
        draft: &Order,
        payment_method: &PaymentMethodToken,
    ) -> Result<Created, OrderError> {
        let now = self.clock.now();
        let order = Order {
            id: OrderId::new(),
            created_at: now,
            updated_at: now,
            ..draft.clone()
        };
        let token = token::generate().map_err(randomness_failed)?;
        let token_hash = token::hash(&token);
        let lease = self.new_lease(now)?;
        let mut tx = self.store.begin().await?;
        if tx
            .insert_order(&order, &token_hash, payment_method, &lease)
            .await?
        {
            tx.commit().await?;
            tracing::info!(order_id = %order.id, cart_id = %order.cart_id, "order created");
            let record = OrderRecord {
                order,
                token_hash: Some(token_hash),
                payment_method: Some(payment_method.clone()),
                holds_cart: true,
                lease_until: Some(lease.until),
            };
            return Ok(Created::Order(Box::new(record), lease, token));
        }
        tx.rollback().await?;
        Ok(match self.store.holder_of_cart(draft.cart_id).await? {
            Some(id) => {
                tracing::info!(order_id = %id, "the cart has an open checkout; following it");
                Created::Held(id)
            }
            None => Created::Free,
        })
    }

    /// Waits for the checkout of order `id`, which another call started: drives it if its
    /// lease is free, otherwise looks again every [`FOLLOW_POLL`] for up to
    /// `config.follow_wait`, then answers with the order as it stands.
    async fn follow(&self, id: OrderId) -> Result<Followed, OrderError> {
        let deadline = Instant::now() + self.config.follow_wait;
        loop {
            let record = self.load(id).await?;
            if record.order.saga_step == SagaStep::Done {
                if is_closed(record.order.status) && !record.holds_cart {
                    return Ok(Followed::Closed(record.order));
                }
                return Ok(Followed::Answer(self.ended(record.order).await));
            }
            let now = self.clock.now();
            if record.lease_free(now) {
                if let Some((record, lease)) = self.claim(id, now).await? {
                    let answer = self.drive(record, lease, None, Mode::Checkout).await;
                    if answer.is_err() {
                        let after = self.load(id).await?;
                        if is_closed(after.order.status) && !after.holds_cart {
                            return Ok(Followed::Closed(after.order));
                        }
                    }
                    return Ok(Followed::Answer(answer));
                }
            }
            if Instant::now() >= deadline {
                return Ok(Followed::Answer(Ok(checkout_of(record.order))));
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    /// The answer for a checkout that ended: the order, or the error its end stands for.
    async fn ended(&self, order: Order) -> Result<Checkout, OrderError> {
        if is_closed(order.status) {
            Err(self.closed_error(&order).await)
        } else {
            Ok(checkout_of(order))
        }
    }

    /// The error a closed checkout stands for, rebuilt from what the order and the other
    /// districts recorded, for callers that did not see it happen (a follower, a repeated
    /// continuation).
    pub(super) async fn closed_error(&self, order: &Order) -> OrderError {
        let order_ref = order.id.to_string();
        match (order.close_reason, order.payment_id) {
            (Some(CloseReason::PaymentDeclined), Some(payment_id)) => {
                match self.payments.payment(payment_id).await {
                    Ok(payment) => declined(order.id, &payment),
                    Err(err) => err.into(),
                }
            }
            (Some(CloseReason::GatewayUnavailable), Some(payment_id)) => {
                OrderError::Payment(PaymentError::GatewayUnavailable {
                    payment_id,
                    source: kassa_payments::gateway::GatewayError::unavailable(
                        "the gateway did not take the authorization",
                    ),
                })
            }
            (Some(CloseReason::InsufficientStock), _) => {
                OrderError::Inventory(self.shortages(order).await)
            }
            (Some(CloseReason::ReservationExpired), _) => {
                OrderError::Inventory(InventoryError::ReservationExpired {
                    order_ref,
                    expires_at: order.reservation_expires_at.unwrap_or(order.created_at),
                })
            }
            _ => OrderError::IllegalTransition {
                order_id: order.id,
                status: order.status,
                action: "checked out",
            },
        }
    }

    /// `insufficient_stock` naming the order's lines that are short now.
    async fn shortages(&self, order: &Order) -> InventoryError {
        let skus: Vec<Sku> = order.lines.iter().map(|l| l.sku.clone()).collect();
        let summaries = self.inventory.stock_many(&skus).await.unwrap_or_default();
        let lines = order
            .lines
            .iter()
            .filter_map(|line| {
                let available = summaries
                    .iter()
                    .find(|s| s.sku == line.sku)
                    .map_or(0, |s| u32::try_from(s.available).unwrap_or(u32::MAX));
                (available < line.quantity.get()).then(|| kassa_inventory::Shortage {
                    sku: line.sku.clone(),
                    requested: line.quantity.get(),
                    available,
                })
            })
            .collect();
        InventoryError::InsufficientStock { lines }
    }

    /// Runs the saga of `record`, whose lease is `lease`, until it ends or must wait. The
    /// lease is released when driving stops, except when the fault hook stops it (as a crash
    /// would): then it is left to expire.
    pub(super) async fn drive(
        &self,
        mut record: OrderRecord,
        lease: SagaLease,
        token: Option<String>,
        mode: Mode,
    ) -> Result<Checkout, OrderError> {
        let id = record.order.id;
        let mut cause: Option<OrderError> = None;
        loop {
            let step = record.order.saga_step;
            let flow = match step {
                SagaStep::Reserve => self.reserve(record, &lease).await,
                SagaStep::Authorize => self.authorize(record, &lease).await,
                SagaStep::AwaitAction => self.await_action(record, &lease, mode).await,
                SagaStep::Commit => self.commit(record, &lease).await,
                SagaStep::Capture => self.capture_step(record, &lease).await,
                SagaStep::CloseCart => self.close_cart(record, &lease).await,
                SagaStep::Compensate => self.compensate(record, &lease).await,
                SagaStep::Done => Ok(Flow::Stop(match cause.take() {
                    Some(err) => Err(err),
                    None => self.ended(record.order).await,
                })),
            };
            match flow {
                Ok(Flow::Next(next, why)) => {
                    if why.is_some() {
                        cause = why;
                    }
                    if self.crashes_after(id, step) {
                        tracing::warn!(order_id = %id, step = step.as_str(), "fault hook: the saga stops as if the process died");
                        return Err(OrderError::Interrupted { order_id: id, step });
                    }
                    record = next;
                }
                Ok(Flow::Stop(answer)) => {
                    self.release(id, &lease).await?;
                    return answer.map(|checkout| Checkout {
                        order_token: token,
                        ..checkout
                    });
                }
                Ok(Flow::LeaseLost) => {
                    tracing::warn!(order_id = %id, step = step.as_str(), "saga lease lost; another driver took over");
                    return Ok(checkout_of(self.load(id).await?.order));
                }
                Err(err) => {
                    if let Err(release) = self.release(id, &lease).await {
                        tracing::error!(order_id = %id, error = %release, "could not release the saga lease");
                    }
                    tracing::warn!(order_id = %id, step = step.as_str(), error = %err, "saga step failed; left for recovery");
                    return Err(err);
                }
            }
        }
    }

    fn crashes_after(&self, id: OrderId, step: SagaStep) -> bool {
        self.config
            .faults
            .as_ref()
            .is_some_and(|faults| faults.crash_after(id, step))
    }

    /// Records a finished step: `change` and its events, if the lease is still ours.
    async fn advance(
        &self,
        record: &OrderRecord,
        lease: &SagaLease,
        change: OrderChange,
        events: impl FnOnce(&Order) -> Vec<kassa_events::NewEvent> + Send,
    ) -> Result<Flow, OrderError> {
        let applied = self
            .apply(record.order.id, Guard::Lease(&lease.id), change, events)
            .await?;
        Ok(match applied {
            Some(next) => Flow::Next(next, None),
            None => Flow::LeaseLost,
        })
    }

    /// The saga cannot complete: moves it to `compensate` with `reason`, remembering `cause`
    /// for the caller.
    async fn begin_compensation(
        &self,
        record: &OrderRecord,
        lease: &SagaLease,
        reason: CloseReason,
        payment_id: Option<PaymentId>,
        cause: OrderError,
    ) -> Result<Flow, OrderError> {
        tracing::info!(order_id = %record.order.id, reason = reason.as_str(), "checkout cannot complete; compensating");
        let change = OrderChange {
            step: Some(SagaStep::Compensate),
            close_reason: Some(reason),
            payment_id,
            ..OrderChange::default()
        };
        Ok(
            match self.advance(record, lease, change, no_events).await? {
                Flow::Next(next, _) => Flow::Next(next, Some(cause)),
                other => other,
            },
        )
    }

    /// Checks the state machine for a move the saga makes.
    fn transition(
        order: &Order,
        to: OrderStatus,
    ) -> Result<(OrderStatus, OrderStatus), OrderError> {
        if order.status.can_become(to) {
            Ok((order.status, to))
        } else {
            Err(invariant(
                order.id,
                &format!("the saga tried {} → {to}", order.status),
            ))
        }
    }

    async fn reserve(&self, record: OrderRecord, lease: &SagaLease) -> Result<Flow, OrderError> {
        let order = &record.order;
        let lines: Vec<(Sku, Quantity)> = order
            .lines
            .iter()
            .map(|line| (line.sku.clone(), line.quantity))
            .collect();
        let reserved = self
            .inventory
            .reserve(order.id.to_string(), &lines, None)
            .await;
        match reserved {
            Ok(reservation)
                if matches!(
                    reservation.status,
                    ReservationStatus::Active | ReservationStatus::Committed
                ) =>
            {
                let change = OrderChange {
                    status: Some(Self::transition(order, OrderStatus::AwaitingPayment)?),
                    step: Some(SagaStep::Authorize),
                    reservation_expires_at: Some(reservation.expires_at),
                    ..OrderChange::default()
                };
                self.advance(&record, lease, change, no_events).await
            }
            // Reserved before a crash, then expired or released before we came back.
            Ok(reservation) => {
                let cause = InventoryError::ReservationExpired {
                    order_ref: reservation.order_ref,
                    expires_at: reservation.expires_at,
                };
                let reason = CloseReason::ReservationExpired;
                self.begin_compensation(&record, lease, reason, None, cause.into())
                    .await
            }
            Err(err @ InventoryError::InsufficientStock { .. }) => {
                let reason = CloseReason::InsufficientStock;
                self.begin_compensation(&record, lease, reason, None, err.into())
                    .await
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn authorize(&self, record: OrderRecord, lease: &SagaLease) -> Result<Flow, OrderError> {
        let order = &record.order;
        let payment_method = record
            .payment_method
            .clone()
            .ok_or_else(|| invariant(order.id, "no payment method at the authorize step"))?;
        let authorized = self
            .payments
            .authorize(payment_ref(order.id)?, order.totals.total, payment_method)
            .await;
        match authorized {
            Ok(payment) => self.authorized(&record, lease, payment).await,
            Err(PaymentError::OutcomeUnknown { payment_id, .. }) => {
                // Ask once more with the same key; the gateway answers what it did.
                match self.payments.resolve(payment_id).await {
                    Ok(payment) => self.authorized(&record, lease, payment).await,
                    Err(err) if not_performed(&err) => {
                        let reason = CloseReason::GatewayUnavailable;
                        self.begin_compensation(
                            &record,
                            lease,
                            reason,
                            Some(payment_id),
                            err.into(),
                        )
                        .await
                    }
                    Err(err) => {
                        tracing::warn!(order_id = %order.id, error = %err, "authorization outcome unknown; left for recovery");
                        self.outcome_unknown(&record, lease, payment_id).await
                    }
                }
            }
            Err(err) => match payment_of(&err) {
                Some(payment_id) if matches!(err, PaymentError::Declined { .. }) => {
                    let reason = CloseReason::PaymentDeclined;
                    self.begin_compensation(&record, lease, reason, Some(payment_id), err.into())
                        .await
                }
                Some(payment_id) if not_performed(&err) => {
                    let reason = CloseReason::GatewayUnavailable;
                    self.begin_compensation(&record, lease, reason, Some(payment_id), err.into())
                        .await
                }
                _ => Err(err.into()),
            },
        }
    }

    /// Where the saga goes once payments answered the authorization with `payment`.
    async fn authorized(
        &self,
        record: &OrderRecord,
        lease: &SagaLease,
        payment: Payment,
    ) -> Result<Flow, OrderError> {
        let payment_id = payment.id();
        let step = |step| OrderChange {
            step: Some(step),
            payment_id: Some(payment_id),
            ..OrderChange::default()
        };
        match payment.status() {
            PaymentStatus::RequiresCapture | PaymentStatus::Succeeded => {
                self.advance(record, lease, step(SagaStep::Commit), no_events)
                    .await
            }
            PaymentStatus::RequiresAction => {
                let next_action = payment.next_action().cloned();
                let flow = self
                    .advance(record, lease, step(SagaStep::AwaitAction), no_events)
                    .await?;
                Ok(match flow {
                    Flow::Next(next, _) => Flow::Stop(Ok(Checkout {
                        order: next.order,
                        order_token: None,
                        next_action,
                    })),
                    other => other,
                })
            }
            PaymentStatus::Failed => {
                let cause = declined(record.order.id, &payment);
                let reason = CloseReason::PaymentDeclined;
                self.begin_compensation(record, lease, reason, Some(payment_id), cause)
                    .await
            }
            PaymentStatus::Canceled => {
                let cause = invariant(
                    record.order.id,
                    "its payment was voided before it was authorized",
                );
                let reason = CloseReason::GatewayUnavailable;
                self.begin_compensation(record, lease, reason, Some(payment_id), cause)
                    .await
            }
            PaymentStatus::RequiresPaymentMethod | PaymentStatus::Processing => {
                self.outcome_unknown(record, lease, payment_id).await
            }
        }
    }

    /// The gateway's answer is not known: the order stays `awaiting_payment` at `authorize`
    /// with its payment recorded, for the recovery worker; the caller gets the order.
    async fn outcome_unknown(
        &self,
        record: &OrderRecord,
        lease: &SagaLease,
        payment_id: PaymentId,
    ) -> Result<Flow, OrderError> {
        let change = OrderChange {
            payment_id: Some(payment_id),
            ..OrderChange::default()
        };
        Ok(
            match self.advance(record, lease, change, no_events).await? {
                Flow::Next(next, _) => Flow::Stop(Ok(checkout_of(next.order))),
                other => other,
            },
        )
    }

    async fn await_action(
        &self,
        record: OrderRecord,
        lease: &SagaLease,
        mode: Mode,
    ) -> Result<Flow, OrderError> {
        let order = &record.order;
        let payment_id = order
            .payment_id
            .ok_or_else(|| invariant(order.id, "waits for 3-D Secure without a payment"))?;
        let result = match mode {
            Mode::Checkout => {
                let payment = self.payments.payment(payment_id).await?;
                return Ok(Flow::Stop(Ok(Checkout {
                    order: record.order,
                    order_token: None,
                    next_action: payment.next_action().cloned(),
                })));
            }
            Mode::Continue => self.payments.complete_action(payment_id).await,
            Mode::Recover => self.payments.resolve(payment_id).await,
        };
        match result {
            Ok(payment) => match payment.status() {
                PaymentStatus::RequiresCapture | PaymentStatus::Succeeded => {
                    let change = OrderChange {
                        step: Some(SagaStep::Commit),
                        ..OrderChange::default()
                    };
                    self.advance(&record, lease, change, no_events).await
                }
                PaymentStatus::Failed => {
                    let cause = declined(order.id, &payment);
                    let reason = CloseReason::PaymentDeclined;
                    self.begin_compensation(&record, lease, reason, Some(payment_id), cause)
                        .await
                }
                _ => Ok(Flow::Stop(Ok(Checkout {
                    next_action: payment.next_action().cloned(),
                    order: record.order,
                    order_token: None,
                }))),
            },
            Err(err @ PaymentError::Declined { .. }) => {
                let reason = CloseReason::PaymentDeclined;
                self.begin_compensation(&record, lease, reason, Some(payment_id), err.into())
                    .await
            }
            Err(PaymentError::OutcomeUnknown { .. }) => {
                Ok(Flow::Stop(Ok(checkout_of(record.order))))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn commit(&self, record: OrderRecord, lease: &SagaLease) -> Result<Flow, OrderError> {
        let order = &record.order;
        match self.inventory.commit(&order.id.to_string()).await {
            Ok(_) => {
                let now = self.clock.now();
                let next = match self.config.capture {
                    CaptureMode::OnConfirmation => SagaStep::Capture,
                    CaptureMode::OnFulfilment => SagaStep::CloseCart,
                };
                let change = OrderChange {
                    status: Some(Self::transition(order, OrderStatus::Confirmed)?),
                    step: Some(next),
                    confirmed_at: Some(now),
                    ..OrderChange::default()
                };
                let flow = self
                    .advance(&record, lease, change, |order| {
                        vec![events::placed(order, now)]
                    })
                    .await?;
                tracing::info!(order_id = %order.id, "order confirmed");
                Ok(flow)
            }
            Err(
                err @ (InventoryError::ReservationExpired { .. }
                | InventoryError::ReservationReleased { .. }),
            ) => {
                let reason = CloseReason::ReservationExpired;
                self.begin_compensation(&record, lease, reason, None, err.into())
                    .await
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Captures at confirmation. A failure does not fail the checkout, which is confirmed
    /// already: the saga stays at this step for the recovery worker.
    async fn capture_step(
        &self,
        record: OrderRecord,
        lease: &SagaLease,
    ) -> Result<Flow, OrderError> {
        let order = &record.order;
        let payment_id = order
            .payment_id
            .ok_or_else(|| invariant(order.id, "confirmed without a payment"))?;
        match self.payments.capture(payment_id, None).await {
            Ok(payment) => {
                let amount = payment.captured();
                let first = order.captured.amount_minor() == 0;
                let now = self.clock.now();
                let change = OrderChange {
                    step: Some(SagaStep::CloseCart),
                    captured: Some(amount),
                    ..OrderChange::default()
                };
                self.advance(&record, lease, change, |order| {
                    if first {
                        vec![events::captured(order, amount, now)]
                    } else {
                        Vec::new()
                    }
                })
                .await
            }
            Err(err) => {
                tracing::warn!(order_id = %order.id, error = %err, "capture failed; left for recovery");
                Ok(Flow::Stop(Ok(checkout_of(record.order))))
            }
        }
    }

    /// Closes the cart. A failure leaves the saga here for recovery; the order holds the
    /// cart's open checkout meanwhile, so the cart cannot be checked out twice.
    async fn close_cart(&self, record: OrderRecord, lease: &SagaLease) -> Result<Flow, OrderError> {
        let order = &record.order;
        match self
            .carts
            .complete_checkout(order.cart_id, &order.id.to_string())
            .await
        {
            Ok(()) => {
                let change = OrderChange {
                    step: Some(SagaStep::Done),
                    clear_payment_method: true,
                    ..OrderChange::default()
                };
                self.advance(&record, lease, change, no_events).await
            }
            Err(err) => {
                tracing::warn!(order_id = %order.id, error = %err, "closing the cart failed; left for recovery");
                Ok(Flow::Stop(Ok(checkout_of(record.order))))
            }
        }
    }

    /// Releases the reservation, voids the payment, then closes the order with its stored
    /// reason. Each call is idempotent, so a compensation interrupted anywhere runs again
    /// whole; one that cannot finish (a void whose outcome is unknown) stays at this step.
    async fn compensate(&self, record: OrderRecord, lease: &SagaLease) -> Result<Flow, OrderError> {
        let order = &record.order;
        let order_ref = order.id.to_string();
        match self.inventory.release(&order_ref).await {
            Ok(_) | Err(InventoryError::ReservationNotFound { .. }) => {}
            // Committed before a crash although the order never recorded it: give it back.
            Err(InventoryError::ReservationCommitted { .. }) => {
                self.inventory.restock(&order_ref).await?;
            }
            Err(err) => return Err(err.into()),
        }
        let payment_id = match order.payment_id {
            Some(id) => Some(id),
            None => self
                .payments
                .payment_for_order(&payment_ref(order.id)?)
                .await?
                .map(|payment| payment.id()),
        };
        if let Some(payment_id) = payment_id {
            match self.payments.void(payment_id).await {
                Ok(_) => {}
                // Nothing is held for a failed or voided payment.
                Err(PaymentError::IllegalTransition {
                    status: PaymentStatus::Failed | PaymentStatus::Canceled,
                    ..
                }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let reason = order
            .close_reason
            .ok_or_else(|| invariant(order.id, "compensating without a reason"))?;
        let now = self.clock.now();
        let change = OrderChange {
            status: Some(Self::transition(order, reason.closed_status())?),
            step: Some(SagaStep::Done),
            payment_id,
            clear_payment_method: true,
            release_cart: true,
            ..OrderChange::default()
        };
        let flow = self
            .advance(&record, lease, change, |order| {
                vec![events::closed(order, false, now)]
            })
            .await?;
        tracing::info!(order_id = %order.id, reason = reason.as_str(), "checkout compensated");
        Ok(flow)
    }

    pub(super) async fn continue_after_action(&self, id: OrderId) -> Result<Checkout, OrderError> {
        let deadline = Instant::now() + self.config.follow_wait;
        loop {
            let record = self.load(id).await?;
            if record.order.saga_step == SagaStep::Done {
                return self.ended(record.order).await;
            }
            let now = self.clock.now();
            if record.lease_free(now) {
                if let Some((record, lease)) = self.claim(id, now).await? {
                    return self.drive(record, lease, None, Mode::Continue).await;
                }
            }
            if Instant::now() >= deadline {
                return Ok(checkout_of(record.order));
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    pub(super) async fn recover_checkouts(
        &self,
        now: Timestamp,
    ) -> Result<RecoveryReport, OrderError> {
        let mut report = RecoveryReport::default();
        for id in self.store.recoverable(now, RECOVERY_BATCH_MAX).await? {
            let Some((record, lease)) = self.claim(id, now).await? else {
                continue;
            };
            tracing::info!(order_id = %id, step = record.order.saga_step.as_str(), "resuming checkout");
            let driven = self.drive(record, lease, None, Mode::Recover).await;
            if let Err(OrderError::Interrupted { .. }) = driven {
                continue;
            }
            let after = self.load(id).await?;
            match after.order.status {
                status if status.is_checkout_open() => report.open += 1,
                status if is_closed(status) => report.compensated += 1,
                _ => report.completed += 1,
            }
        }
        if report != RecoveryReport::default() {
            tracing::info!(
                completed = report.completed,
                compensated = report.compensated,
                open = report.open,
                "recovery pass"
            );
        }
        Ok(report)
    }

    pub(super) async fn expire_checkouts(
        &self,
        now: Timestamp,
        batch_max: u32,
    ) -> Result<u32, OrderError> {
        let limit = batch_max.min(EXPIRE_BATCH_MAX);
        if limit == 0 {
            return Ok(0);
        }
        let mut expired = 0;
        for id in self.store.expiring(now, limit).await? {
            let Some((record, lease)) = self.claim(id, now).await? else {
                continue;
            };
            let order = &record.order;
            let due = order.status.is_checkout_open()
                && order.reservation_expires_at.is_some_and(|at| at <= now);
            if !due {
                self.release(id, &lease).await?;
                continue;
            }
            let cause = InventoryError::ReservationExpired {
                order_ref: id.to_string(),
                expires_at: order.reservation_expires_at.unwrap_or(now),
            };
            if self
                .close_checkout(record, lease, CloseReason::ReservationExpired, cause.into())
                .await?
            {
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Ends an open checkout whose lease the caller holds: compensates it with `reason` (unless
    /// it is compensating already) and drives it to its end. True once the order is closed;
    /// false if it could not be yet (it stays at `compensate` for recovery).
    pub(super) async fn close_checkout(
        &self,
        record: OrderRecord,
        lease: SagaLease,
        reason: CloseReason,
        cause: OrderError,
    ) -> Result<bool, OrderError> {
        let id = record.order.id;
        let record = if record.order.saga_step == SagaStep::Compensate {
            record
        } else {
            match self
                .begin_compensation(&record, &lease, reason, None, cause)
                .await
            {
                Ok(Flow::Next(next, _)) => next,
                Ok(_) => return Ok(false),
                Err(err) => {
                    self.release(id, &lease).await?;
                    return Err(err);
                }
            }
        };
        let driven = self.drive(record, lease, None, Mode::Recover).await;
        let after = self.load(id).await?;
        if is_closed(after.order.status) {
            return Ok(true);
        }
        driven.map(|_| false)
    }
}

/// The payment an error names, when it names one.
fn payment_of(err: &PaymentError) -> Option<PaymentId> {
    match err {
        PaymentError::Declined { payment_id, .. }
        | PaymentError::GatewayUnavailable { payment_id, .. }
        | PaymentError::Gateway { payment_id, .. }
        | PaymentError::IllegalTransition { payment_id, .. } => Some(*payment_id),
        _ => None,
    }
}

/// The gateway did not perform the authorization and will not (or not now): the checkout
/// fails as `gateway_unavailable`. A canceled payment counts: it can never be authorized.
fn not_performed(err: &PaymentError) -> bool {
    matches!(
        err,
        PaymentError::GatewayUnavailable { .. }
            | PaymentError::Gateway { .. }
            | PaymentError::IllegalTransition {
                status: PaymentStatus::Canceled,
                ..
            }
    )
}
