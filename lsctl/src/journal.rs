//! The journal of `lsctl send --follow`: each batch is written here, with
//! its idempotency key and the checkpoint positions its lines reach, before
//! it is sent, and forgotten once its answer moved the checkpoints.
//!
//! Without it, a batch the daemon stored just before `lsctl` was killed
//! (before the checkpoint moved) would be read again from the file after a
//! restart and sent under a new key: stored twice. With it, a restart first
//! moves the checkpoints past every journalled batch, so the file is read on
//! after them, and hands the batches to the spool, which sends them first
//! under their own keys: the daemon recognises the ones it already stored.
//! Entries are kept beside the checkpoint file, in `FILE.journal/`, as
//! `KEY.ndjson` (the body, written as the spool writes its files) and
//! `KEY.marks.json` (written first, so a body never lacks its marks).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::checkpoint::{Checkpoints, Position};
use crate::spool::Spool;

/// The positions a batch's lines reach, by file.
pub(crate) type Marks = Vec<(String, Position)>;

#[derive(Debug)]
pub(crate) struct Journal {
    entries: Spool,
}

impl Journal {
    /// The journal of the checkpoints kept in `checkpoint_file`.
    pub(crate) fn beside(checkpoint_file: &Path) -> Journal {
        let mut name = checkpoint_file
            .file_name()
            .unwrap_or_default()
            .to_os_string();
        name.push(".journal");
        let dir = checkpoint_file.with_file_name(name);
        Journal {
            entries: Spool::new(dir, u64::MAX),
        }
    }

    fn marks_file(&self, key: &str) -> PathBuf {
        self.entries.dir().join(format!("{key}.marks.json"))
    }

    /// Writes a batch about to be sent, durably.
    pub(crate) fn write(&self, key: &str, ndjson: &[u8], marks: &Marks) -> anyhow::Result<()> {
        std::fs::create_dir_all(self.entries.dir())
            .with_context(|| format!("cannot create {}", self.entries.dir().display()))?;
        let path = self.marks_file(key);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&path)?;
            file.write_all(&serde_json::to_vec(marks)?)?;
            file.sync_all()
        };
        write().with_context(|| format!("cannot write {}", path.display()))?;
        self.entries.store(key, ndjson)?;
        Ok(())
    }

    /// Forgets a batch whose answer moved the checkpoints.
    pub(crate) fn forget(&self, key: &str) {
        if let Some(entry) = self.entries.list().into_iter().find(|e| e.key == key) {
            self.entries.remove(&entry);
        }
        let _ = std::fs::remove_file(self.marks_file(key));
    }

    /// After a run that stopped without forgetting its batches: moves the
    /// checkpoints of the `followed` files past each journalled batch, in
    /// the order they were written, and hands the batches to `spool` (past
    /// its size limit if need be: their lines are no longer in the files
    /// ahead of the checkpoints). The caller saves the checkpoints.
    pub(crate) fn recover(
        &self,
        checkpoints: &mut Checkpoints,
        followed: &[String],
        spool: &Spool,
    ) -> anyhow::Result<usize> {
        let entries = self.entries.list();
        for entry in &entries {
            let marks: Marks = match std::fs::read(self.marks_file(&entry.key)) {
                Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                    format!(
                        "bad journal entry {}",
                        self.marks_file(&entry.key).display()
                    )
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            for (path, position) in marks {
                if followed.contains(&path) {
                    checkpoints.set(path, position);
                }
            }
            spool.store_unbounded(&entry.key, &self.entries.load(entry)?)?;
        }
        checkpoints.save()?;
        for entry in &entries {
            self.forget(&entry.key);
        }
        self.forget_orphan_marks();
        Ok(entries.len())
    }

    /// Marks whose body was never written: that batch was never sent.
    fn forget_orphan_marks(&self) {
        let Ok(names) = std::fs::read_dir(self.entries.dir()) else {
            return;
        };
        for name in names.filter_map(Result::ok) {
            if name.file_name().to_string_lossy().ends_with(".marks.json") {
                let _ = std::fs::remove_file(name.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::at;

    #[test]
    fn recovery_moves_the_checkpoints_past_every_entry_and_spools_them_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("checkpoints.json");
        let journal = Journal::beside(&file);
        let marks = |offset| vec![("/a".to_string(), at(offset)), ("/other".into(), at(9))];
        journal
            .write("01-first", b"{\"m\":1}\n", &marks(10))
            .unwrap();
        journal
            .write("02-second", b"{\"m\":2}\n", &marks(20))
            .unwrap();
        journal
            .write("03-answered", b"{\"m\":3}\n", &marks(30))
            .unwrap();
        journal.forget("03-answered");
        let spool = Spool::new(dir.path().join("spool"), 1);
        let mut checkpoints = Checkpoints::load(file.clone()).unwrap();
        let recovered = journal.recover(&mut checkpoints, &["/a".into()], &spool);
        assert_eq!(recovered.unwrap(), 2);
        let reloaded = Checkpoints::load(file).unwrap();
        assert_eq!(reloaded.get("/a"), Some(&at(20)));
        assert_eq!(reloaded.get("/other"), None, "not followed by this run");
        let keys: Vec<String> = spool.list().into_iter().map(|s| s.key).collect();
        assert_eq!(keys, ["01-first", "02-second"]);
        assert!(
            Journal::beside(dir.path().join("checkpoints.json").as_path())
                .entries
                .list()
                .is_empty()
        );
        assert_eq!(std::fs::read_dir(journal.entries.dir()).unwrap().count(), 0);
    }
}
