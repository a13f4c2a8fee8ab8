//! A process's CPU time and memory, for `wasmbot bench` (this process) and the tests (a
//! server they started).

use std::time::Duration;

/// User plus system CPU time this process has used.
pub fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete `rusage` into the pointer it is given.
    #[allow(unsafe_code)]
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The peak resident set size so far (`VmHWM`), in bytes; 0 where `/proc` is missing.
pub fn peak_rss_bytes() -> u64 {
    status_bytes("self", "VmHWM:")
}

/// The peak resident set size so far of process `pid`, in bytes; 0 where it is not readable.
pub fn peak_rss_bytes_of(pid: u32) -> u64 {
    status_bytes(&pid.to_string(), "VmHWM:")
}

/// The resident set size now (`VmRSS`), in bytes; 0 where `/proc` is missing.
pub fn rss_bytes() -> u64 {
    status_bytes("self", "VmRSS:")
}

/// A `kB` line of `/proc/{process}/status`, in bytes.
fn status_bytes(process: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// User plus system CPU time used so far by this process's threads named `name` (as far as
/// `/proc/self/task` shows them).
pub fn thread_cpu_time(name: &str) -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten();
    ticks_to_time(
        tasks
            .map(|task| task.path())
            .map(|dir| ticks_of(&dir, name))
            .sum(),
    )
}

/// User plus system CPU time used so far by every process named `name` (e.g. the PostgreSQL
/// server's processes), as far as `/proc` shows them.
pub fn cpu_time_of(name: &str) -> Duration {
    let processes = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    ticks_to_time(processes.map(|entry| ticks_of(&entry.path(), name)).sum())
}

/// The user plus system clock ticks of the process or thread at `dir` (`/proc/PID` or
/// `/proc/self/task/TID`) when its name is `name`; else 0.
fn ticks_of(dir: &std::path::Path, name: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
        return 0;
    };
    let Some((head, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    if head.split_once('(').map(|(_, comm)| comm) != Some(name) {
        return 0;
    }
    // After the name: state is field 3, utime 14 and stime 15 of the whole line.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

fn ticks_to_time(ticks: u64) -> Duration {
    // SAFETY: sysconf only reads a configuration value.
    #[allow(unsafe_code)]
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / per_second)
}
