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

/// A `wasmbot dev` process, killed (with its builds) on drop.
struct DevProcess {
    child: std::process::Child,
    /// The chat page's URL.
    chat_url: String,
}

impl DevProcess {
    /// `wasmbot dev` on free loopback ports in `dir`, once it says where its chat page is.
    fn start(dir: &std::path::Path) -> Self {
        use std::io::{BufRead as _, BufReader};
        use std::os::unix::process::CommandExt as _;
        let mut child = std::process::Command::new(wasmbot_tests::wasmbot_bin())
            .args([
                "dev",
                "--listen",
                "127.0.0.1:0",
                "--simulator-listen",
                "127.0.0.1:0",
            ])
            .current_dir(dir)
            .env("WASMBOT_CACHE_DIR", wasmbot_tests::test_cache_dir())
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting wasmbot dev");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Chat with the bots: ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let chat_url = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("wasmbot dev did not print its chat page's URL");
        Self { child, chat_url }
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmbot_dev_in_a_new_js_project_rebuilds_the_bot_when_its_source_is_saved() {
    if !browser_available() {
        return;
    }
    if wasmbot_tests::lang_skipped("js") {
        eprintln!("NOT tested: WASMBOT_SKIP_LANGS lists js");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let made = std::process::Command::new(wasmbot_tests::wasmbot_bin())
        .args(["new", "dev-js", "--lang", "js"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let project = dir.path().join("dev-js");
    let dev = DevProcess::start(&project);
    let browser = Browser::start().await;
    browser.open(&dev.chat_url).await;
    browser
        .wait_until(
            "return [...document.querySelectorAll('#bot option')].some(o => o.textContent.includes('dev-js'))",
            "the project's bot in the bot list",
        )
        .await;
    browser.click("#open").await;
    browser
        .wait_until(
            "return [...document.querySelectorAll('.card .title')].some(t => t.textContent === 'Hello! I am dev-js. Write anything and I will repeat it.')",
            "the greeting from bot.toml's settings",
        )
        .await;
    let type_and_send = |text: &str| {
        format!(
            "const i = document.getElementById('input'); i.value = {text:?}; document.getElementById('form').requestSubmit(); return true"
        )
    };
    browser.eval(&type_and_send("hi")).await;
    browser
        .wait_until(
            "return [...document.querySelectorAll('.bubble.bot')].some(b => b.textContent === 'You said: hi')",
            "the template's echo",
        )
        .await;
    // Save an edit, as an editor would: the bot is rebuilt with the project's build command.
    let source = project.join("src/app.js");
    let code = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, code.replace("You said: ", "You wrote: ")).unwrap();
    browser
        .wait_until(
            "return [...document.querySelectorAll('.notice.update')].some(n => n.textContent.startsWith('Bot dev-js updated'))",
            "the update notice",
        )
        .await;
    browser.eval(&type_and_send("hi again")).await;
    browser
        .wait_until(
            "return [...document.querySelectorAll('.bubble.bot')].some(b => b.textContent === 'You wrote: hi again')",
            "the rebuilt bot's answer",
        )
        .await;
}
