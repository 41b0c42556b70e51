//! Temporary ledger folders that do not outlive their process, however it ends. A test binary's
//! node lives as long as the process and is never dropped, and a killed node's drop never runs:
//! each left its ledger (gigabytes) in the system's temporary folder until the disk filled. A
//! process holds a lock on a file in each folder it makes while it lives; whoever makes the next
//! one removes the folders whose lock is free.

use anyhow::{Context, Result};
use std::fs::{self, File};
use std::path::Path;

/// The folder, under the system's temporary folder, that holds them.
const ROOT: &str = "chainference-ledgers";
/// The file in each that its process holds locked.
const LOCK: &str = "held";

/// A temporary ledger folder: removed when dropped, or once its process is gone by whoever makes
/// the next.
pub(super) struct TemporaryLedger {
    /// Held locked while the folder is in use (dropped first: unlocked, then removed).
    _lock: File,
    folder: tempfile::TempDir,
}

impl TemporaryLedger {
    /// A new folder, after removing those whose process is gone.
    pub(super) fn new() -> Result<Self> {
        Self::new_in(&std::env::temp_dir().join(ROOT))
    }

    /// A new folder under `root`, after removing those there whose process is gone.
    fn new_in(root: &Path) -> Result<Self> {
        fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        remove_abandoned(root);
        let folder = tempfile::Builder::new()
            .prefix("ledger-")
            .tempdir_in(root)
            .with_context(|| format!("creating a ledger folder in {}", root.display()))?;
        // Locked before it takes its name, so no one ever finds the folder's lock free.
        let unnamed = folder.path().join(format!("{LOCK}.new"));
        let lock = File::create(&unnamed)
            .and_then(|lock| lock.lock().map(|()| lock))
            .and_then(|lock| fs::rename(&unnamed, folder.path().join(LOCK)).map(|()| lock))
            .with_context(|| format!("locking {}", folder.path().display()))?;
        Ok(Self {
            _lock: lock,
            folder,
        })
    }

    /// The folder.
    pub(super) fn path(&self) -> &Path {
        self.folder.path()
    }
}

/// Removes the folders under `root` whose lock no process holds. A folder that cannot be read
/// or removed is left for the next time.
fn remove_abandoned(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for folder in entries.flatten().map(|entry| entry.path()) {
        let Ok(lock) = File::open(folder.join(LOCK)) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            let _ = fs::remove_dir_all(&folder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_whose_process_is_gone_is_removed_by_the_next_and_a_held_one_is_not() {
        let root = tempfile::tempdir().expect("a folder");
        let held = TemporaryLedger::new_in(root.path()).expect("a ledger folder");
        // A process that ended without dropping its node: the folder stays, its lock is gone.
        let TemporaryLedger {
            _lock: lock,
            folder,
        } = TemporaryLedger::new_in(root.path()).expect("a ledger folder");
        let abandoned = folder.keep();
        drop(lock);
        std::fs::write(abandoned.join("ledger"), [0; 1024]).expect("written");

        let next = TemporaryLedger::new_in(root.path()).expect("a ledger folder");
        assert!(!abandoned.exists(), "{} left behind", abandoned.display());
        assert!(held.path().join(LOCK).exists());
        assert!(next.path().join(LOCK).exists());

        let (held, next) = (held.path().to_path_buf(), next.path().to_path_buf());
        drop(TemporaryLedger::new_in(root.path()));
        assert!(
            held.exists() && next.exists(),
            "a folder in use was removed"
        );
    }

    #[test]
    fn a_dropped_folder_is_removed() {
        let root = tempfile::tempdir().expect("a folder");
        let ledger = TemporaryLedger::new_in(root.path()).expect("a ledger folder");
        let path = ledger.path().to_path_buf();
        drop(ledger);
        assert!(!path.exists());
    }
}
