//! The contract: the one place the WIT contract becomes Rust (`wasmtime::component::bindgen!`
//! for world `wasmbot:bot/bot@0.1.0`). Capabilities implement its imports; the runtime calls
//! its export.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "bot",
    path: "../wit",
    // State calls wait for the storage thread; as async imports they suspend the bot's fiber
    // instead of blocking a thread.
    imports: {
        "wasmbot:bot/state.get": async,
        "wasmbot:bot/state.set": async,
        "wasmbot:bot/state.delete": async,
    },
    // Bots run on async tasks (the deadline can then stop a bot waiting in a host call).
    exports: { default: async },
});

pub use self::exports::wasmbot::bot::handler;
pub use self::wasmbot::bot::types;

/// The contract's package and version, as `wasmbot check` prints it.
pub const WORLD: &str = "wasmbot:bot/bot@0.1.0";
/// The export every plugin must provide.
pub const HANDLER_EXPORT: &str = "wasmbot:bot/handler@0.1.0";

/// The [`HasData`](wasmtime::component::HasData) marker of the `types` interface, which has
/// no functions and so needs no host data.
struct TypesOnly;

impl wasmtime::component::HasData for TypesOnly {
    type Data<'a> = ();
}

impl types::Host for () {}

/// Defines the `types` interface (types only) in `linker`, which components importing it
/// need to find.
pub fn add_types_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, TypesOnly>(linker, |_| ())
}
