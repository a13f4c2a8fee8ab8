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
