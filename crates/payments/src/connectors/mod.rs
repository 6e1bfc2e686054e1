//! Gateway connectors, one module per gateway (STYLE §7). Each implements
//! [`crate::gateway::PaymentGateway`]; a connector for a real gateway adds a `wire.rs` for the
//! gateway's request and response structs.

pub mod sandbox;
pub mod stripe;
