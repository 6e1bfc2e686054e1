//! The wire shapes of checkout and the order routes (docs/API.md, "Checkout" and "Orders").

use kassa_kernel::ids::{
    CartId, CustomerId, FulfilmentId, OrderId, ProductId, ShippingOptionId, StaffId,
};
use kassa_kernel::{Currency, Email, Quantity, Sku};
use kassa_orders::{Checkout, Fulfilment, Order, OrderFlag, OrderFlagId, OrderLine};
use kassa_payments::{NextAction, Payment, PaymentId, Refund, RefundId};
use serde::{Deserialize, Serialize};

use crate::money::MoneyDto;
use crate::routes::carts::dto::AddressDto;

/// An order: what a shopper bought, priced as at checkout, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Order)]
pub struct OrderDto {
    #[schema(value_type = String, example = "ord_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: OrderId,
    /// `pending`, `awaiting_payment`, `confirmed`, `partially_fulfilled`, `fulfilled`,
    /// `delivered`, `cancelled`, `payment_failed` or `refunded`.
    #[schema(example = "confirmed")]
    pub status: String,
    /// Why a `cancelled` or `payment_failed` order closed: `insufficient_stock`,
    /// `payment_declined`, `gateway_unavailable`, `reservation_expired` or `staff`.
    #[schema(required = true)]
    pub close_reason: Option<String>,
    #[schema(value_type = String)]
    pub cart_id: CartId,
    /// The customer who checked out signed in; `null` for a guest.
    #[schema(value_type = Option<String>, required = true)]
    pub customer_id: Option<CustomerId>,
    #[schema(value_type = String, example = "ada@example.com")]
    pub email: Email,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub lines: Vec<OrderLineDto>,
    pub shipping_address: AddressDto,
    pub shipping: OrderShippingDto,
    pub totals: OrderTotalsDto,
    /// Set once the payment's authorization started.
    #[schema(value_type = Option<String>, required = true)]
    pub payment_id: Option<PaymentId>,
    pub captured: MoneyDto,
    pub refunded: MoneyDto,
    /// When the stock reservation lapses (or lapsed) if the order is not confirmed by then; kept
    /// after confirmation as a record. `null` before stock is reserved.
    #[schema(required = true, example = "2026-11-22T04:49:36.123Z")]
    pub reservation_expires_at: Option<String>,
    pub fulfilments: Vec<FulfilmentDto>,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub created_at: String,
    #[schema(example = "2026-11-22T04:39:36.123Z")]
    pub updated_at: String,
    #[schema(required = true, example = "2026-11-22T04:39:37.001Z")]
    pub confirmed_at: Option<String>,
}

