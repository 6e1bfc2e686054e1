//! What the orders service refuses, and the problem types it owns. Errors of the districts the
//! saga calls pass through with their own problem types (`insufficient_stock`,
//! `payment_declined`, `cart_not_found`, …), so a client sees one code per cause whichever
//! district found it.

use kassa_cart::CartError;
use kassa_db::DbError;
use kassa_inventory::InventoryError;
use kassa_kernel::ids::OrderId;
use kassa_kernel::{DomainError, ErrorCategory, ProblemType};
use kassa_payments::PaymentError;

use crate::model::{OrderFlagId, OrderStatus, SagaStep};

pub const ORDER_NOT_FOUND: ProblemType = ProblemType::new(
    "order_not_found",
    "Order not found",
    ErrorCategory::NotFound,
);
pub const ORDER_FLAG_NOT_FOUND: ProblemType = ProblemType::new(
    "order_flag_not_found",
    "Order flag not found",
    ErrorCategory::NotFound,
);
pub const CART_NOT_READY: ProblemType = ProblemType::new(
    "cart_not_ready",
    "Cart not ready for checkout",
    ErrorCategory::Invalid,
);
pub const ILLEGAL_ORDER_TRANSITION: ProblemType = ProblemType::new(
    "illegal_order_transition",
    "Illegal order transition",
    ErrorCategory::Conflict,
);
pub const INVALID_FULFILMENT: ProblemType = ProblemType::new(
    "invalid_fulfilment",
    "Invalid fulfilment",
    ErrorCategory::Invalid,
);
pub const CHECKOUT_INTERRUPTED: ProblemType = ProblemType::new(
    "checkout_interrupted",
    "Checkout interrupted",
    ErrorCategory::Internal,
);
pub const ORDERS_STORAGE_UNAVAILABLE: ProblemType = ProblemType::new(
    "orders_storage_unavailable",
    "Orders storage unavailable",
    ErrorCategory::Unavailable,
);
pub const ORDERS_STORAGE_ERROR: ProblemType = ProblemType::new(
    "orders_storage_error",
    "Orders storage error",
    ErrorCategory::Internal,
);
pub const ORDERS_INTERNAL_ERROR: ProblemType = ProblemType::new(
    "orders_internal_error",
    "Orders internal error",
    ErrorCategory::Internal,
);

/// Every problem type the orders district owns.
pub const PROBLEM_TYPES: &[&ProblemType] = &[
    &ORDER_NOT_FOUND,
    &ORDER_FLAG_NOT_FOUND,
    &CART_NOT_READY,
    &ILLEGAL_ORDER_TRANSITION,
    &INVALID_FULFILMENT,
    &CHECKOUT_INTERRUPTED,
    &ORDERS_STORAGE_UNAVAILABLE,
    &ORDERS_STORAGE_ERROR,
    &ORDERS_INTERNAL_ERROR,
];

/// Why a cart cannot be checked out; `CartNotReady` lists every one that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CartProblem {
    Empty,
    /// A line whose SKU is unknown, archived or unpriced in the cart's currency.
    UnavailableLines,
    NoEmail,
    NoShippingAddress,
    /// No shipping option chosen, or the chosen one no longer applies.
    NoShippingOption,
}

impl CartProblem {
    /// The JSON pointer of the cart field at fault, for the problem's field errors.
    pub fn pointer(self) -> &'static str {
        match self {
            CartProblem::Empty | CartProblem::UnavailableLines => "/lines",
            CartProblem::NoEmail => "/email",
            CartProblem::NoShippingAddress => "/shipping_address",
            CartProblem::NoShippingOption => "/shipping_option",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            CartProblem::Empty => "The cart has no lines.",
            CartProblem::UnavailableLines => {
                "The cart has lines that can no longer be bought; remove them."
            }
            CartProblem::NoEmail => "The cart has no email address.",
            CartProblem::NoShippingAddress => "The cart has no shipping address.",
            CartProblem::NoShippingOption => "The cart has no applicable shipping option chosen.",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("Order {0} was not found.")]
    OrderNotFound(OrderId),
    /// The order exists but has no flag with this id.
    #[error("Order {order_id} has no flag {flag_id}.")]
    OrderFlagNotFound {
        order_id: OrderId,
        flag_id: OrderFlagId,
    },
    #[error("The cart cannot be checked out yet: {}", .0.iter().map(|p| p.message()).collect::<Vec<_>>().join(" "))]
    CartNotReady(Vec<CartProblem>),
    #[error("Order {order_id} is {status}; it cannot be {action}.")]
    IllegalTransition {
        order_id: OrderId,
        status: OrderStatus,
        /// What was asked, as a past participle: `fulfilled`, `cancelled`, `refunded`, …
        action: &'static str,
    },
    #[error("The fulfilment is invalid: {0}")]
    InvalidFulfilment(String),
    /// The fault-injection hook stopped the saga after `step`, as a crash would.
    #[error("The checkout of order {order_id} was interrupted after step {}.", step.as_str())]
    Interrupted { order_id: OrderId, step: SagaStep },
    #[error(transparent)]
    Cart(#[from] CartError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error("The orders database is unavailable: {0}")]
    StorageUnavailable(DbError),
    #[error("The orders database failed: {0}")]
    Storage(DbError),
    /// A broken invariant: a stored row that does not parse, a transition the saga should
    /// never attempt.
    #[error("orders invariant broken: {0}")]
    Invariant(String),
}

impl From<DbError> for OrderError {
    fn from(err: DbError) -> Self {
        if err.is_unavailable() {
            OrderError::StorageUnavailable(err)
        } else {
            OrderError::Storage(err)
        }
    }
}

impl DomainError for OrderError {
    fn problem_type(&self) -> &'static ProblemType {
        match self {
            OrderError::OrderNotFound(_) => &ORDER_NOT_FOUND,
            OrderError::OrderFlagNotFound { .. } => &ORDER_FLAG_NOT_FOUND,
            OrderError::CartNotReady(_) => &CART_NOT_READY,
            OrderError::IllegalTransition { .. } => &ILLEGAL_ORDER_TRANSITION,
            OrderError::InvalidFulfilment(_) => &INVALID_FULFILMENT,
            OrderError::Interrupted { .. } => &CHECKOUT_INTERRUPTED,
            OrderError::Cart(err) => err.problem_type(),
            OrderError::Inventory(err) => err.problem_type(),
            OrderError::Payment(err) => err.problem_type(),
            OrderError::StorageUnavailable(_) => &ORDERS_STORAGE_UNAVAILABLE,
            OrderError::Storage(_) => &ORDERS_STORAGE_ERROR,
            OrderError::Invariant(_) => &ORDERS_INTERNAL_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            OrderError::Cart(err) => err.detail(),
            OrderError::Inventory(err) => err.detail(),
            OrderError::Payment(err) => err.detail(),
            _ if self.problem_type().category == ErrorCategory::Internal => {
                "An internal error occurred; it has been logged with the request id.".to_owned()
            }
            _ => self.to_string(),
        }
    }

    fn field_errors(&self) -> Vec<(String, String)> {
        match self {
            OrderError::CartNotReady(problems) => problems
                .iter()
                .map(|p| (p.pointer().to_owned(), p.message().to_owned()))
                .collect(),
            OrderError::Cart(err) => err.field_errors(),
            OrderError::Inventory(err) => err.field_errors(),
            OrderError::Payment(err) => err.field_errors(),
            _ => Vec::new(),
        }
    }
}
