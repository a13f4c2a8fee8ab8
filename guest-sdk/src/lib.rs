//! Write mluvii chatbots for [wasmbot](https://github.com/) in Rust.
//!
//! A bot is a type implementing [`Bot`], exported with [`export_bot!`], built for the
//! `wasm32-wasip2` target. wasmbot calls it once per mluvii event of a session, on a fresh
//! instance, and sends the [`Activity`] values it returns to mluvii in order. What must outlive
//! one event goes into [`state`]; the tenant's settings are read with [`config`].
//!
//! A complete bot that greets, remembers the guest's name per session and hands off to a
//! human when asked:
//!
//! ```no_run
//! use wasmbot_sdk::{Activity, Bot, CardAction, Conversation, Event, Result, config, export_bot};
//!
//! struct Greeter;
//!
//! impl Bot for Greeter {
//!     fn handle(conversation: &Conversation, event: Event) -> Result<Vec<Activity>> {
//!         match event {
//!             Event::ConversationStarted(_) => {
//!                 let greeting = config::get_or("greeting", "Hello! What is your name?");
//!                 Ok(vec![Activity::text(greeting)])
//!             }
//!             Event::Text(message) if message.text == "human" => {
//!                 Ok(vec![Activity::text("Connecting you to a colleague."), Activity::hand_off()])
//!             }
//!             Event::Text(message) => {
//!                 let session = conversation.session();
//!                 let known: Option<String> = session.get("name")?;
//!                 let reply = match known {
//!                     Some(name) => format!("You said <em>{}</em>, {name}.", message.text),
//!                     None => {
//!                         session.set("name", &message.text)?;
//!                         format!("Nice to meet you, {}!", message.text)
//!                     }
//!                 };
//!                 Ok(vec![Activity::buttons(reply, [CardAction::im_back("Talk to a human", "human")])])
//!             }
//!             _ => Ok(vec![]),
//!         }
//!     }
//! }
//!
//! export_bot!(Greeter);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` (crate type `cdylib`) and
//! check it with `wasmbot check target/wasm32-wasip2/release/greeter.wasm`.

#![deny(missing_docs)]

// The generated bindings name their runtime by this crate's path, also inside this crate.
extern crate self as wasmbot_sdk;

mod builders;
pub mod config;
mod conversation;
mod error;
pub mod log;
pub mod state;

#[doc(hidden)]
pub mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        world: "bot",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_wit",
        default_bindings_module: "::wasmbot_sdk::bindings",
        runtime_path: "::wasmbot_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use bindings::wasmbot::bot::types::*;
pub use conversation::Conversation;
pub use error::{Error, Result};

/// A bot: handles one event of a session and returns the activities to send.
pub trait Bot {
    /// Handles `event` in `conversation`. An error is reported by the host (logged and
    /// counted) and nothing is sent for this event.
    fn handle(conversation: &Conversation, event: Event) -> Result<Vec<Activity>>;
}

/// Runs a [`Bot`] for the generated export; used by [`export_bot!`].
#[doc(hidden)]
pub fn __handle<B: Bot>(
    context: Context,
    event: Event,
) -> core::result::Result<Vec<Activity>, String> {
    B::handle(&Conversation::new(context), event).map_err(|e| e.to_string())
}

/// Exports a type implementing [`Bot`] as the component's handler. Use it once per bot crate.
#[macro_export]
macro_rules! export_bot {
    ($bot:ty) => {
        #[doc(hidden)]
        pub struct __WasmbotExport;

        impl $crate::bindings::exports::wasmbot::bot::handler::Guest for __WasmbotExport {
            fn handle(
                context: $crate::Context,
                event: $crate::Event,
            ) -> ::core::result::Result<::std::vec::Vec<$crate::Activity>, ::std::string::String> {
                $crate::__handle::<$bot>(context, event)
            }
        }

        $crate::bindings::__export_wit!(__WasmbotExport with_types_in $crate::bindings);
    };
}
