//! Idempotency keys for gateway calls, derived only from our own ids (DESIGN promise 2).
//!
//! Each money-moving operation has exactly one key: `kassa:{payment_id}:authorize`,
//! `kassa:{payment_id}:capture`, `kassa:{payment_id}:void` and `kassa:{refund_id}:refund`. A
//! retry after a timeout or a crash therefore sends the key of the first try, and the gateway
//! answers with the first result instead of moving money again. Nothing random or time-based
//! goes into a key: the same payment always produces the same keys, on any node, after any
//! restart.
//!
//! The consequence to keep in mind: a payment is authorized at most once and captured at most
//! once (as Stripe's PaymentIntents are); every further refund is a new [`RefundId`] and so a
//! new key.

use std::fmt;

use crate::model::{PaymentId, RefundId};

/// Prefix of every key, so our keys are recognisable in a gateway's dashboard and cannot collide
/// with keys another system sends with the same account.
const KEY_PREFIX: &str = "kassa";

/// Stripe accepts idempotency keys of at most 255 characters; ours are 52 at most.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;

/// A gateway idempotency key. Built only by the constructors below.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn authorize(payment: PaymentId) -> IdempotencyKey {
        IdempotencyKey(format!("{KEY_PREFIX}:{payment}:authorize"))
    }

    pub fn capture(payment: PaymentId) -> IdempotencyKey {
        IdempotencyKey(format!("{KEY_PREFIX}:{payment}:capture"))
    }

    pub fn void(payment: PaymentId) -> IdempotencyKey {
        IdempotencyKey(format!("{KEY_PREFIX}:{payment}:void"))
    }

    pub fn refund(refund: RefundId) -> IdempotencyKey {
        IdempotencyKey(format!("{KEY_PREFIX}:{refund}:refund"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Re-reads a key recorded with an attempt. Only the shapes built above are accepted.
    pub fn parse(text: &str) -> Result<IdempotencyKey, String> {
        let bad = || format!("'{}' is not a kassa idempotency key", truncate(text));
        let rest = text
            .strip_prefix(KEY_PREFIX)
            .and_then(|r| r.strip_prefix(':'))
            .ok_or_else(bad)?;
        let (id, operation) = rest.split_once(':').ok_or_else(bad)?;
        let key = match operation {
            "authorize" => IdempotencyKey::authorize(id.parse().map_err(|_| bad())?),
            "capture" => IdempotencyKey::capture(id.parse().map_err(|_| bad())?),
            "void" => IdempotencyKey::void(id.parse().map_err(|_| bad())?),
            "refund" => IdempotencyKey::refund(id.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        Ok(key)
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_derived_from_the_id_and_the_operation() {
        let payment: PaymentId = "pay_0191b7c2000070008000000000000001".parse().unwrap();
        let refund: RefundId = "re_0191b7c2000070008000000000000002".parse().unwrap();
        assert_eq!(
            IdempotencyKey::authorize(payment).as_str(),
            "kassa:pay_0191b7c2000070008000000000000001:authorize"
        );
        assert_eq!(
            IdempotencyKey::capture(payment).as_str(),
            "kassa:pay_0191b7c2000070008000000000000001:capture"
        );
        assert_eq!(
            IdempotencyKey::void(payment).as_str(),
            "kassa:pay_0191b7c2000070008000000000000001:void"
        );
        assert_eq!(
            IdempotencyKey::refund(refund).as_str(),
            "kassa:re_0191b7c2000070008000000000000002:refund"
        );
    }

    #[test]
    fn the_same_payment_always_gives_the_same_keys_and_others_differ() {
        let payment = PaymentId::new();
        let again: PaymentId = payment.to_string().parse().unwrap();
        assert_eq!(
            IdempotencyKey::authorize(payment),
            IdempotencyKey::authorize(again)
        );
        assert_ne!(
            IdempotencyKey::authorize(payment),
            IdempotencyKey::capture(payment)
        );
        assert_ne!(
            IdempotencyKey::authorize(payment),
            IdempotencyKey::authorize(PaymentId::new())
        );
        assert_ne!(
            IdempotencyKey::refund(RefundId::new()),
            IdempotencyKey::refund(RefundId::new())
        );
    }

    #[test]
    fn keys_fit_the_gateway_limit_and_parse_back() {
        let payment = PaymentId::new();
        for key in [
            IdempotencyKey::authorize(payment),
            IdempotencyKey::capture(payment),
            IdempotencyKey::void(payment),
            IdempotencyKey::refund(RefundId::new()),
        ] {
            assert!(key.as_str().len() <= 52, "{key}");
            assert!(key.as_str().len() <= IDEMPOTENCY_KEY_LEN_MAX);
            assert_eq!(IdempotencyKey::parse(key.as_str()), Ok(key.clone()));
        }
    }

    #[test]
    fn foreign_or_mismatched_keys_do_not_parse() {
        let payment = PaymentId::new();
        for bad in [
            String::new(),
            format!("other:{payment}:authorize"),
            format!("kassa:{payment}:charge"),
            format!("kassa:{payment}:refund"),
            format!("kassa:{payment}"),
            "kassa:pay_x:void".to_owned(),
        ] {
            assert!(IdempotencyKey::parse(&bad).is_err(), "{bad}");
        }
    }
}
