//! `wasmbot completions SHELL` and `wasmbot man` on the real binary: made from the command
//! line's definition, they name every command.

use wasmbot_tests::wasmbot_bin;

fn output(args: &[&str]) -> String {
    let output = std::process::Command::new(wasmbot_bin())
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

const COMMANDS: [&str; 12] = [
    "new",
    "build",
    "sdk",
    "serve",
    "dev",
    "check",
    "run",
    "test",
    "bench",
    "dead-letters",
    "config",
    "componentize",
];

#[test]
fn completion_scripts_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let script = output(&["completions", shell]);
        for command in COMMANDS {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    assert!(output(&["completions", "bash"]).contains("complete -F _wasmbot"));
}

#[test]
fn the_man_page_is_roff_with_a_section_per_command() {
    let page = output(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH wasmbot"),
        "{page}"
    );
    for command in COMMANDS {
        let heading = format!(".SH \"WASMBOT {}\"", command.to_uppercase());
        assert!(page.contains(&heading), "no {heading}");
    }
}