impl From<Order> for OrderDto {
    fn from(order: Order) -> OrderDto {
        OrderDto {
            id: order.id,
            status: order.status.as_str().to_owned(),
            close_reason: order.close_reason.map(|r| r.as_str().to_owned()),
            cart_id: order.cart_id,
            customer_id: order.customer_id,
            email: order.email,
            currency: order.currency,
            lines: order.lines.iter().map(OrderLineDto::from).collect(),
            shipping_address: AddressDto::from(&order.shipping_address),
            shipping: OrderShippingDto {
                option_id: order.shipping.option_id,
                name: order.shipping.name,
                amount: order.shipping.amount.into(),
            },
            totals: OrderTotalsDto {
                subtotal: order.totals.subtotal.into(),
                shipping: order.totals.shipping.into(),
                tax: order.totals.tax.into(),
                total: order.totals.total.into(),
            },
            payment_id: order.payment_id,
            captured: order.captured.into(),
            refunded: order.refunded.into(),
            reservation_expires_at: order.reservation_expires_at.map(|t| t.to_rfc3339()),
            fulfilments: order.fulfilments.iter().map(FulfilmentDto::from).collect(),
            created_at: order.created_at.to_rfc3339(),
            updated_at: order.updated_at.to_rfc3339(),
            confirmed_at: order.confirmed_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// One line of an order, priced as at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = OrderLine)]
pub struct OrderLineDto {
    #[schema(value_type = String, example = "TEE-AURORA-M")]
    pub sku: Sku,
    #[schema(value_type = String)]
    pub product_id: ProductId,
    #[schema(example = "Aurora T-shirt")]
    pub product_title: String,
    #[schema(example = "Aurora T-shirt / M")]
    pub variant_title: String,
    #[schema(example = 2)]
    pub quantity: u32,
    pub unit_price: MoneyDto,
    /// `unit_price` × `quantity`.
    pub line_total: MoneyDto,
    /// Units shipped so far.
    pub fulfilled_quantity: u32,
}

impl From<&OrderLine> for OrderLineDto {
    fn from(line: &OrderLine) -> OrderLineDto {
        OrderLineDto {
            sku: line.sku.clone(),
            product_id: line.product_id,
            product_title: line.product_title.clone(),
            variant_title: line.variant_title.clone(),
            quantity: line.quantity.get(),
            unit_price: line.unit_price.into(),
            line_total: line.line_total.into(),
            fulfilled_quantity: line.fulfilled_quantity,
        }
    }
}

/// The shipping option as it was priced at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = OrderShipping)]
pub struct OrderShippingDto {
    #[schema(value_type = String)]
    pub option_id: ShippingOptionId,
    #[schema(example = "DHL Paket")]
    pub name: String,
    pub amount: MoneyDto,
}

/// All in the order's currency; `total = subtotal + shipping + tax`, as at checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = OrderTotals)]
pub struct OrderTotalsDto {
    pub subtotal: MoneyDto,
    pub shipping: MoneyDto,
    pub tax: MoneyDto,
    pub total: MoneyDto,
}

/// One shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Fulfilment)]
pub struct FulfilmentDto {
    #[schema(value_type = String, example = "ful_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: FulfilmentId,
    pub lines: Vec<FulfilmentLineDto>,
    #[schema(example = "DHL")]
    pub carrier: String,
    #[schema(example = "00340434161094042557")]
    pub tracking_number: String,
    #[schema(example = "2026-11-23T09:00:00.000Z")]
    pub created_at: String,
}

impl From<&Fulfilment> for FulfilmentDto {
    fn from(fulfilment: &Fulfilment) -> FulfilmentDto {
        FulfilmentDto {
            id: fulfilment.id,
            lines: fulfilment
                .lines
                .iter()
                .map(|(sku, quantity)| FulfilmentLineDto {
                    sku: sku.clone(),
                    quantity: *quantity,
                })
                .collect(),
            carrier: fulfilment.carrier.clone(),
            tracking_number: fulfilment.tracking_number.clone(),
            created_at: fulfilment.created_at.to_rfc3339(),
        }
    }
}

/// Units of one SKU in a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FulfilmentLine)]
pub struct FulfilmentLineDto {
    #[schema(value_type = String, example = "TEE-AURORA-M")]
    pub sku: Sku,
    /// 1 to 999.
    #[schema(value_type = u32, example = 1)]
    pub quantity: Quantity,
}

/// `POST /v1/carts/{cart_id}/checkout`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CheckoutInput)]
pub struct CheckoutInputDto {
    /// The gateway's token for the shopper's payment method (never card data). With the
    /// sandbox gateway, one of the `pm_sandbox_…` tokens of docs/API.md.
    #[schema(example = "pm_sandbox_success")]
    pub payment_method: String,
}

/// The answer to a checkout that did not fail: 201 when the order is confirmed, 202 while the
/// payment waits for 3-D Secure (`next_action`) or for the gateway's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Checkout)]
pub struct CheckoutDto {
    pub order: OrderDto,
    /// The guest's key to the order (`Order-Token` header on `GET /v1/orders/{order_id}`).
    /// Given only by the call that created the order; `null` on any other answer.
    #[schema(required = true, example = "ordtok_…")]
    pub order_token: Option<String>,
    /// Set while the shopper must pass 3-D Secure: send them to `redirect_url`.
    #[schema(required = true)]
    pub next_action: Option<NextActionDto>,
}

impl From<Checkout> for CheckoutDto {
    fn from(checkout: Checkout) -> CheckoutDto {
        CheckoutDto {
            order: OrderDto::from(checkout.order),
            order_token: checkout.order_token,
            next_action: checkout.next_action.map(NextActionDto::from),
        }
    }
}

/// What the shopper must do before the payment can complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = NextAction)]
pub struct NextActionDto {
    /// `redirect`: send the shopper to `redirect_url` (the sandbox's page, or Stripe's when
    /// `payments.stripe.return_url` is set). `use_stripe_sdk`: run Stripe.js
    /// `stripe.handleNextAction({clientSecret: client_secret})` in the shopper's browser.
    #[serde(rename = "type")]
    #[schema(example = "redirect")]
    pub action_type: String,
    #[schema(example = "/v1/sandbox/challenges/sbx_0191b7c2")]
    pub redirect_url: Option<String>,
    /// The gateway's client secret for the payment (Stripe), for its browser script; present
    /// with Stripe whatever the type.
    pub client_secret: Option<String>,
}

impl From<NextAction> for NextActionDto {
    fn from(action: NextAction) -> NextActionDto {
        NextActionDto {
            action_type: match action.redirect_url {
                Some(_) => "redirect",
                None => "use_stripe_sdk",
            }
            .to_owned(),
            redirect_url: action.redirect_url,
            client_secret: action.client_secret,
        }
    }
}

/// `{"order": Order}`: the answer of the routes that change one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderEnvelope {
    pub order: OrderDto,
}

impl From<Order> for OrderEnvelope {
    fn from(order: Order) -> OrderEnvelope {
        OrderEnvelope {
            order: OrderDto::from(order),
        }
    }
}

/// One page of orders, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderList {
    pub items: Vec<OrderDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The staff view of one order: the order, its payment, its refunds and its flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = AdminOrder)]
