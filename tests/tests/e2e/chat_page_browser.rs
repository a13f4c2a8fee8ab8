//! The simulator's chat page in a real headless Chromium: open a chat with the support bot,
//! click a button, see the bot's reply and the hand-off notice.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the
//! test says so and passes, unless WASMBOT_REQUIRE_BROWSER=1 (set by CI), when it fails.

use std::time::Duration;

use wasmbot_tests::plugins;
use wasmbot_tests::server::{Harness, TestTenant};
use wasmbot_tests::webdriver::{self, Browser};

/// Whether the browser tests can run; without Chromium they say so and pass, unless CI
/// requires them (WASMBOT_REQUIRE_BROWSER=1).
fn browser_available() -> bool {
    if !webdriver::available() {
        assert!(
            std::env::var("WASMBOT_REQUIRE_BROWSER").is_err(),
            "WASMBOT_REQUIRE_BROWSER is set but {} or {} is missing",
            webdriver::CHROMIUM,
            webdriver::CHROMEDRIVER
        );
        eprintln!("skipped: install chromium and chromium-driver to run the browser test");
        return false;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_swapped_through_the_watcher_is_announced_and_its_panic_shows_in_the_log_panel() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("bot.wasm");
    std::fs::copy(plugins::ECHO, &plugin).unwrap();
    let bot = TestTenant {
        id: "bot",
        plugin: plugin.to_str().unwrap(),
        settings: "{}",
    };
    let h = Harness::start(&[bot], Duration::from_secs(3600)).await;
    let browser = Browser::start().await;
    browser.open(&format!("{}/", h.sim_url)).await;
    browser
        .wait_until(
            "return document.querySelectorAll('#bot option').length === 1 && !document.getElementById('devpanel').hidden",
            "the bot list and the log panel",
        )
        .await;
    browser.click("#open").await;
    browser
        .wait_until(
            "return [...document.querySelectorAll('.bubble.bot')].some(b => b.textContent.startsWith('Hello! I am the echo bot'))",
            "the echo bot's greeting",
        )
        .await;
    // Swap in another bot the way an editor or a build does: a new file renamed into place.
    let partial = dir.path().join("bot.wasm.partial");
    std::fs::copy(plugins::MISBEHAVING, &partial).unwrap();
    std::fs::rename(&partial, &plugin).unwrap();
    browser
        .wait_until(
            "return [...document.querySelectorAll('.notice.update')].some(n => n.textContent.startsWith('Bot bot updated'))",
            "the update notice",
        )
        .await;
    let type_and_send = |text: &str| {
        format!(
            "const i = document.getElementById('input'); i.value = {text:?}; document.getElementById('form').requestSubmit(); return true"
        )
    };
    browser.eval(&type_and_send("hello")).await;
    browser
        .wait_until(
            "return [...document.querySelectorAll('.bubble.bot')].some(b => b.textContent === 'ok: hello')",
            "the new version's reply",
        )
        .await;
    browser.eval(&type_and_send("panic")).await;
    browser
        .wait_until(
            "return [...document.querySelectorAll('#devlog details.failed')].some(d => d.textContent.includes('the misbehaving bot panicked on purpose'))",
            "the panic message in the log panel",
        )
        .await;
    // The panel also shows the raw Send API JSON of the reply.
    let json_shown = browser
        .eval("return [...document.querySelectorAll('#devlog pre.json')].some(p => p.textContent.includes('\"text\": \"ok: hello\"'))")
        .await;
    assert_eq!(json_shown, true, "the Send API body of the reply");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("chat-page-dev-panel.png");
    browser.screenshot(&shot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_clicks_a_button_and_is_handed_off() {
    if !browser_available() {
        return;
    }
    let echo = TestTenant {
        id: "echo",
        plugin: plugins::ECHO,
        settings: "{}",
    };
    let support = TestTenant {
        id: "support",
        plugin: plugins::SUPPORT,
        settings: "{}",
    };
    let h = Harness::start(&[echo, support], Duration::from_secs(3600)).await;
    let browser = Browser::start().await;
    browser.open(&format!("{}/", h.sim_url)).await;
    browser
        .wait_until(
            "return document.querySelectorAll('#bot option').length === 2",
            "the bot list",
        )
        .await;
    browser
        .eval("document.getElementById('bot').value = '101'; return true")
        .await;
    browser.click("#open").await;
    browser
        .wait_until(
            "return [...document.querySelectorAll('.card button')].some(b => b.textContent === 'Sales')",
            "the greeting's topic buttons",
        )
        .await;
    let greeting = browser
        .eval("return document.querySelector('.card .title').textContent")
        .await;
    assert_eq!(
        greeting,
        "Hello! I am the support assistant. What can we help you with?"
    );
    browser.click(".card button").await;
    browser
        .wait_until(
            "return [...document.querySelectorAll('.bubble.bot')].some(b => b.textContent === 'Connecting you to our team for Sales.')",
            "the bot's reply",
        )
        .await;
    browser
        .wait_until(
            "return document.querySelector('.notice.handoff') !== null",
            "the hand-off notice",
        )
        .await;
    let guest = browser
        .eval("return document.querySelector('.bubble.guest').textContent")
        .await;
    assert_eq!(guest, "Sales");
    let input_disabled = browser
        .eval("return document.getElementById('input').disabled")
        .await;
    assert_eq!(
        input_disabled, true,
        "the guest's input is closed after the hand-off"
    );
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("chat-page-handoff.png");
    browser.screenshot(&shot).await;
    // What reached the Send API is what the page showed.
    let session = browser
        .eval("return Number(document.getElementById('status').textContent.split(' ')[1])")
        .await;
    let bodies = h.sim.session_bodies(session.as_i64().unwrap());
    assert_eq!(bodies.last().unwrap()["activity"], "HandOff");

    // The offline branch: groups offline, a new chat, a topic, an address and a message.
    browser
        .eval("const g = document.getElementById('groups'); g.value = 'OFFLINE'; g.dispatchEvent(new Event('change')); return true")
        .await;
    browser
        .wait_until(
            "return document.getElementById('status').textContent.includes('offline')",
            "the groups switch",
        )
        .await;
    browser.click("#open").await;
    browser
        .wait_until(
            "return document.querySelectorAll('.card button').length === 3",
            "a new greeting",
        )
        .await;
    browser
        .eval("document.querySelectorAll('.card button')[1].click(); return true")
        .await;
    let type_and_send = |text: &str| {
        format!(
            "const i = document.getElementById('input'); i.value = {text:?}; document.getElementById('form').requestSubmit(); return true"
        )
    };
    browser
        .wait_until(
            "return document.body.innerText.includes('What is your e-mail address?')",
            "the e-mail question",
        )
        .await;
    browser.eval(&type_and_send("jan.novak@example.com")).await;
    browser
        .wait_until(
            "return document.body.innerText.includes('What would you like to tell us?')",
            "the message question",
        )
        .await;
    browser.eval(&type_and_send("Please call me back.")).await;
    browser
        .wait_until(
            "return [...document.querySelectorAll('.notice.email')].some(n => n.textContent.includes('Support request: Complaint'))",
            "the offline e-mail notice",
        )
        .await;
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("chat-page-offline.png");
    browser.screenshot(&shot).await;
    drop(browser);
    h.stop().await;
}
