//! The `wasmbot` binary.

fn main() -> std::process::ExitCode {
    wasmbot::cli::main()
}