pub struct AdminOrderDto {
    pub order: OrderDto,
    /// `null` until the checkout started the payment.
    #[schema(required = true)]
    pub payment: Option<PaymentDto>,
    /// Oldest first.
    pub refunds: Vec<RefundDto>,
    /// What staff must look at, open and resolved, oldest first.
    pub flags: Vec<OrderFlagDto>,
}

/// Something about an order staff must look at: today a dispute (chargeback) of its payment,
/// reported by the gateway. Open until a staff member resolves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = OrderFlag)]
pub struct OrderFlagDto {
    #[schema(value_type = String, example = "ofl_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: OrderFlagId,
    /// Always `dispute` today.
    #[schema(example = "dispute")]
    pub kind: String,
    /// The gateway's id of the dispute.
    #[schema(example = "dp_1QXb2c")]
    pub dispute_ref: String,
    /// The gateway's reason, e.g. `fraudulent` or `product_not_received`.
    #[schema(example = "fraudulent")]
    pub reason: String,
    /// The disputed amount.
    pub amount: MoneyDto,
    /// The dispute's status at the gateway when it was reported, e.g. `needs_response`.
    #[schema(example = "needs_response")]
    pub status: String,
    #[schema(example = "2026-11-25T08:00:00.000Z")]
    pub raised_at: String,
    /// When a staff member marked it handled; `null` while it is open.
    #[schema(required = true, example = "2026-11-25T09:30:00.000Z")]
    pub resolved_at: Option<String>,
    /// Who resolved it; `null` while it is open.
    #[schema(value_type = Option<String>, required = true)]
    pub resolved_by: Option<StaffId>,
}

impl From<&OrderFlag> for OrderFlagDto {
    fn from(flag: &OrderFlag) -> OrderFlagDto {
        OrderFlagDto {
            id: flag.id,
            kind: flag.kind.as_str().to_owned(),
            dispute_ref: flag.source_ref.clone(),
            reason: flag.reason.clone(),
            amount: flag.amount.into(),
            status: flag.status.clone(),
            raised_at: flag.raised_at.to_rfc3339(),
            resolved_at: flag.resolved_at.map(|t| t.to_rfc3339()),
            resolved_by: flag.resolved_by,
        }
    }
}

/// `{"flag": OrderFlag}`: the answer of resolving a flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderFlagEnvelope {
    pub flag: OrderFlagDto,
}

/// An order's payment, as the gateway last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Payment)]
pub struct PaymentDto {
    #[schema(value_type = String, example = "pay_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: PaymentId,
    /// `requires_payment_method`, `processing`, `requires_action`, `requires_capture`,
    /// `succeeded`, `canceled` or `failed`.
    #[schema(example = "succeeded")]
    pub status: String,
    pub amount: MoneyDto,
    pub captured: MoneyDto,
    pub refunded: MoneyDto,
}

impl From<&Payment> for PaymentDto {
    fn from(payment: &Payment) -> PaymentDto {
        PaymentDto {
            id: payment.id(),
            status: payment.status().as_str().to_owned(),
            amount: payment.amount().into(),
            captured: payment.captured().into(),
            refunded: payment.refunded().into(),
        }
    }
}

/// One refund of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Refund)]
pub struct RefundDto {
    #[schema(value_type = String, example = "re_0191b7c26d4e7cc28a113f2b4c5d6e7f")]
    pub id: RefundId,
    pub amount: MoneyDto,
    /// `pending` (the gateway's answer is not known yet), `succeeded` or `failed`.
    #[schema(example = "succeeded")]
    pub status: String,
    #[schema(example = "2026-11-24T10:00:00.000Z")]
    pub created_at: String,
}

impl From<&Refund> for RefundDto {
    fn from(refund: &Refund) -> RefundDto {
        RefundDto {
            id: refund.id,
            amount: refund.amount.into(),
            status: refund.status.as_str().to_owned(),
            created_at: refund.created_at.to_rfc3339(),
        }
    }
}

/// `POST /v1/admin/orders/{order_id}/fulfilments`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewFulfilment)]
pub struct NewFulfilmentDto {
    /// The units shipped; absent ships everything not shipped yet.
    #[serde(default)]
    pub lines: Option<Vec<FulfilmentLineDto>>,
    /// 1 to 100 characters.
    #[schema(example = "DHL")]
    pub carrier: String,
    /// 1 to 100 characters.
    #[schema(example = "00340434161094042557")]
    pub tracking_number: String,
}

/// `POST /v1/admin/orders/{order_id}/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewRefund)]
pub struct NewRefundDto {
    /// In the order's currency; more than zero, at most what is captured and not refunded.
    pub amount: MoneyDto,
}

/// The answer to a refund: the order after it, and the refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = RefundResult)]
pub struct RefundResultDto {
    pub order: OrderDto,
    pub refund: RefundDto,
}
