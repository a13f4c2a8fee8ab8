//! Watches the tenants' plugin files. The directory of each file is watched (not the file),
//! so an editor that replaces the file and a rename into place are seen like a write in
//! place. Changes are debounced (notify-debouncer-full: a file's events are delivered once
//! it has been quiet for a moment); a load that a change arrives during is followed by
//! another, so the last write wins; a refused file is tried once more after a short delay (a
//! writer may have paused half-way), and again at its next change.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, NoCache, new_debouncer_opt};

use super::Registry;
use crate::dispatch::Tenant;

/// Quiet time after a change before the file is loaded.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// After a refused load with no further change, the file is tried once more after this.
const RETRY_AFTER: Duration = Duration::from_secs(1);

type Targets = HashMap<PathBuf, Vec<Weak<Tenant>>>;

/// The file watcher (inotify on Linux), debounced.
pub struct PluginWatcher {
    watcher: Mutex<Debouncer<RecommendedWatcher, NoCache>>,
    watched: Mutex<HashSet<PathBuf>>,
    targets: Arc<ArcSwap<Targets>>,
}

impl PluginWatcher {
    /// A watcher that wakes the tenant owning a changed file.
    pub fn new() -> notify::Result<Self> {
        let targets: Arc<ArcSwap<Targets>> = Arc::default();
        let seen = targets.clone();
        let wake = move |events: DebounceEventResult| {
            let Ok(events) = events else { return };
            let targets = seen.load();
            let changed = events.iter().filter(|e| changes_content(&e.kind));
            for path in changed.flat_map(|event| &event.paths) {
                for tenant in targets.get(path).into_iter().flatten() {
                    if let Some(tenant) = tenant.upgrade() {
                        tenant.file_changed.notify_one();
                    }
                }
            }
        };
        let watcher = new_debouncer_opt(DEBOUNCE, None, wake, NoCache, notify::Config::default())?;
        Ok(Self {
            watcher: Mutex::new(watcher),
            watched: Mutex::default(),
            targets,
        })
    }

    /// Watches the directories of `tenants`' plugin files, and no others.
    pub fn sync(&self, tenants: &HashMap<String, Arc<Tenant>>) {
        let mut targets = Targets::new();
        for tenant in tenants.values() {
            let key = watch_key(tenant.profile().plugin_path());
            targets.entry(key).or_default().push(Arc::downgrade(tenant));
        }
        let dirs: HashSet<PathBuf> = targets
            .keys()
            .filter_map(|key| key.parent().map(Path::to_owned))
            .collect();
        self.targets.store(Arc::new(targets));
        let mut watcher = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        for dir in watched.difference(&dirs) {
            let _ = watcher.unwatch(dir);
        }
        watched.retain(|dir| dirs.contains(dir));
        for dir in dirs {
            if watched.contains(&dir) {
                continue;
            }
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(dir);
                }
                Err(error) => {
                    tracing::error!(dir = %dir.display(), %error, "cannot watch a plugin directory; its plugins change only through the admin API or a reload")
                }
            }
        }
    }
}

/// Whether an event may have changed a file's content (opening and reading do not; the
/// loader's own reads must not trigger loads).
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// The path events for `plugin` arrive with: its directory made absolute and canonical, and
/// its file name.
fn watch_key(plugin: &Path) -> PathBuf {
    let absolute = std::path::absolute(plugin).unwrap_or_else(|_| plugin.to_owned());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .unwrap_or_else(|_| dir.to_owned())
            .join(name),
        _ => absolute,
    }
}

/// One tenant's follower: waits for (debounced) changes of its plugin file and loads the
/// file. Ends when the tenant is removed.
pub async fn follow_plugin_file(registry: Arc<Registry>, tenant: Arc<Tenant>) {
    let mut retry = false;
    loop {
        if retry {
            tokio::select! {
                _ = tenant.file_changed.notified() => {}
                _ = tokio::time::sleep(RETRY_AFTER) => {}
            }
        } else {
            tenant.file_changed.notified().await;
        }
        if tenant.is_retired() {
            return;
        }
        let refused = registry.reload_from_file(&tenant).await.is_err();
        // Retry a refused file once; after that, only a new change makes us try again.
        retry = refused && !retry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_do_not_count_as_changes() {
        assert!(!changes_content(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!changes_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(changes_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(changes_content(&EventKind::Create(
            notify::event::CreateKind::File
        )));
    }

    #[test]
    fn keys_are_absolute_with_a_canonical_directory() {
        let dir = tempfile::tempdir().unwrap();
        let key = watch_key(&dir.path().join("bot.wasm"));
        assert_eq!(key, dir.path().canonicalize().unwrap().join("bot.wasm"));
    }
}
