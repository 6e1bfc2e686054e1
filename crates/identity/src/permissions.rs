//! Staff roles and what each may do: one table, [`allows`], which every `/v1/admin` route
//! consults through [`require`].
//!
//! | permission            | owner | manager | support |
//! |-----------------------|-------|---------|---------|
//! | `catalog_read`        | yes   | yes     | yes     |
//! | `catalog_write`       | yes   | yes     | no      |
//! | `staff_manage`        | yes   | no      | no      |
//! | `audit_read`          | yes   | no      | no      |
//! | `orders_read`         | yes   | yes     | yes     |
//! | `orders_write`        | yes   | yes     | no      |
//! | `stock_write`         | yes   | yes     | no      |
//! | `refunds_issue`       | yes   | yes     | capped  |
//! | `settings_write`      | yes   | no      | no      |
//!
//! Support's refunds are capped per currency by [`RefundCap`]; the route that issues a refund
//! checks the amount with [`RefundCap::allows`] after [`require`] has passed.

use std::fmt;
use std::str::FromStr;

use kassa_kernel::ids::StaffId;
use kassa_kernel::{Currency, Money};

use crate::model::Principal;
use crate::IdentityError;

/// A staff member's role. Stored and shown as `owner`, `manager`, `support`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including staff, settings and the audit log. The shop always keeps at least
    /// one active owner.
    Owner,
    /// Runs the shop day to day: catalog, stock, orders, refunds.
    Manager,
    /// Answers customers: reads catalog and orders, issues refunds up to [`RefundCap`].
    Support,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Manager, Role::Support];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Support => "support",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a role; expected owner, manager or support")]
pub struct RoleParseError(String);

impl FromStr for Role {
    type Err = RoleParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| RoleParseError(s.chars().take(20).collect()))
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Something an admin route does. Each route names exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    CatalogRead,
    CatalogWrite,
    /// Create staff, change roles, disable staff.
    StaffManage,
    AuditRead,
    OrdersRead,
    OrdersWrite,
    StockWrite,
    /// Up to [`RefundCap`] for support; unlimited for managers and owners.
    RefundsIssue,
    /// Shop-wide settings: shipping options and tax rates today.
    SettingsWrite,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::CatalogRead,
        Permission::CatalogWrite,
        Permission::StaffManage,
        Permission::AuditRead,
        Permission::OrdersRead,
        Permission::OrdersWrite,
        Permission::StockWrite,
        Permission::RefundsIssue,
        Permission::SettingsWrite,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Permission::CatalogRead => "catalog_read",
            Permission::CatalogWrite => "catalog_write",
            Permission::StaffManage => "staff_manage",
            Permission::AuditRead => "audit_read",
            Permission::OrdersRead => "orders_read",
            Permission::OrdersWrite => "orders_write",
            Permission::StockWrite => "stock_write",
            Permission::RefundsIssue => "refunds_issue",
            Permission::SettingsWrite => "settings_write",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `role` may do `permission`: the whole policy, one row per permission.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    #[rustfmt::skip]
    let (owner, manager, support) = match permission {
        //                    owner  manager support
        CatalogRead       => (true,  true,   true ),
        CatalogWrite      => (true,  true,   false),
        StaffManage       => (true,  false,  false),
        AuditRead         => (true,  false,  false),
        OrdersRead        => (true,  true,   true ),
        OrdersWrite       => (true,  true,   false),
        StockWrite        => (true,  true,   false),
        RefundsIssue      => (true,  true,   true ),
        SettingsWrite     => (true,  false,  false),
    };
    match role {
        Role::Owner => owner,
        Role::Manager => manager,
        Role::Support => support,
    }
}

/// The check every admin route makes: the caller is staff and its current role (read by
/// [`crate::IdentityService::authenticate`], not taken from the token) allows `permission`.
/// A customer's principal is `Forbidden` too: it is authenticated, just not staff.
pub fn require(
    principal: &Principal,
    permission: Permission,
) -> Result<(StaffId, Role), IdentityError> {
    match principal {
        Principal::Staff { id, role, .. } if allows(*role, permission) => Ok((*id, *role)),
        _ => Err(IdentityError::Forbidden { permission }),
    }
}

/// How much support staff may refund in one refund, per currency. Owners and managers are not
/// capped. A currency without a configured cap is capped at zero: support cannot refund in it
/// until an owner configures one, which errs on the side of not moving money.
///
/// The cap is enforced by the orders district's refund route (a later issue); identity only
/// holds the rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundCap {
    /// At most one amount per currency.
    support_max: Vec<Money>,
}

