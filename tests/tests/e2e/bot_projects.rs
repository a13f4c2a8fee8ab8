//! Bot projects outside the repository, as a bot author makes them: `wasmbot new` in an empty
//! temporary directory for each of the five languages, then `wasmbot build` and `wasmbot test`
//! there, with the toolchains of `scripts/build-bots --install-only`. A language listed in
//! `WASMBOT_SKIP_LANGS` is skipped, saying so (as in `polyglot.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wasmbot_tests::{lang_skipped, plugins, wasmbot_bin};

/// `wasmbot ARGS` in `dir`.
fn wasmbot(dir: &Path, args: &[&str]) -> Output {
    Command::new(wasmbot_bin())
        .args(args)
        .current_dir(dir)
        .env("WASMBOT_CACHE_DIR", wasmbot_tests::test_cache_dir())
        .output()
        .expect("running wasmbot")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `wasmbot new NAME --lang LANG` in a fresh temporary directory: (the directory, the project).
fn new_project(name: &str, lang: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = wasmbot(dir.path(), &["new", name, "--lang", lang]);
    assert!(out.status.success(), "wasmbot new: {}", text(&out));
    let project = dir.path().join(name);
    assert!(project.join("bot.toml").is_file());
    (dir, project)
}

/// The (name, version) of every package in the project's `Cargo.lock`, sorted; empty
/// without one.
fn locked_versions(project: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(project.join("Cargo.lock")) else {
        return Vec::new();
    };
    let lock: toml::Table = toml::from_str(&text).unwrap();
    let mut versions: Vec<(String, String)> = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    versions.sort();
    versions
}

/// A project in `lang` is made, builds, and passes its own script; its README's commands work.
fn new_build_test(lang: &str) {
    if lang_skipped(lang) {
        eprintln!("the {lang} template is NOT tested: WASMBOT_SKIP_LANGS lists {lang}");
        return;
    }
    let name = format!("hello-{lang}");
    let (_dir, project) = new_project(&name, lang);
    let lock = locked_versions(&project);
    let built = wasmbot(&project, &["build"]);
    let shown = text(&built);
    assert!(
        built.status.success(),
        "wasmbot build of the {lang} template failed:\n{shown}"
    );
    assert!(shown.contains("world:   wasmbot:bot/bot@0.1.0"), "{shown}");
    assert!(shown.contains(" bytes"), "{shown}");
    // A Rust project's lock file, as `new` wrote it, pins every crate the build needs (cargo
    // may reorder it by the project's name, and changes no version).
    assert_eq!(
        locked_versions(&project),
        lock,
        "the build changed the template's Cargo.lock"
    );
    let tested = wasmbot(&project, &["test"]);
    let shown = text(&tested);
    assert!(
        tested.status.success(),
        "wasmbot test of the {lang} template failed:\n{shown}"
    );
    assert!(shown.contains("3 of 3 steps passed"), "{shown}");
    // Nothing changed since: the build command does not run again.
    let again = wasmbot(&project, &["build"]);
    let shown = text(&again);
    assert!(again.status.success(), "{shown}");
    assert!(shown.contains("is up to date"), "{shown}");
}

#[test]
fn rust() {
    new_build_test("rust");
}

#[test]
fn javascript() {
    new_build_test("js");
}

#[test]
fn python() {
    new_build_test("python");
}

#[test]
fn c() {
    new_build_test("c");
}

#[test]
fn go() {
    new_build_test("go");
}

#[test]
fn a_changed_template_fails_its_test_with_the_path_of_the_difference_and_a_junit_report() {
    if lang_skipped("c") {
        eprintln!("NOT tested: WASMBOT_SKIP_LANGS lists c");
        return;
    }
    let (_dir, project) = new_project("changed", "c");
    let source = project.join("src/app.c");
    let code = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, code.replace("You said: %s", "You wrote: %s")).unwrap();
    let report = project.join("report.xml");
    let out = wasmbot(&project, &["test", "--junit", report.to_str().unwrap()]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains(r#"activity [0].text: expected "You said: hello", got "You wrote: hello""#),
        "{shown}"
    );
    assert!(shown.contains("2 of 3 steps passed"), "{shown}");
    let xml = std::fs::read_to_string(&report).unwrap();
    let suites = junit::parse(&xml);
    assert_eq!(suites.len(), 1, "{xml}");
    let suite = &suites[0];
    assert_eq!(suite.name, "tests/conversation.json");
    assert_eq!((suite.tests, suite.failures), (3, 1), "{xml}");
    assert_eq!(suite.cases.len(), 3);
    let failed: Vec<_> = suite.cases.iter().filter(|c| c.failure.is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].name.contains(r#"Text "hello""#),
        "{:?}",
        failed[0]
    );
    assert!(
        failed[0]
            .failure
            .as_deref()
            .unwrap()
            .contains("activity [0].text"),
        "{:?}",
        failed[0]
    );
}

#[test]
fn a_script_answers_the_bots_backend_calls_checked_against_the_allowlist() {
    // A project whose "build" copies a bot that GETs the URLs it is sent ("fetch URL…") and
    // answers "STATUS BODY" per request.
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    std::fs::write(
        project.join("bot.toml"),
        format!(
            r#"[bot]
name = "caller"
language = "rust"
[build]
command = "cp {} bot.wasm"
output = "bot.wasm"
[http]
allowed_hosts = ["https://api.example.com"]
"#,
            plugins::MISBEHAVING
        ),
    )
    .unwrap();
    std::fs::create_dir(project.join("tests")).unwrap();
    std::fs::write(
        project.join("tests/backend.json"),
        r#"{
  "http": [{"url": "https://api.example.com/health", "body": "up"}],
  "steps": [
    {
      "send": {"activity": "Text", "text": "fetch https://api.example.com/orders/7"},
      "http": [{"method": "GET", "url": "https://api.example.com/orders/7", "status": 200,
                "headers": {"content-type": "application/json"}, "body": {"state": "shipped"}}],
      "expect": [{"text": "200 {\"state\":\"shipped\"}"}]
    },
    {
      "send": {"activity": "Text", "text": "fetch https://api.example.com/health"},
      "expect": [{"text": "200 up"}]
    },
    {
      "send": {"activity": "Text", "text": "fetch https://api.example.com/orders/8"}
    },
    {
      "send": {"activity": "Text", "text": "fetch https://other.example.com/x"}
    }
  ]
}
"#,
    )
    .unwrap();
    let out = wasmbot(project, &["test"]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("2 of 4 steps passed"), "{shown}");
    assert!(
        shown.contains("ok     1  Text \"fetch https://api.example.com/orders/7\""),
        "{shown}"
    );
    assert!(
        shown.contains("outbound request GET https://api.example.com/orders/8 is unexpected"),
        "{shown}"
    );
    assert!(
        shown.contains("outbound request GET https://other.example.com/x was refused: https://other.example.com:443 is not on the tenant's allowlist"),
        "{shown}"
    );
}

