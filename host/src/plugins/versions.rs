//! The last few known-good versions of each tenant's plugin, kept under the data directory
//! (`plugins/{tenant}/{hash}.wasm` and `versions.json`, newest last), for listing and
//! rollback.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::cache::write_atomically;
use crate::runtime::plugin::content_hash;

/// One known-good version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// SHA-256 of the component, hex.
    pub hash: String,
    /// Size of the component.
    pub size_bytes: usize,
    /// When it was last loaded (ms since the Unix epoch).
    pub loaded_at_ms: i64,
    /// Where it came from (`file`, `upload`, `rollback`).
    pub source: String,
}

/// Versions kept per tenant.
#[derive(Debug, Clone)]
pub struct VersionStore {
    dir: PathBuf,
    keep: usize,
}

impl VersionStore {
    /// Versions under `dir`, at most `keep` per tenant (at least one).
    pub fn new(dir: &Path, keep: usize) -> Self {
        Self {
            dir: dir.to_owned(),
            keep: keep.max(1),
        }
    }

    fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.dir.join(tenant)
    }

    fn index(&self, tenant: &str) -> PathBuf {
        self.tenant_dir(tenant).join("versions.json")
    }

    fn component(&self, tenant: &str, hash: &str) -> PathBuf {
        self.tenant_dir(tenant).join(format!("{hash}.wasm"))
    }

    /// The tenant's known-good versions, oldest first (the last is the newest loaded).
    pub fn list(&self, tenant: &str) -> Vec<VersionRecord> {
        std::fs::read(self.index(tenant))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save(&self, tenant: &str, versions: &[VersionRecord]) -> anyhow::Result<()> {
        write_atomically(&self.index(tenant), &serde_json::to_vec_pretty(versions)?)
    }

    /// Records that `bytes` loaded and now serve `tenant`: kept as its newest version, the
    /// oldest beyond the limit forgotten.
    pub fn record(&self, tenant: &str, record: VersionRecord, bytes: &[u8]) -> anyhow::Result<()> {
        let dir = self.tenant_dir(tenant);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = self.component(tenant, &record.hash);
        if !file.exists() {
            write_atomically(&file, bytes)?;
        }
        let mut versions = self.list(tenant);
        versions.retain(|v| v.hash != record.hash);
        versions.push(record);
        while versions.len() > self.keep {
            let old = versions.remove(0);
            let _ = std::fs::remove_file(self.component(tenant, &old.hash));
        }
        self.save(tenant, &versions)
    }

    /// The newest version other than `current`.
    pub fn previous(&self, tenant: &str, current: &str) -> Option<VersionRecord> {
        self.list(tenant)
            .into_iter()
            .rev()
            .find(|v| v.hash != current)
    }

    /// The component of a kept version, checked against its hash.
    pub fn bytes(&self, tenant: &str, hash: &str) -> anyhow::Result<Vec<u8>> {
        let path = self.component(tenant, hash);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if content_hash(&bytes) != hash {
            anyhow::bail!("{} does not match its hash", path.display());
        }
        Ok(bytes)
    }

    /// Forgets a version (rolled back from: it is no longer known to be good).
    pub fn forget(&self, tenant: &str, hash: &str) -> anyhow::Result<()> {
        let mut versions = self.list(tenant);
        versions.retain(|v| v.hash != hash);
        self.save(tenant, &versions)?;
        let _ = std::fs::remove_file(self.component(tenant, hash));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bytes: &[u8], at: i64) -> VersionRecord {
        VersionRecord {
            hash: content_hash(bytes),
            size_bytes: bytes.len(),
            loaded_at_ms: at,
            source: "file".into(),
        }
    }

    #[test]
    fn keeps_the_newest_few_and_finds_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = VersionStore::new(dir.path(), 2);
        for (i, bytes) in [b"one", b"two", b"six"].iter().enumerate() {
            store
                .record("acme", record(*bytes, i as i64), *bytes)
                .unwrap();
        }
        let hashes: Vec<_> = store.list("acme").into_iter().map(|v| v.hash).collect();
        assert_eq!(hashes, [content_hash(b"two"), content_hash(b"six")]);
        assert!(
            store.bytes("acme", &content_hash(b"one")).is_err(),
            "trimmed"
        );
        let previous = store.previous("acme", &content_hash(b"six")).unwrap();
        assert_eq!(store.bytes("acme", &previous.hash).unwrap(), b"two");
        // Loading a kept version again makes it the newest.
        store.record("acme", record(b"two", 9), b"two").unwrap();
        assert_eq!(
            store.previous("acme", &content_hash(b"two")).unwrap().hash,
            content_hash(b"six")
        );
        store.forget("acme", &content_hash(b"two")).unwrap();
        assert_eq!(store.list("acme").len(), 1);
        assert!(store.list("other").is_empty());
    }

    #[test]
    fn a_tampered_component_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = VersionStore::new(dir.path(), 3);
        store.record("acme", record(b"one", 1), b"one").unwrap();
        std::fs::write(
            dir.path()
                .join("acme")
                .join(format!("{}.wasm", content_hash(b"one"))),
            b"evil",
        )
        .unwrap();
        let err = store.bytes("acme", &content_hash(b"one")).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }
}
