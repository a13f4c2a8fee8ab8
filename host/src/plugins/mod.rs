//! The plugin registry: tenants and their current plugins, loaded through one path at
//! start-up, on a file change, on an admin upload or rollback, and on a configuration reload;
//! the compiled-artifact cache; the known-good versions kept for rollback; the file watcher;
//! versions published through one replica taken by the others.

pub mod cache;
mod candidates;
mod fleet;
pub mod loader;
pub mod profile;
mod registry;
pub mod versions;
mod watcher;

pub use candidates::CandidateError;
pub use registry::{
    Registry, RegistryOptions, ReloadReport, SwapError, SwapOutcome, resolve_admin_token,
};
