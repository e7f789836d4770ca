//! Whether the disk under the embedded store is full.
//!
//! DuckDB tells only by failing a write, so the store remembers a write that
//! failed for want of space (health reports it) until a write succeeds
//! again. Where no write can tell, the free space is asked of the file
//! system: at start (a daemon restarted on a full disk would otherwise
//! report healthy) and before the store retries the checkpoint that failed
//! (a failed checkpoint costs reopening the database, see `duckdb.rs`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Free space that a full disk lacks beyond what a checkpoint needs: one
/// large request writes several MiB to the WAL.
const RESERVE_BYTES: u64 = 4 << 20;

#[derive(Debug)]
pub(crate) struct DiskSpace {
    /// The database file; DuckDB keeps its WAL beside it.
    database: PathBuf,
    /// Why the disk counts as full, while it does.
    full: Mutex<Option<String>>,
}

impl DiskSpace {
    /// Watches the disk of `database`, full from the start if it has no
    /// room to checkpoint.
    pub(crate) fn new(database: &Path) -> DiskSpace {
        let space = DiskSpace {
            database: database.to_path_buf(),
            full: Mutex::new(None),
        };
        if let Err(why) = space.room_to_checkpoint() {
            space.ran_out(why);
        }
        space
    }

    /// Why the disk counts as full, if it does.
    pub(crate) fn full(&self) -> Option<String> {
        self.lock().clone()
    }

    pub(crate) fn ran_out(&self, why: String) {
        let mut full = self.lock();
        if full.is_none() {
            tracing::error!(reason = %why, "the store's disk is full: writes fail until space is freed");
        }
        *full = Some(why);
    }

    /// A write went through: the disk has room again.
    pub(crate) fn freed(&self) {
        if self.lock().take().is_some() {
            tracing::info!("the store's disk has room again: writes succeed");
        }
    }

    /// Whether the disk has room to fold the WAL into the database file
    /// (a checkpoint writes at most about what the WAL holds), with
    /// [`RESERVE_BYTES`] to spare; if not, why not. A file system that
    /// cannot say how much is free is taken to have room.
    pub(crate) fn room_to_checkpoint(&self) -> Result<(), String> {
        let dir = self
            .database
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let Ok(stats) = rustix::fs::statvfs(dir) else {
            return Ok(());
        };
        let free = stats.f_bavail.saturating_mul(stats.f_frsize);
        let wal = std::fs::metadata(self.wal()).map_or(0, |m| m.len());
        let needed = wal + RESERVE_BYTES;
        if free >= needed {
            Ok(())
        } else {
            Err(format!(
                "{free} bytes free on the disk of \"{}\", {needed} needed (the WAL's {wal} bytes and {RESERVE_BYTES} to spare)",
                dir.display()
            ))
        }
    }

    fn wal(&self) -> PathBuf {
        let mut wal = OsString::from(self.database.as_os_str());
        wal.push(".wal");
        wal.into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.full
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_with_room_is_not_full_until_a_write_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let space = DiskSpace::new(&dir.path().join("logs.duckdb"));
        assert_eq!(space.full(), None);
        space.ran_out("no space left on device".into());
        assert_eq!(space.full().as_deref(), Some("no space left on device"));
        space.freed();
        assert_eq!(space.full(), None);
    }

    #[test]
    fn the_wal_lies_beside_the_database() {
        let space = DiskSpace::new(Path::new("/data/logs.duckdb"));
        assert_eq!(space.wal(), Path::new("/data/logs.duckdb.wal"));
    }
}
