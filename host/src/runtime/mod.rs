//! The wasmtime side: engine, store state, limits, and running a plugin on the contract's
//! event and context. It knows nothing of mluvii: the dispatcher's step converts at the edge.

pub mod engine;
pub mod host_state;
mod invoke;
pub mod native;
pub mod output;
pub mod pacing;
pub mod plugin;
pub mod tenant;
pub mod warm;

pub use engine::EngineSettings;
pub use invoke::{BotError, BotRun, Runtime};
pub use native::{NativeBot, NativeEcho};
pub use plugin::{Plugin, PluginError, PluginInfo};
pub use tenant::{Limits, TenantEnv};
pub use warm::InstanceReuse;
