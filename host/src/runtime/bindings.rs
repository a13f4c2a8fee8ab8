//! The one place the WIT contract becomes Rust: `wasmtime::component::bindgen!` for world
//! `wasmbot:bot/bot@0.1.0`.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "bot",
    path: "../wit",
});

pub use self::exports::wasmbot::bot::handler;
pub use self::wasmbot::bot::types;

/// The contract's package and version, as `wasmbot check` prints it.
pub const WORLD: &str = "wasmbot:bot/bot@0.1.0";
/// The export every plugin must provide.
pub const HANDLER_EXPORT: &str = "wasmbot:bot/handler@0.1.0";
