//! The wasmtime side: engine, the contract's bindings, store state, limits, and the
//! translation between mluvii wire types and the contract's types.

mod convert_activity;
mod convert_event;
pub mod engine;
pub mod host_state;
mod invoke;
pub mod native;
pub mod output;
pub mod pacing;
pub mod plugin;
pub mod session_facts;
pub mod tenant;
pub mod warm;

#[cfg(test)]
mod convert_tests;

pub use convert_activity::activity_to_wire;
pub use convert_event::event_to_wit;
pub use engine::EngineSettings;
pub use invoke::{BotError, BotRun, Runtime};
pub use native::{NativeBot, NativeEcho};
pub use plugin::{Plugin, PluginError, PluginInfo};
pub use tenant::{Limits, TenantEnv};
pub use warm::InstanceReuse;
