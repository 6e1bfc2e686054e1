//! The two strings a caller hands the payments district: which order a payment is for and the
//! gateway's token for the shopper's payment method. Both are validated when built.

use std::fmt;

use kassa_kernel::{DomainError, ErrorCategory, ProblemType};

pub const INVALID_ORDER_REF: ProblemType = ProblemType::new(
    "invalid_order_ref",
    "Invalid order reference",
    ErrorCategory::Invalid,
);
pub const INVALID_PAYMENT_METHOD: ProblemType = ProblemType::new(
    "invalid_payment_method",
    "Invalid payment method token",
    ErrorCategory::Invalid,
);

/// Longest order reference accepted. Orders pass their typed id (`ord_` + 32 hex digits, 36
/// characters); 128 leaves room for other callers' schemes while keeping the UNIQUE index and
/// the gateway's metadata small.
pub const ORDER_REF_LEN_MAX: usize = 128;

/// Longest payment-method token accepted: Stripe's limit for object ids and idempotency keys
/// is 255 characters, and a token is never longer than what its gateway issues.
pub const PAYMENT_METHOD_TOKEN_LEN_MAX: usize = 255;

/// The order a payment belongs to, opaque to this district: one payment per order reference.
/// 1 to [`ORDER_REF_LEN_MAX`] printable ASCII characters without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderRef(String);

/// Why a string is not an order reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderRefError {
    #[error("The order reference must not be empty.")]
    Empty,
    #[error("The order reference must be at most {ORDER_REF_LEN_MAX} characters.")]
    TooLong,
    #[error("The order reference may contain only printable ASCII characters without spaces.")]
    Characters,
}

impl OrderRef {
    pub fn parse(text: impl Into<String>) -> Result<OrderRef, OrderRefError> {
        let text = text.into();
        check_token_chars(&text, ORDER_REF_LEN_MAX).map_err(|fault| match fault {
            CharsFault::Empty => OrderRefError::Empty,
            CharsFault::TooLong => OrderRefError::TooLong,
            CharsFault::Characters => OrderRefError::Characters,
        })?;
        Ok(OrderRef(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for OrderRef {
    type Err = OrderRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderRef::parse(s)
    }
}

impl DomainError for OrderRefError {
    fn problem_type(&self) -> &'static ProblemType {
        &INVALID_ORDER_REF
    }
}

/// A gateway's reference to the shopper's payment method (`pm_…`), issued to the storefront by
/// the gateway's own client library. Card numbers never reach kassa; this token is all we hold,
/// and only while an authorization's outcome is still open. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentMethodToken(String);

/// Why a string is not a payment-method token. Never echoes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentMethodTokenError {
    #[error("The payment method token must not be empty.")]
    Empty,
    #[error("The payment method token must be at most {PAYMENT_METHOD_TOKEN_LEN_MAX} characters.")]
    TooLong,
    #[error(
        "The payment method token may contain only printable ASCII characters without spaces."
    )]
    Characters,
}

impl PaymentMethodToken {
    pub fn parse(text: impl Into<String>) -> Result<PaymentMethodToken, PaymentMethodTokenError> {
        let text = text.into();
        check_token_chars(&text, PAYMENT_METHOD_TOKEN_LEN_MAX).map_err(|fault| match fault {
            CharsFault::Empty => PaymentMethodTokenError::Empty,
            CharsFault::TooLong => PaymentMethodTokenError::TooLong,
            CharsFault::Characters => PaymentMethodTokenError::Characters,
        })?;
        Ok(PaymentMethodToken(text))
    }

    /// The token itself, for the gateway request and the store only. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PaymentMethodToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PaymentMethodToken(<redacted>)")
    }
}

impl DomainError for PaymentMethodTokenError {
    fn problem_type(&self) -> &'static ProblemType {
        &INVALID_PAYMENT_METHOD
    }
}

enum CharsFault {
    Empty,
    TooLong,
    Characters,
}

/// Non-empty, at most `max` bytes, every byte printable ASCII other than space (`!`..=`~`).
fn check_token_chars(text: &str, max: usize) -> Result<(), CharsFault> {
    if text.is_empty() {
        return Err(CharsFault::Empty);
    }
    if text.len() > max {
        return Err(CharsFault::TooLong);
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CharsFault::Characters);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_ref_is_kept_as_given() {
        let order = OrderRef::parse("ord_0191b7c2000070008000000000000000").unwrap();
        assert_eq!(order.as_str(), "ord_0191b7c2000070008000000000000000");
        assert_eq!(order.to_string(), order.as_str());
    }

    #[test]
    fn order_refs_are_checked_at_both_sides_of_the_length_limit() {
        assert!(OrderRef::parse("x".repeat(ORDER_REF_LEN_MAX)).is_ok());
        assert_eq!(
            OrderRef::parse("x".repeat(ORDER_REF_LEN_MAX + 1)),
            Err(OrderRefError::TooLong)
        );
        assert_eq!(OrderRef::parse(""), Err(OrderRefError::Empty));
        for bad in ["a b", "tab\there", "é", "line\n"] {
            assert_eq!(
                OrderRef::parse(bad),
                Err(OrderRefError::Characters),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn tokens_are_checked_at_both_sides_of_the_length_limit() {
        assert!(PaymentMethodToken::parse("p".repeat(PAYMENT_METHOD_TOKEN_LEN_MAX)).is_ok());
        assert_eq!(
            PaymentMethodToken::parse("p".repeat(PAYMENT_METHOD_TOKEN_LEN_MAX + 1)),
            Err(PaymentMethodTokenError::TooLong)
        );
        assert_eq!(
            PaymentMethodToken::parse(""),
            Err(PaymentMethodTokenError::Empty)
        );
        assert_eq!(
            PaymentMethodToken::parse("pm card"),
            Err(PaymentMethodTokenError::Characters)
        );
    }

    #[test]
    fn debug_never_prints_a_token() {
        let token = PaymentMethodToken::parse("pm_sandbox_success").unwrap();
        let shown = format!("{token:?} {:?}", Some(token.clone()));
        assert!(!shown.contains("pm_sandbox"), "{shown}");
        assert_eq!(token.expose(), "pm_sandbox_success");
    }

    #[test]
    fn input_errors_are_invalid_problems() {
        assert_eq!(OrderRefError::Empty.problem_type(), &INVALID_ORDER_REF);
        assert_eq!(
            PaymentMethodTokenError::TooLong.problem_type().category,
            ErrorCategory::Invalid
        );
    }
}
