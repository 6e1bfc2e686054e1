//! Cart: what a shopper is about to buy, priced from the catalog every time it is read.
//!
//! Owns the tables `carts` (the cart, its email and shipping address, the chosen shipping option,
//! the SHA-256 of its access token, the customer who owns it if any, and its status), `cart_lines`
//! (one line per SKU), `cart_shipping_options` with `cart_shipping_option_countries` and
//! `cart_shipping_tiers` (staff-configured ways to ship, flat or by weight), `cart_tax_rates`
//! (one tax rate per country) and `cart_checkouts` (which order closed a checked-out cart). It does not own prices, titles or weights: those come from the
//! catalog through [`kassa_catalog::CatalogService::offers`], never from catalog tables, and are
//! not stored in the cart. It does not reserve stock or take payment; checkout (in `orders`) does,
//! from a snapshot of a [`PricedCart`].
//!
//! Read [`model`] first ([`Cart`], [`PricedCart`], [`Address`], [`ShippingOption`],
//! [`CartAccess`]), then the [`CartService`] trait and [`pricing`], whose module documentation
//! states the totals and tax rounding rule. [`Carts`] implements the service over
//! [`store::CartStore`], which holds every SQL statement of the crate.
//!
//! Anonymous carts are opened by an unguessable [`CartToken`] issued at creation, a customer's
//! carts by their customer id ([`CartAccess`]; [`model::access`] states the rule). A missing
//! cart, a wrong token and another customer's cart are the same `cart_not_found`, so ids reveal
//! nothing. At sign-in an anonymous cart merges into the customer's cart
//! ([`CartService::merge_on_sign_in`]). Customers are the identity district's; the cart knows
//! them only by [`kassa_kernel::ids::CustomerId`]. Each cart holds at most
//! [`CartLimits::lines_max`] lines of at most [`kassa_kernel::quantity::QUANTITY_MAX`] units
//! each.

pub mod error;
pub mod migrations;
pub mod model;
pub mod pricing;
pub mod service;
pub mod store;

pub use error::{CartError, PROBLEM_TYPES};
pub use model::*;
pub use service::{CartService, Carts};
