//! The end-to-end tests, in one test binary (one link of the host instead of one per file).

mod bench_tool;
mod bot_failures;
mod cancelled_webhooks;
mod chat_page_browser;
mod crash_recovery;
mod delivery_faults;
mod echo_bot;
mod every_plugin_is_tested;
mod hostile_bots;
mod hot_swap;
mod ingress_limits;
mod misbehaving_bots;
mod outbound_http;
mod overload;
mod polyglot;
mod refused_plugins;
mod replica_plugins;
mod replicas;
mod scripted_tests;
mod serve_binary;
mod server_e2e;
mod simulator_fixtures;
mod storage_suite;
mod support_bot;
mod warm_instances;
