//! Running a project's build command: the language's toolchain checked first, the command run
//! with `sh -c` in the project directory (with `$WASMBOT` naming this binary, for
//! `wasmbot componentize`), and its output file required to exist afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::Project;
use super::toolchain;

/// Lines of the build's output kept with a failure.
const OUTPUT_TAIL: usize = 60;

/// Settings of an outer cargo build that must not leak into a bot's build.
const CARGO_LEAKS: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
];

/// The files at a project's top whose change makes the component out of date.
pub const BUILD_SETUP: &[&str] = &[
    "bot.toml",
    "Cargo.toml",
    "Cargo.lock",
    ".cargo/config.toml",
    "package.json",
    "package-lock.json",
    "requirements.txt",
    "build.sh",
    "go.mod",
    "go.sum",
    "Makefile",
];

/// Removes from `command`'s environment the outer cargo build's settings ([`CARGO_LEAKS`]).
pub fn without_cargo_leaks(command: &mut Command) -> &mut Command {
    for variable in CARGO_LEAKS {
        command.env_remove(variable);
    }
    command
}

/// The last `count` lines of `text`.
pub fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Where the build's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildOutput {
    /// To this process's stdout and stderr, as it comes (`wasmbot build`).
    Shown,
    /// Kept, and its end returned with a failure (`wasmbot dev`, `wasmbot test`).
    Captured,
}

/// A finished build.
#[derive(Debug)]
pub struct Built {
    /// The component.
    pub component: PathBuf,
    /// How long the command took.
    pub took: Duration,
    /// Whether the command ran (it does not when the component is newer than every source).
    pub ran: bool,
}

impl Project {
    /// Runs the build command and returns the component, or why there is none (the missing
    /// toolchain and its install command, or the end of the build's output).
    pub fn build(&self, output: BuildOutput) -> Result<Built, String> {
        if let Some(missing) = toolchain::missing(self.manifest.bot.language) {
            return Err(missing);
        }
        let component = self.output();
        let started = Instant::now();
        if self.up_to_date() {
            return Ok(Built {
                component,
                took: started.elapsed(),
                ran: false,
            });
        }
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.manifest.build.command)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        if let Ok(me) = std::env::current_exe() {
            command.env("WASMBOT", me);
        }
        without_cargo_leaks(&mut command);
        let (status, log) = match output {
            BuildOutput::Shown => {
                let status = command
                    .status()
                    .map_err(|e| format!("running sh for the build command: {e}"))?;
                (status, String::new())
            }
            BuildOutput::Captured => {
                let out = command
                    .output()
                    .map_err(|e| format!("running sh for the build command: {e}"))?;
                let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
                log += &String::from_utf8_lossy(&out.stderr);
                (out.status, log)
            }
        };
        if !status.success() {
            let tail = last_lines(&log, OUTPUT_TAIL);
            let mut message = format!(
                "the build command `{}` failed ({status})",
                self.manifest.build.command
            );
            if !tail.is_empty() {
                message = format!("{message}:\n{tail}");
            }
            return Err(message);
        }
        if !component.is_file() {
            return Err(format!(
                "the build command succeeded but wrote no {} ([build] output in bot.toml)",
                component.display()
            ));
        }
        Ok(Built {
            component,
            took: started.elapsed(),
            ran: true,
        })
    }

    /// Whether the component is newer than every source: the watched paths, `sdk/`, and the
    /// build set-up files at the project's top ([`BUILD_SETUP`]).
    fn up_to_date(&self) -> bool {
        let Ok(built) = std::fs::metadata(self.output()).and_then(|m| m.modified()) else {
            return false;
        };
        let mut roots = self.watched();
        roots.push(self.dir.join("sdk"));
        roots.extend(BUILD_SETUP.iter().map(|file| self.dir.join(file)));
        roots
            .iter()
            .all(|root| newest_change(root).is_none_or(|changed| changed <= built))
    }
}

/// The newest modification time of `path` or any file under it.
fn newest_change(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let own = meta.modified().ok();
    if !meta.is_dir() {
        return own;
    }
    std::fs::read_dir(path)
        .ok()?
        .flatten()
        .filter_map(|entry| newest_change(&entry.path()))
        .chain(own)
        .max()
}