impl RefundCap {
    /// The caps for support, one per currency; a later amount for the same currency replaces
    /// an earlier one. Negative amounts count as zero.
    pub fn new(support_max: impl IntoIterator<Item = Money>) -> RefundCap {
        let mut caps: Vec<Money> = Vec::new();
        for cap in support_max {
            caps.retain(|c| c.currency() != cap.currency());
            caps.push(cap);
        }
        RefundCap { support_max: caps }
    }

    /// The most support may refund at once in `currency`; `None` means zero.
    pub fn support_max(&self, currency: Currency) -> Option<Money> {
        self.support_max
            .iter()
            .find(|cap| cap.currency() == currency)
            .copied()
    }

    /// Whether `role` may refund `amount` in one refund. Assumes `require(…, RefundsIssue)`
    /// passed; a negative amount is never allowed.
    pub fn allows(&self, role: Role, amount: Money) -> bool {
        if amount.is_negative() || !allows(role, Permission::RefundsIssue) {
            return false;
        }
        match role {
            Role::Owner | Role::Manager => true,
            Role::Support => self
                .support_max(amount.currency())
                .is_some_and(|cap| amount.amount_minor() <= cap.amount_minor()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kassa_kernel::ids::{CustomerId, SessionId};
    use Permission::*;

    fn allowed(role: Role) -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| allows(role, *p))
            .collect()
    }

    #[test]
    fn support_reads_catalog_and_orders_and_issues_refunds_only() {
        assert_eq!(
            allowed(Role::Support),
            [CatalogRead, OrdersRead, RefundsIssue]
        );
    }

    #[test]
    fn manager_may_do_everything_except_staff_audit_and_settings() {
        assert_eq!(
            allowed(Role::Manager),
            [
                CatalogRead,
                CatalogWrite,
                OrdersRead,
                OrdersWrite,
                StockWrite,
                RefundsIssue,
            ]
        );
    }

    #[test]
    fn owner_may_do_everything() {
        assert_eq!(allowed(Role::Owner), Permission::ALL);
    }

    #[test]
    fn the_table_row_by_row() {
        let rows = [
            (CatalogRead, [true, true, true]),
            (CatalogWrite, [true, true, false]),
            (StaffManage, [true, false, false]),
            (AuditRead, [true, false, false]),
            (OrdersRead, [true, true, true]),
            (OrdersWrite, [true, true, false]),
            (StockWrite, [true, true, false]),
            (RefundsIssue, [true, true, true]),
            (SettingsWrite, [true, false, false]),
        ];
        assert_eq!(rows.len(), Permission::ALL.len());
        for (permission, expected) in rows {
            for (role, want) in Role::ALL.into_iter().zip(expected) {
                assert_eq!(allows(role, permission), want, "{role} {permission}");
            }
        }
    }

    #[test]
    fn require_passes_the_current_role_and_refuses_customers() {
        let staff = StaffId::new();
        let support = Principal::Staff {
            id: staff,
            role: Role::Support,
            session: SessionId::new(),
        };
        assert_eq!(
            require(&support, OrdersRead).unwrap(),
            (staff, Role::Support)
        );
        let err = require(&support, StockWrite).unwrap_err();
        assert!(matches!(
            err,
            IdentityError::Forbidden {
                permission: StockWrite
            }
        ));
        let customer = Principal::Customer {
            id: CustomerId::new(),
            session: SessionId::new(),
        };
        assert!(require(&customer, CatalogRead).is_err());
    }

    #[test]
    fn support_refunds_are_capped_per_currency_at_the_cap_and_one_past() {
        let cap = RefundCap::new([
            Money::new(100, Currency::Eur),
            Money::new(5_000, Currency::Eur),
            Money::new(3_000, Currency::Jpy),
        ]);
        assert_eq!(
            cap.support_max(Currency::Eur),
            Some(Money::new(5_000, Currency::Eur))
        );
        assert!(cap.allows(Role::Support, Money::new(5_000, Currency::Eur)));
        assert!(!cap.allows(Role::Support, Money::new(5_001, Currency::Eur)));
        assert!(cap.allows(Role::Support, Money::new(3_000, Currency::Jpy)));
        assert!(!cap.allows(Role::Support, Money::new(1, Currency::Usd)));
        assert!(!cap.allows(Role::Support, Money::new(-1, Currency::Eur)));
        assert!(cap.allows(Role::Manager, Money::new(1_000_000, Currency::Usd)));
        assert!(cap.allows(Role::Owner, Money::new(1_000_000, Currency::Eur)));
    }

    #[test]
    fn roles_round_trip_as_text_and_json() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        assert!("Owner".parse::<Role>().is_err());
        assert!(serde_json::from_str::<Role>("\"admin\"").is_err());
    }
}
