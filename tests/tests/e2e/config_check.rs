//! `wasmbot config check FILE` on the real binary: the repository's example passes, and each
//! broken file fails with a message naming its key (or variable, or file).

use std::path::Path;
use std::process::Output;

use wasmbot_tests::postgres::PgServer;
use wasmbot_tests::{plugins, wasmbot_bin};

const SECRETS: [(&str, &str); 2] = [
    ("ACME_WEBHOOK_TOKEN", "webhook-token"),
    ("ACME_MLUVII_SECRET", "client-secret"),
];

fn check(file: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(wasmbot_bin());
    command
        .args(["config", "check"])
        .arg(file)
        .env_remove("WASMBOT_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The example with `replace` applied (each `(from, to)` once), written beside a copy of the
/// echo bot where the example expects it.
fn variant(dir: &Path, replace: &[(&str, &str)]) -> std::path::PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wasmbot.example.toml");
    let mut text = std::fs::read_to_string(example).unwrap();
    text = text.replace(
        "plugins/target/wasm32-wasip2/release/echo.wasm",
        &plugins::ECHO.replace('\\', "/"),
    );
    for (from, to) in replace {
        assert!(text.contains(from), "the example has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let path = dir.join("wasmbot.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_repositorys_example_passes() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wasmbot.example.toml");
    // Its plugin path is the echo bot's build output, relative to the repository.
    assert!(Path::new(plugins::ECHO).ends_with("plugins/target/wasm32-wasip2/release/echo.wasm"));
    let output = check(&example, &SECRETS);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("ok     tenant acme plugin"), "{said}");
    assert!(said.contains("ok     storage: SQLite"), "{said}");
}

/// Replacements in the example, the environment, and what the refusal must name.
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn each_broken_file_is_refused_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_component = dir.path().join("broken.wasm");
    std::fs::write(&not_a_component, b"not a component").unwrap();
    let broken_plugin = format!("plugin = {:?}", not_a_component.to_str().unwrap());
    let cases: Vec<Case> = vec![
        (
            vec![("watch_plugins = true", "watch_plugin = true")],
            &SECRETS,
            "watch_plugin",
        ),
        (
            vec![("max_memory_mib = 64", "max_memory_mib = 100000")],
            &SECRETS,
            "limits.max_memory_mib",
        ),
        (
            vec![("max_concurrent_runs = 8", "max_concurrent_runs = 0")],
            &SECRETS,
            "limits.max_concurrent_runs",
        ),
        (vec![], &SECRETS[..1], "ACME_MLUVII_SECRET"),
        (
            vec![("mode = \"handoff\"", "mode = \"apologise\"")],
            &SECRETS,
            "mode = \"apologise\"",
        ),
        (
            vec![(
                "\ndurability = \"fsync\"",
                "\nlease_ms = 2000\ndurability = \"fsync\"",
            )],
            &SECRETS,
            "storage.lease_ms",
        ),
        (
            vec![("plugin = ", "plugin_was = \"x\"\nplugin = ")],
            &SECRETS,
            "plugin_was",
        ),
        (
            vec![(
                "base_url = \"https://app.mluvii.com\"",
                "base_url = \"http://mluvii.example.com\"",
            )],
            &SECRETS,
            "mluvii.base_url",
        ),
        (
            vec![("# admin_token_env = ", "admin_token_env = ")],
            &SECRETS,
            "WASMBOT_ADMIN_TOKEN",
        ),
        (
            vec![(
                "# admin_listen = \"127.0.0.1:9090\"",
                "admin_listen = \"127.0.0.1:8080\"",
            )],
            &SECRETS,
            "server.admin_listen",
        ),
    ];
    for (replace, env, named) in cases {
        let file = variant(dir.path(), &replace);
        let output = check(&file, env);
        let said = text(&output);
        assert_eq!(output.status.code(), Some(1), "{replace:?}: {said}");
        assert!(
            said.contains(named),
            "{replace:?} should name {named}: {said}"
        );
    }
    // A plugin that does not load is named, with the file.
    let plugin_line = format!("plugin = {:?}", plugins::ECHO.replace('\\', "/"));
    let file = variant(dir.path(), &[]);
    let text_of_file = std::fs::read_to_string(&file)
        .unwrap()
        .replace(&plugin_line, &broken_plugin);
    std::fs::write(&file, text_of_file).unwrap();
    let output = check(&file, &SECRETS);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains("error  tenant acme plugin") && said.contains("broken.wasm"),
        "{said}"
    );
}

#[test]
fn storage_is_probed_without_being_changed() {
    let pg = PgServer::shared();
    let url = pg.new_database();
    let dir = tempfile::tempdir().unwrap();
    let file = variant(
        dir.path(),
        &[
            ("backend = \"sqlite\"", "backend = \"postgres\""),
            ("\ndurability = \"fsync\"", "\nurl_env = \"DATABASE_URL\""),
        ],
    );
    let mut env = SECRETS.to_vec();
    env.push(("DATABASE_URL", &url));
    let output = check(&file, &env);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("ok     storage: PostgreSQL"), "{said}");
    // A database nobody answers at is named by its key.
    let unreachable = url.replace(&pg.url(""), "postgres://wasmbot@127.0.0.1:1/");
    env.pop();
    env.push(("DATABASE_URL", &unreachable));
    let output = check(&file, &env);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("error  storage: storage.url"), "{said}");
}
