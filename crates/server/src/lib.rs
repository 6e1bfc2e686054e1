//! The one kassa binary's library half: settings, wiring and the `serve`, `migrate`, `seed`
//! and `staff create` commands. `main.rs` only parses the command line and calls in here, so
//! the API tests build exactly the application `kassa serve` runs.
//!
//! Read [`Application::build`] to see every district wired together explicitly: no globals, no
//! service locator.

pub mod app;
pub mod ops;
pub mod seed;
pub mod settings;
pub mod staff;
pub mod telemetry;

pub use app::{Application, Districts, Hooks, InventoryWrapper};
pub use settings::Settings;
