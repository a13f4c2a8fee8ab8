//! What the host offers a bot through its imports, one module per WIT interface. Each has the
//! same shape: the host-side service (shared by all instances), and the `Host` trait impl that
//! the runtime links for every instance.

pub mod config;
pub mod http;
pub mod log;
pub mod state;
