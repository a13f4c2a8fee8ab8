//! The compiled-artifact cache: a component's machine code on disk, keyed by the component's
//! content hash and the engine's settings and version, so a restart or a swap back to a known
//! version does not compile again.
//!
//! Each entry is `WBC1`, the SHA-256 of the payload, then the payload (wasmtime's serialized
//! component). An entry whose checksum does not match, or that wasmtime refuses (another
//! version or settings), is ignored, deleted and rebuilt; nothing in it is trusted before the
//! checksum matches.

use std::hash::Hash as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 4] = b"WBC1";
const HEADER: usize = 4 + 32;

/// A [`std::hash::Hasher`] feeding SHA-256, so that a key made from `Hash` values is the same
/// from one Rust release to the next (`DefaultHasher` promises no such thing).
struct StableHasher(Sha256);

impl std::hash::Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
    }
}

/// What the cached code depends on: the engine's settings and target, and this release.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = StableHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    format!("{:x}", hasher.0.finalize())[..32].to_owned()
}

/// Compiled components on disk.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    /// A cache in `dir` (created if missing) for code compiled by `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            engine_key: engine_key(engine),
        })
    }

    /// Where the entry for the component with `content_hash` lives.
    pub fn path_for(&self, content_hash: &str) -> PathBuf {
        self.dir
            .join(format!("{content_hash}-{}.cwasm", self.engine_key))
    }

    /// The cached component with `content_hash`, if a sound entry exists. A corrupt or
    /// incompatible entry is deleted (and reported) so that the caller compiles afresh.
    pub fn get(&self, engine: &Engine, content_hash: &str) -> Option<Component> {
        let path = self.path_for(content_hash);
        let bytes = std::fs::read(&path).ok()?;
        match checked_payload(&bytes).and_then(|payload| deserialize(engine, payload)) {
            Ok(component) => Some(component),
            Err(reason) => {
                tracing::warn!(entry = %path.display(), %reason, "ignoring a compiled-artifact cache entry; compiling afresh");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `component` (compiled from the bytes with `content_hash`); written to a
    /// temporary file and renamed, so a reader never sees half an entry.
    pub fn put(&self, content_hash: &str, component: &Component) -> anyhow::Result<()> {
        let payload = component.serialize().map_err(anyhow::Error::from)?;
        let mut entry = Vec::with_capacity(HEADER + payload.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&Sha256::digest(&payload));
        entry.extend_from_slice(&payload);
        let path = self.path_for(content_hash);
        write_atomically(&path, &entry)
    }
}

/// The payload of an entry whose header and checksum are sound.
fn checked_payload(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return Err("not a wasmbot cache entry (bad header)".into());
    }
    let payload = &bytes[HEADER..];
    if Sha256::digest(payload).as_slice() != &bytes[4..HEADER] {
        return Err("checksum mismatch (corrupt entry)".into());
    }
    Ok(payload)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, payload: &[u8]) -> Result<Component, String> {
    // SAFETY: wasmtime requires the bytes to come from `Component::serialize` of a trusted
    // engine. The entry lives in the server's own data directory, was written by `put` from
    // `serialize`, and its SHA-256 checksum has just been verified, so it is that output
    // unaltered; wasmtime itself checks that its version and settings match this engine.
    unsafe { Component::deserialize(engine, payload) }.map_err(|e| format!("{e:#}"))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .map_err(|e| anyhow::anyhow!("replacing {}: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_entry_is_refused_before_wasmtime_sees_it() {
        let mut entry = Vec::new();
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&Sha256::digest(b"payload"));
        entry.extend_from_slice(b"payload");
        assert_eq!(checked_payload(&entry), Ok(&b"payload"[..]));
        let last = entry.len() - 1;
        entry[last] ^= 1;
        assert!(checked_payload(&entry).unwrap_err().contains("checksum"));
        assert!(checked_payload(b"WBC").unwrap_err().contains("header"));
    }

    #[test]
    fn the_engine_key_is_a_digest_of_the_engines_settings() {
        let engine = |fuel: bool| {
            let mut config = wasmtime::Config::new();
            config.consume_fuel(fuel);
            Engine::new(&config).unwrap()
        };
        let key = engine_key(&engine(false));
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
        assert_eq!(
            key,
            engine_key(&engine(false)),
            "the same settings, the same key"
        );
        assert_ne!(
            key,
            engine_key(&engine(true)),
            "other settings, another key"
        );
    }
}
