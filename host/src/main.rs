//! The `wasmbot` binary.

/// mimalloc instead of glibc's malloc: the event path allocates and frees small buffers on
/// several threads, where it measured faster (BENCHMARKS.md, "The event path end to end").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wasmbot::cli::main()
}
