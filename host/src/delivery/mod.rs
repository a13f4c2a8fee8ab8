//! Talking to mluvii: the Send API client with its token and pacing, and the retry policy.

pub mod mluvii_client;
pub mod retry;

pub use mluvii_client::{Attempt, MluviiClient, MluviiEndpoint};
pub use retry::RetryPolicy;
