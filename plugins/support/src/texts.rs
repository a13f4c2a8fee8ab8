//! What the support bot says.

pub const DEFAULT_TOPICS: &[&str] = &["Sales", "Complaint", "Other"];
pub const GREETING: &str = "Hello! I am the support assistant. What can we help you with?";
pub const NOT_UNDERSTOOD: &str = "Sorry, I did not understand. Please choose one of:";
pub const CHECKING: &str = "One moment, I am checking who is available…";
pub const STILL_CHECKING: &str = "I am still checking who is available, one moment please.";
pub const HANDING_OFF: &str = "Connecting you to our team for";
pub const ALREADY_HANDED_OFF: &str = "You are being connected to a colleague, please wait.";
pub const OFFLINE_ASK_EMAIL: &str = "Nobody from the team is available right now. Leave us your e-mail address and a message, and we will get back to you. What is your e-mail address?";
pub const BAD_EMAIL: &str =
    "That does not look like an e-mail address. Please write it like name@example.com.";
pub const ASK_MESSAGE: &str = "Thank you. What would you like to tell us?";
pub const THANKS: &str = "Thank you! We have passed your message on and will reply to";
pub const OFFLINE_LOCATION: &str = "wasmbot support bot";