/// Just enough of a JUnit XML reader to check the report with a real XML parser.
mod junit {
    use quick_xml::events::{BytesStart, Event};
    use quick_xml::{Reader, XmlVersion};

    #[derive(Debug, Default)]
    pub struct Suite {
        pub name: String,
        pub tests: usize,
        pub failures: usize,
        pub cases: Vec<Case>,
    }

    #[derive(Debug, Default)]
    pub struct Case {
        pub name: String,
        pub failure: Option<String>,
    }

    fn attribute(element: &BytesStart<'_>, name: &str) -> String {
        element
            .try_get_attribute(name)
            .unwrap()
            .unwrap_or_else(|| panic!("<{:?}> has no {name}", element.name()))
            .normalized_value(XmlVersion::Explicit1_0)
            .unwrap()
            .into_owned()
    }

    /// The `testsuite`s of `xml` (a failure as its `message`); panics when it is not
    /// well-formed JUnit.
    pub fn parse(xml: &str) -> Vec<Suite> {
        let mut reader = Reader::from_str(xml);
        let mut suites: Vec<Suite> = Vec::new();
        let mut root_seen = false;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) if e.name().0 == "testsuites" => {
                    root_seen = true;
                }
                Event::Start(e) if e.name().0 == "testsuite" => suites.push(Suite {
                    name: attribute(&e, "name"),
                    tests: attribute(&e, "tests").parse().unwrap(),
                    failures: attribute(&e, "failures").parse().unwrap(),
                    cases: Vec::new(),
                }),
                Event::Start(e) | Event::Empty(e) if e.name().0 == "testcase" => {
                    attribute(&e, "time").parse::<f64>().unwrap();
                    let suite = suites.last_mut().expect("a testcase outside a testsuite");
                    suite.cases.push(Case {
                        name: attribute(&e, "name"),
                        failure: None,
                    });
                }
                Event::Start(e) if e.name().0 == "failure" => {
                    let case = suites.last_mut().unwrap().cases.last_mut().unwrap();
                    case.failure = Some(attribute(&e, "message"));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(root_seen, "no <testsuites>");
        suites
    }
}

#[test]
fn a_missing_toolchain_is_named_with_its_install_command() {
    for (lang, named) in [
        (
            "js",
            "npm (Node.js) is not on PATH; install it with: apt-get install nodejs npm",
        ),
        (
            "c",
            "clang-19 is not on PATH; install it with: apt-get install clang-19",
        ),
        (
            "python",
            "python3 is not on PATH; install it with: apt-get install python3 python3-venv",
        ),
    ] {
        let (_dir, project) = new_project(&format!("bare-{lang}"), lang);
        let empty = tempfile::tempdir().unwrap();
        let out = Command::new(wasmbot_bin())
            .arg("build")
            .current_dir(&project)
            .env("PATH", empty.path())
            .output()
            .unwrap();
        let shown = text(&out);
        assert!(!out.status.success(), "{shown}");
        assert!(shown.contains(named), "{lang}: {shown}");
    }
}

#[test]
fn a_build_that_makes_a_component_of_another_world_is_refused_naming_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bot.toml"),
        format!(
            "[bot]\nname = \"wrong\"\nlanguage = \"other\"\n[build]\ncommand = \"cp {} out.wasm\"\noutput = \"out.wasm\"\n",
            plugins::WRONG_WORLD
        ),
    )
    .unwrap();
    let out = wasmbot(dir.path(), &["build"]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("out.wasm is not a bot wasmbot can run"),
        "{shown}"
    );
    assert!(shown.contains("refused"), "{shown}");
    // A build command that fails shows its output and status.
    std::fs::write(
        dir.path().join("bot.toml"),
        "[bot]\nname = \"failing\"\nlanguage = \"other\"\n[build]\ncommand = \"echo compiler says no >&2; exit 3\"\noutput = \"out.wasm\"\n",
    )
    .unwrap();
    let out = wasmbot(dir.path(), &["test"]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("failed (exit status: 3)"), "{shown}");
    assert!(shown.contains("compiler says no"), "{shown}");
}
