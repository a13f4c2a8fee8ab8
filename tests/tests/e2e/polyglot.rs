//! The support bot in every language passes the same conversation script, so all of them
//! produce the same Send API bodies for the same events. Each bot is built by
//! `scripts/build-bots` (once per run; unchanged sources are not rebuilt). A missing
//! toolchain fails its test with the command that installs it, unless the language is listed
//! in `WASMBOT_SKIP_LANGS` (comma-separated), which says so in the output.

use std::path::PathBuf;
use std::process::Command;

use wasmbot_tests::{lang_skipped, wasmbot_bin};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the support bot in `lang`, returning its component's path.
fn build(lang: &str) -> PathBuf {
    let out = Command::new(repo().join("scripts/build-bots"))
        .arg(lang)
        .env("WASMBOT_BIN", wasmbot_bin())
        .output()
        .expect("running scripts/build-bots");
    assert!(
        out.status.success(),
        "building the {lang} support bot failed (or set WASMBOT_SKIP_LANGS={lang} to turn it off):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    repo().join(format!("plugins/target/bots/support-{lang}.wasm"))
}

/// Builds the bot in `lang` and runs the shared support script against it.
fn passes_the_support_script(lang: &str) {
    if lang_skipped(lang) {
        eprintln!("the {lang} support bot is NOT tested: WASMBOT_SKIP_LANGS lists {lang}");
        return;
    }
    let bot = build(lang);
    let out = Command::new(wasmbot_bin())
        .arg("test")
        .arg(&bot)
        .arg(repo().join("plugins/scripts/support.json"))
        .env("WASMBOT_CACHE_DIR", wasmbot_tests::test_cache_dir())
        .output()
        .expect("running wasmbot test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the {lang} support bot differs from the script:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("20 of 20 steps passed"), "{stdout}");
}

#[test]
fn rust() {
    passes_the_support_script("rust");
}

#[test]
fn javascript_quickjs() {
    passes_the_support_script("js");
}

#[test]
fn javascript_spidermonkey() {
    passes_the_support_script("js-spidermonkey");
}

#[test]
fn python() {
    passes_the_support_script("python");
}

#[test]
fn c() {
    passes_the_support_script("c");
}

#[test]
fn go() {
    passes_the_support_script("go");
}
