//! Where `lsctl send --follow` got to in each file, so that a restart resumes
//! without gaps or duplicates. A position is saved only once the batch with
//! the lines before it was stored by the daemon (202) or spooled.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// A place in one file: the file is known by its device and inode and by a
/// fingerprint of its first bytes (so a reused inode or a truncated and
/// rewritten file is noticed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    /// FNV-1a of the first `fingerprint_len` bytes (at most 1024).
    pub(crate) fingerprint: u64,
    pub(crate) fingerprint_len: u64,
    /// Bytes read and handed over, up to the end of a line.
    pub(crate) offset: u64,
}

/// The longest prefix a fingerprint covers.
pub(crate) const FINGERPRINT_BYTES: usize = 1024;

/// FNV-1a, 64 bits: stable across builds and Rust versions.
pub(crate) fn fingerprint(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The positions of every followed file, by path, kept in one JSON file.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    file: PathBuf,
    positions: BTreeMap<String, Position>,
    /// The paths this run moved: saving keeps other runs' entries.
    moved: BTreeMap<String, Position>,
}

impl Checkpoints {
    /// The checkpoints in `file`; none yet if it does not exist.
    pub(crate) fn load(file: PathBuf) -> anyhow::Result<Checkpoints> {
        let positions = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("bad checkpoint file {}", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot read the checkpoint file {}",
                    file.display()
                )));
            }
        };
        Ok(Checkpoints {
            file,
            positions,
            moved: BTreeMap::new(),
        })
    }

    /// The file the checkpoints are kept in.
    pub(crate) fn file(&self) -> &Path {
        &self.file
    }

    pub(crate) fn get(&self, path: &str) -> Option<&Position> {
        self.positions.get(path)
    }

    pub(crate) fn set(&mut self, path: String, position: Position) {
        self.positions.insert(path.clone(), position.clone());
        self.moved.insert(path, position);
    }

    /// Writes the checkpoints atomically (temporary file, sync, rename), over
    /// what the file holds now (another lsctl may follow other files).
    pub(crate) fn save(&mut self) -> anyhow::Result<()> {
        if let Ok(bytes) = std::fs::read(&self.file)
            && let Ok(on_disk) = serde_json::from_slice::<BTreeMap<String, Position>>(&bytes)
        {
            self.positions = on_disk;
            self.positions
                .extend(self.moved.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let dir = self.file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut name = self.file.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{}.tmp", std::process::id()));
        let tmp = dir.join(name);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&serde_json::to_vec_pretty(&self.positions)?)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.file)
        };
        write().with_context(|| format!("cannot write {}", self.file.display()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A position `offset` bytes into one same file.
    pub(crate) fn at(offset: u64) -> Position {
        Position {
            dev: 1,
            ino: 2,
            fingerprint: fingerprint(b"abc"),
            fingerprint_len: 3,
            offset,
        }
    }

    #[test]
    fn checkpoints_survive_a_reload_and_keep_other_runs_entries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state").join("checkpoints.json");
        let mut mine = Checkpoints::load(file.clone()).unwrap();
        let mut theirs = Checkpoints::load(file.clone()).unwrap();
        mine.set("/a.log".into(), at(10));
        mine.save().unwrap();
        theirs.set("/b.log".into(), at(20));
        theirs.save().unwrap();
        mine.set("/a.log".into(), at(30));
        mine.save().unwrap();
        let loaded = Checkpoints::load(file).unwrap();
        assert_eq!(loaded.get("/a.log"), Some(&at(30)));
        assert_eq!(loaded.get("/b.log"), Some(&at(20)));
        assert_eq!(fingerprint(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fingerprint(b"abc"), fingerprint(b"abd"));
    }
}
