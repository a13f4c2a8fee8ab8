//! Running a project's build command: the language's toolchain checked first, the command run
//! with `sh -c` in the project directory (with `$WASMBOT` naming this binary, for
//! `wasmbot componentize`), and its output file required to exist afterwards.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.manifest.build.command)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        if let Ok(me) = std::env::current_exe() {
            command.env("WASMBOT", me);
        }
        for variable in CARGO_LEAKS {
            command.env_remove(variable);
        }
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
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(OUTPUT_TAIL)..].join("\n");
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
        })
    }
}
