//! The data directory's lock: a second server on a directory in use would dispatch the same
//! journal, so it is refused at start. The lock is the operating system's (`flock`), so it is
//! gone when the process dies, however it dies.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use anyhow::{Context as _, bail};

/// The lock file in the data directory.
pub const LOCK_FILE: &str = "wasmbot.lock";

/// Locks `data_dir` for this process until the returned file is dropped.
pub fn lock_dir(data_dir: &Path) -> anyhow::Result<File> {
    let path = data_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => bail!(
            "the data directory {} is in use by another wasmbot process (it holds the lock on {}); \
             stop it, or give this one its own server.data_dir (several replicas share a \
             PostgreSQL database instead: [storage] backend = \"postgres\")",
            data_dir.display(),
            path.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// Whether another process holds the lock on `data_dir` now (the lock file is only read).
pub fn is_locked(data_dir: &Path) -> bool {
    let Ok(file) = File::open(data_dir.join(LOCK_FILE)) else {
        return false;
    };
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_dir(dir.path()).unwrap();
        let err = lock_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains(LOCK_FILE) && err.contains("in use"), "{err}");
        assert!(is_locked(dir.path()));
        drop(first);
        assert!(!is_locked(dir.path()));
        lock_dir(dir.path()).unwrap();
    }
}
