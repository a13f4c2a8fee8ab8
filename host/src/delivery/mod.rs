//! From an accepted webhook to mluvii: per-session ordering, fair scheduling of bot runs, and
//! the Send API client.

pub mod dispatcher;
pub mod mluvii_client;

pub use dispatcher::{Dispatcher, Tenant};
pub use mluvii_client::{MluviiClient, MluviiEndpoint, RetryPolicy};
