//! Who may use which cart: the caller's proof ([`CartAccess`]), what is stored beside each cart
//! to decide it ([`CartOwnership`], [`CartStatus`]), and the one function that decides it
//! (`CartAccess::admits`). Every cart call that names a cart goes through that function, and
//! every refusal is the same [`crate::CartError::CartNotFound`] a missing cart gives (404, never
//! 403), so a caller cannot tell another shopper's cart from no cart at all.
//!
//! The rule:
//!
//! - `Customer(id)` opens exactly the carts whose owner is `id`.
//! - `Token(t)` opens only an anonymous cart (no owner) whose token is `t`. Once a cart belongs
//!   to a customer, its anonymous token no longer opens it; the customer's session does.
//! - Only an `open` cart takes writes. A `set_aside` cart (replaced by a newer cart of its owner,
//!   or checked out: `CartService::complete_checkout`) can still be read by whoever held it —
//!   its customer, or for an anonymous cart its token — so it is kept aside rather than lost. A `merged` cart (an
//!   anonymous cart whose lines went into a customer's cart at sign-in) opens for nobody.
//!
//! Other districts with owned resources (orders) follow the same shape: an access enum, the
//! stored owner beside the row, one `admits` function, and one not-found error for every
//! mismatch.

use std::fmt;

use kassa_kernel::ids::CustomerId;

use super::token::TokenHash;

/// How a caller proves it may use a cart. See the [module documentation](self) for the rule.
#[derive(Clone, PartialEq, Eq)]
pub enum CartAccess {
    /// The token issued when the cart was created, as the shopper sent it. Opens anonymous
    /// carts only.
    Token(String),
    /// A signed-in customer, as the identity district authenticated them. Opens that customer's
    /// carts only.
    Customer(CustomerId),
}

impl fmt::Debug for CartAccess {
    /// A token is a secret and is never printed; a customer id is not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CartAccess::Token(_) => f.write_str("Token(<redacted>)"),
            CartAccess::Customer(id) => write!(f, "Customer({id})"),
        }
    }
}

/// Where a cart is in its life. Stored as TEXT with a CHECK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartStatus {
    /// In use: the shopper adds lines, chooses shipping, checks out. A customer has at most one.
    Open,
    /// An anonymous cart merged into a customer's cart at sign-in; no longer used.
    Merged,
    /// A customer's cart replaced by a newer open cart (a new cart, or an anonymous cart in
    /// another currency at sign-in). Its owner can still read it; it takes no writes.
    SetAside,
}

impl CartStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            CartStatus::Open => "open",
            CartStatus::Merged => "merged",
            CartStatus::SetAside => "set_aside",
        }
    }

    /// The status of a stored value; `None` for anything the CHECK constraint would refuse.
    pub fn from_stored(text: &str) -> Option<CartStatus> {
        match text {
            "open" => Some(CartStatus::Open),
            "merged" => Some(CartStatus::Merged),
            "set_aside" => Some(CartStatus::SetAside),
            _ => None,
        }
    }
}

/// What a call wants to do with a cart: reading is allowed on more carts than writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartUse {
    /// Reading the cart or listing what applies to it (its shipping options).
    Read,
    /// Anything that changes the cart or its lines, including the checks a write makes before
    /// its transaction starts.
    Write,
}

/// What the store keeps beside a cart to decide who may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartOwnership {
    /// The customer the cart belongs to; `None` for an anonymous cart.
    pub owner: Option<CustomerId>,
    pub status: CartStatus,
    /// SHA-256 of the token issued at creation. It opens the cart only while `owner` is `None`.
    pub(crate) token_hash: TokenHash,
}

