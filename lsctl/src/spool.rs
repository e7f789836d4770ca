//! The spool: batches `lsctl send` could not deliver, kept on disk until the
//! daemon takes them.
//!
//! One file per batch, `KEY.ndjson`, holding the exact NDJSON body that was
//! (or would have been) sent with `Idempotency-Key: KEY`: replaying it is
//! recognised by the daemon if an earlier attempt was stored after all. Keys
//! are UUIDv7, so the names sort oldest first. A file is written to a
//! temporary name, synced and renamed, so a crash leaves either the whole
//! batch or none; it is deleted only once the daemon answered 202.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A batch waiting in the spool.
#[derive(Debug)]
pub(crate) struct Spooled {
    pub(crate) path: PathBuf,
    pub(crate) key: String,
    pub(crate) size: u64,
}

#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    max: u64,
}

/// `$XDG_STATE_HOME/logstream`, else `~/.local/state/logstream`.
pub(crate) fn state_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|home| home.join(".local").join("state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("logstream")
}

impl Spool {
    /// The spool in `dir` holding at most `max` bytes; `max` 0 disables it.
    pub(crate) fn new(dir: PathBuf, max: u64) -> Spool {
        Spool { dir, max }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn enabled(&self) -> bool {
        self.max > 0
    }

    /// The spooled batches, oldest first (none if the directory is missing).
    pub(crate) fn list(&self) -> Vec<Spooled> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut batches: Vec<Spooled> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let key = name.strip_suffix(".ndjson")?.to_string();
                if key.starts_with('.') {
                    return None;
                }
                let size = entry.metadata().ok()?.len();
                Some(Spooled {
                    path: entry.path(),
                    key,
                    size,
                })
            })
            .collect();
        batches.sort_by(|a, b| a.key.cmp(&b.key));
        batches
    }

    /// Bytes spooled now.
    pub(crate) fn used(&self) -> u64 {
        self.list().iter().map(|b| b.size).sum()
    }

    /// Keeps `ndjson` under `key`; `Ok(false)` when it does not fit.
    pub(crate) fn store(&self, key: &str, ndjson: &[u8]) -> anyhow::Result<bool> {
        if !self.enabled() || self.used() + ndjson.len() as u64 > self.max {
            return Ok(false);
        }
        self.store_unbounded(key, ndjson)?;
        Ok(true)
    }

    /// Keeps `ndjson` under `key` whatever the spool holds already.
    pub(crate) fn store_unbounded(&self, key: &str, ndjson: &[u8]) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create the spool {}", self.dir.display()))?;
        let tmp = self.dir.join(format!(".{key}.tmp"));
        let path = self.dir.join(format!("{key}.ndjson"));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(ndjson)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().with_context(|| format!("cannot write {}", path.display()))
    }

    pub(crate) fn load(&self, batch: &Spooled) -> anyhow::Result<Vec<u8>> {
        std::fs::read(&batch.path).with_context(|| format!("cannot read {}", batch.path.display()))
    }

    pub(crate) fn remove(&self, batch: &Spooled) {
        // Another lsctl sharing the spool may have sent it too.
        if let Err(e) = std::fs::remove_file(&batch.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("lsctl: cannot remove {}: {e}", batch.path.display());
        }
    }
}

/// The spool's subdirectory for a daemon: its URL with every character but
/// letters, digits, `.` and `-` made `_` (http://127.0.0.1:3000 →
/// http___127.0.0.1_3000).
pub(crate) fn server_dir(server: &str) -> String {
    server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The number of lines (records) in an NDJSON body.
pub(crate) fn count_lines(ndjson: &[u8]) -> u64 {
    ndjson.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_oldest_first_and_the_bound_holds() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"), 40);
        assert!(
            spool.list().is_empty(),
            "a missing directory is an empty spool"
        );
        let first = uuid::Uuid::now_v7().to_string();
        let second = uuid::Uuid::now_v7().to_string();
        assert!(spool.store(&second, b"{\"b\":2}\n").unwrap());
        assert!(spool.store(&first, b"{\"a\":1}\n{\"a\":2}\n").unwrap());
        // A leftover of a crash mid-write is not a batch.
        std::fs::write(dir.path().join("spool").join(".x.tmp"), b"{}\n").unwrap();
        let batches = spool.list();
        let keys: Vec<&str> = batches.iter().map(|b| b.key.as_str()).collect();
        assert_eq!(keys, [first.as_str(), second.as_str()]);
        assert_eq!(count_lines(&spool.load(&batches[0]).unwrap()), 2);
        assert_eq!(spool.used(), 24);
        assert!(
            !spool.store("too-much", &[b'x'; 17]).unwrap(),
            "over --spool-max"
        );
        spool.remove(&batches[0]);
        spool.remove(&batches[0]);
        assert_eq!(spool.list().len(), 1);
        assert!(
            !Spool::new(dir.path().into(), 0)
                .store("k", b"{}\n")
                .unwrap()
        );
    }
}
