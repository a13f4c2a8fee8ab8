//! wasmbot: runs mluvii chatbot logic as sandboxed WebAssembly components.
//!
//! The path of one event: a webhook body is parsed by [`mluvii::parse_webhook`], turned into
//! the contract's event by [`dispatch::step::run_event`], run through the tenant's
//! [`runtime::Plugin`] by [`runtime::Runtime::handle`], and the bot's activities come back as
//! [`mluvii::SendActivity`] bodies for mluvii's Send API.

#![deny(missing_docs)]

pub mod bench;
pub mod capabilities;
pub mod cli;
pub mod componentize;
pub mod config;
pub mod contract;
pub mod delivery;
pub mod dev;
pub mod dispatch;
pub mod metrics;
pub mod mluvii;
pub mod plugins;
pub mod project;
pub mod runtime;
pub mod script;
pub mod server;
pub mod simulator;
pub mod storage;
pub mod telemetry;

#[cfg(test)]
mod config_example_tests;
#[cfg(test)]
mod layering_tests;
