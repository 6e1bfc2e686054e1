//! Extension members (RFC 9457 §3.2) that district errors add to their problem documents.
//!
//! The kernel's `DomainError` speaks no JSON, and `From<E: DomainError> for ApiError` is one
//! generic conversion, so the members an error carries are found here, by looking at what the
//! error is: [`of`] tries each district error type that has members, and an error wrapping
//! another (an orders error carrying inventory's `insufficient_stock`) contributes the members of
//! what it wraps. Adding members for a new error is one arm here and a line in docs/API.md.
//! A handler that knows more than the error (the order a declined checkout made) adds its own
//! with [`ApiError::with_extension`](super::ApiError::with_extension).
//!
//! | code                | member         | value                                             |
//! |---------------------|----------------|---------------------------------------------------|
//! | `insufficient_stock`| `skus`         | `[{"sku", "requested", "available"}]`, every short SKU |
//! | `payment_declined`  | `decline_code` | the gateway's decline code, e.g. `insufficient_funds` |

use std::any::Any;

use kassa_inventory::{InventoryError, Shortage};
use kassa_orders::OrderError;
use kassa_payments::PaymentError;
use serde_json::{json, Value};

/// The extension members of `error`, in the order they are rendered; empty for most errors.
pub fn of(error: &dyn Any) -> Vec<(&'static str, Value)> {
    if let Some(err) = error.downcast_ref::<OrderError>() {
        return match err {
            OrderError::Inventory(inner) => inventory(inner),
            OrderError::Payment(inner) => payment(inner),
            _ => Vec::new(),
        };
    }
    if let Some(err) = error.downcast_ref::<InventoryError>() {
        return inventory(err);
    }
    if let Some(err) = error.downcast_ref::<PaymentError>() {
        return payment(err);
    }
    Vec::new()
}

/// The `Retry-After` an error asks for, when it knows better than the default: a gateway whose
/// circuit breaker is open (the rest of its cool-down), or a gateway that answered 429 with its
/// own `Retry-After`.
pub fn retry_after_secs(error: &dyn Any) -> Option<u32> {
    let payment = match error.downcast_ref::<OrderError>() {
        Some(OrderError::Payment(inner)) => Some(inner),
        _ => error.downcast_ref::<PaymentError>(),
    }?;
    payment
        .retry_after()
        .map(kassa_payments::error::retry_after_secs)
}

/// `skus` on `insufficient_stock`: what was asked and what was available, per short SKU, so a
/// storefront can lower the quantities without parsing `detail`.
fn inventory(error: &InventoryError) -> Vec<(&'static str, Value)> {
    match error {
        InventoryError::InsufficientStock { lines } => {
            vec![("skus", Value::Array(lines.iter().map(shortage).collect()))]
        }
        _ => Vec::new(),
    }
}

fn shortage(line: &Shortage) -> Value {
    json!({
        "sku": line.sku.as_str(),
        "requested": line.requested,
        "available": line.available,
    })
}

/// `decline_code` on `payment_declined`: the issuer's reason, which decides what a storefront
/// tells the shopper (another card, or the same card after calling the bank).
fn payment(error: &PaymentError) -> Vec<(&'static str, Value)> {
    match error {
        PaymentError::Declined { decline, .. } => {
            vec![("decline_code", Value::String(decline.code.clone()))]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::ApiError;
    use kassa_kernel::Sku;
    use kassa_payments::{Decline, PaymentId};

    fn short(sku: &str, requested: u32, available: u32) -> Shortage {
        Shortage {
            sku: Sku::parse(sku).unwrap_or_else(|e| panic!("{e}")),
            requested,
            available,
        }
    }

    #[test]
    fn insufficient_stock_lists_every_short_sku_directly_or_through_orders() {
        let lines = vec![short("MUG", 1, 0), short("TEE-M", 3, 2)];
        let expected = json!([
            {"sku": "MUG", "requested": 1, "available": 0},
            {"sku": "TEE-M", "requested": 3, "available": 2},
        ]);
        let direct = ApiError::from(InventoryError::InsufficientStock {
            lines: lines.clone(),
        });
        let wrapped = ApiError::from(OrderError::Inventory(InventoryError::InsufficientStock {
            lines,
        }));
        for error in [direct, wrapped] {
            let problem = serde_json::to_value(error.to_problem("r")).unwrap_or_default();
            assert_eq!(problem["code"], "insufficient_stock");
            assert_eq!(problem["status"], 409);
            assert_eq!(problem["skus"], expected);
        }
    }

    #[test]
    fn a_declined_payment_names_its_decline_code() {
        let declined = || PaymentError::Declined {
            payment_id: PaymentId::new(),
            decline: Decline {
                code: "insufficient_funds".to_owned(),
                message: "Insufficient funds.".to_owned(),
            },
        };
        for error in [
            ApiError::from(declined()),
            ApiError::from(OrderError::Payment(declined())),
        ] {
            let problem = serde_json::to_value(error.to_problem("r")).unwrap_or_default();
            assert_eq!(problem["status"], 402);
            assert_eq!(problem["decline_code"], "insufficient_funds");
        }
    }

    #[test]
    fn errors_without_members_render_none_and_standard_members_cannot_be_replaced() {
        let error = ApiError::from(InventoryError::Invariant("x".to_owned()));
        let problem = serde_json::to_value(error.to_problem("r")).unwrap_or_default();
        assert!(problem.get("skus").is_none());
        let error = ApiError::from(InventoryError::Invariant("x".to_owned()))
            .with_extension("code", "other")
            .with_extension("order_id", "ord_1");
        let problem = serde_json::to_value(error.to_problem("r")).unwrap_or_default();
        assert_eq!(problem["code"], "inventory_internal_error");
        assert_eq!(problem["order_id"], "ord_1");
    }
}
