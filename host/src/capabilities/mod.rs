//! What the host offers a bot through its imports, one module per WIT interface, each with the
//! same shape: the capability's own context type (per instance, built from the tenant's
//! configuration), its `Host` implementation, a `HasData` marker and an `add_to_linker` that
//! links the interface on its own. The runtime's store data only composes these contexts, so
//! dependencies point one way (runtime → capabilities → contract) and each capability can be
//! tested alone.

pub mod config;
pub mod http;
pub mod log;
pub mod state;
