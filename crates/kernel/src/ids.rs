//! Typed ids: a time-ordered UUID (v7) shown with a short type prefix, e.g. `prod_0191b7c2…`.
//!
//! The prefix makes ids self-describing in logs and API responses and stops one kind of id being
//! passed where another is expected, both at compile time (distinct types) and at parse time
//! (`cart_…` does not parse as a `ProductId`). The stored form is the same prefixed text.

use std::fmt;

/// Why a string is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind} id (expected {prefix}_ followed by 32 hex digits)")]
pub struct IdParseError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

/// Parses `<prefix>_<32 lowercase hex>` into a UUID.
pub fn parse_prefixed(
    s: &str,
    prefix: &'static str,
    kind: &'static str,
) -> Result<uuid::Uuid, IdParseError> {
    let err = || IdParseError {
        kind,
        prefix,
        value: s.chars().take(80).collect(),
    };
    let rest = s
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(err)?;
    if rest.len() != 32
        || !rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(err());
    }
    uuid::Uuid::try_parse(rest).map_err(|_| err())
}

/// Writes `<prefix>_<32 lowercase hex>`.
pub fn fmt_prefixed(f: &mut fmt::Formatter<'_>, prefix: &str, id: &uuid::Uuid) -> fmt::Result {
    write!(f, "{prefix}_{}", id.simple())
}

/// What [`typed_id!`] expands to refers to these, so a crate using the macro needs neither
/// `serde` nor `uuid` as its own dependency.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use uuid;
}

/// Declares a typed id with its prefix: `Display`/`FromStr`/serde as the prefixed string.
#[macro_export]
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($crate::ids::__private::uuid::Uuid);

        impl $name {
            /// The prefix shown before the UUID.
            pub const PREFIX: &'static str = $prefix;

            /// A new time-ordered id.
            pub fn new() -> Self {
                Self($crate::ids::__private::uuid::Uuid::now_v7())
            }

            pub fn from_uuid(uuid: $crate::ids::__private::uuid::Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> &$crate::ids::__private::uuid::Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                $crate::ids::fmt_prefixed(f, $prefix, &self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ids::IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::ids::parse_prefixed(s, $prefix, stringify!($name)).map(Self)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::ids::IdParseError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl $crate::ids::__private::serde::Serialize for $name {
            fn serialize<S: $crate::ids::__private::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> $crate::ids::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::ids::__private::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as $crate::ids::__private::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err($crate::ids::__private::serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// A product: what a shopper browses; it has one or more variants.
    ProductId, "prod"
);
typed_id!(
    /// A variant: one sellable SKU of a product.
    VariantId, "var"
);
typed_id!(
    /// A category products can belong to.
    CategoryId, "cat"
);
typed_id!(
    /// A cart.
    CartId, "cart"
);
typed_id!(
    /// A line of a cart.
    CartLineId, "line"
);
typed_id!(
    /// A shipping option configured by staff.
    ShippingOptionId, "ship"
);

typed_id!(
    /// A customer account.
    CustomerId, "cus"
);
typed_id!(
    /// A staff account.
    StaffId, "staff"
);
typed_id!(
    /// A session: one sign-in and the family of refresh tokens that continue it.
    SessionId, "sess"
);
typed_id!(
    /// One refresh token of a session.
    RefreshTokenId, "rt"
);
typed_id!(
    /// One entry of the staff audit log.
    AuditEntryId, "aud"
);
typed_id!(
    /// An order, made from a cart at checkout.
    OrderId, "ord"
);
typed_id!(
    /// One shipment of some or all of an order's lines.
    FulfilmentId, "ful"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_id_displays_with_its_prefix_and_parses_back() {
        let id = ProductId::new();
        let text = id.to_string();
        assert!(text.starts_with("prod_"));
        assert_eq!(text.len(), 5 + 32);
        assert_eq!(text.parse::<ProductId>(), Ok(id));
    }

    #[test]
    fn an_id_of_another_kind_does_not_parse() {
        let cart = CartId::new().to_string();
        assert!(cart.parse::<ProductId>().is_err());
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "prod",
            "prod_",
            "prod_xyz",
            "prod_0191B7C2000070008000000000000000",
            "prod_0191b7c200007000800000000000000",
            "prod_0191b7c2-0000-7000-8000-000000000000",
            " prod_0191b7c2000070008000000000000000",
        ] {
            assert!(bad.parse::<ProductId>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn ids_are_time_ordered_as_text() {
        let a = CartId::new().to_string();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = CartId::new().to_string();
        assert!(a < b);
    }

    #[test]
    fn serde_uses_the_prefixed_form_and_revalidates() {
        let id = VariantId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<VariantId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<VariantId>("\"var_nothex\"").is_err());
    }

    proptest! {
        #[test]
        fn any_uuid_round_trips_through_text(bytes in any::<[u8; 16]>()) {
            let id = CartLineId::from_uuid(uuid::Uuid::from_bytes(bytes));
            prop_assert_eq!(id.to_string().parse::<CartLineId>(), Ok(id));
        }
    }
}