impl CartAccess {
    /// Whether this caller may `use` a cart with `ownership`. The whole access rule of the cart
    /// district is here, and nowhere else:
    ///
    /// - the caller must hold the cart: `Customer(id)` holds it when its owner is `id`;
    ///   `Token(t)` when it has no owner and its stored token hash is SHA-256(`t`) (a token of
    ///   the wrong length holds nothing);
    /// - and the cart must be usable that way: an `open` cart for reading and writing, a
    ///   `set_aside` cart for reading only, a `merged` cart not at all.
    ///
    /// `false` must become [`crate::CartError::CartNotFound`], exactly like a missing cart. The
    /// token comparison runs in constant time and whether or not the cart has an owner, so
    /// timing does not tell owned carts from anonymous ones either.
    pub(crate) fn admits(&self, ownership: &CartOwnership, cart_use: CartUse) -> bool {
        let holds = match self {
            CartAccess::Customer(customer) => ownership.owner == Some(*customer),
            CartAccess::Token(token) => {
                let matches = TokenHash::of_given(token)
                    .is_some_and(|given| ownership.token_hash.matches(&given));
                // `&`, not `&&`: the hash is compared whatever the owner.
                matches & ownership.owner.is_none()
            }
        };
        let usable = match ownership.status {
            CartStatus::Open => true,
            CartStatus::SetAside => cart_use == CartUse::Read,
            CartStatus::Merged => false,
        };
        holds && usable
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::CartToken;

    fn ownership(
        owner: Option<CustomerId>,
        status: CartStatus,
        token: &CartToken,
    ) -> CartOwnership {
        CartOwnership {
            owner,
            status,
            token_hash: token.hash(),
        }
    }

    #[test]
    fn a_token_opens_only_its_own_anonymous_open_cart() {
        let token = CartToken::generate().unwrap();
        let access = CartAccess::Token(token.expose().to_owned());
        let other = CartAccess::Token(CartToken::generate().unwrap().expose().to_owned());
        let anonymous = ownership(None, CartStatus::Open, &token);
        assert!(access.admits(&anonymous, CartUse::Read));
        assert!(access.admits(&anonymous, CartUse::Write));
        assert!(!other.admits(&anonymous, CartUse::Read));
        assert!(!CartAccess::Token(String::new()).admits(&anonymous, CartUse::Read));
        assert!(!CartAccess::Token("x".repeat(10_000)).admits(&anonymous, CartUse::Read));

        let owned = ownership(Some(CustomerId::new()), CartStatus::Open, &token);
        assert!(!access.admits(&owned, CartUse::Read));
        let merged = ownership(None, CartStatus::Merged, &token);
        assert!(!access.admits(&merged, CartUse::Read));
    }

    #[test]
    fn a_token_still_reads_its_checked_out_anonymous_cart_but_cannot_write_it() {
        let token = CartToken::generate().unwrap();
        let access = CartAccess::Token(token.expose().to_owned());
        let checked_out = ownership(None, CartStatus::SetAside, &token);
        assert!(access.admits(&checked_out, CartUse::Read));
        assert!(!access.admits(&checked_out, CartUse::Write));
        let other = CartAccess::Token(CartToken::generate().unwrap().expose().to_owned());
        assert!(!other.admits(&checked_out, CartUse::Read));
    }

    #[test]
    fn a_customer_opens_only_their_own_carts_and_reads_but_does_not_write_set_aside_ones() {
        let token = CartToken::generate().unwrap();
        let ada = CustomerId::new();
        let access = CartAccess::Customer(ada);
        let cases = [
            (Some(ada), CartStatus::Open, true, true),
            (Some(ada), CartStatus::SetAside, true, false),
            (Some(ada), CartStatus::Merged, false, false),
            (Some(CustomerId::new()), CartStatus::Open, false, false),
            (Some(CustomerId::new()), CartStatus::SetAside, false, false),
            (None, CartStatus::Open, false, false),
        ];
        for (owner, status, read, write) in cases {
            let cart = ownership(owner, status, &token);
            assert_eq!(access.admits(&cart, CartUse::Read), read, "{cart:?}");
            assert_eq!(access.admits(&cart, CartUse::Write), write, "{cart:?}");
        }
    }

    #[test]
    fn statuses_round_trip_through_their_stored_form() {
        for status in [CartStatus::Open, CartStatus::Merged, CartStatus::SetAside] {
            assert_eq!(CartStatus::from_stored(status.as_str()), Some(status));
        }
        assert_eq!(CartStatus::from_stored("OPEN"), None);
    }

    #[test]
    fn debug_hides_a_token_but_shows_a_customer() {
        let token = CartToken::generate().unwrap();
        let debug = format!("{:?}", CartAccess::Token(token.expose().to_owned()));
        assert!(!debug.contains(token.expose()), "{debug}");
        let customer = CustomerId::new();
        assert_eq!(
            format!("{:?}", CartAccess::Customer(customer)),
            format!("Customer({customer})")
        );
    }
}
