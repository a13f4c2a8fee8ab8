//! Any bytes as a webhook body: parsing never panics, and an event it accepts converts to the
//! bot's types and back to JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmbot::mluvii::{Webhook, parse_webhook};
use wasmbot::dispatch::step::event_to_wit;

fuzz_target!(|body: &[u8]| {
    if let Ok(Webhook::Event(event)) = parse_webhook(body) {
        let _ = event_to_wit(&event.activity);
        let _ = event.to_json();
    }
});
