//! `lsctl send --follow FILE`: like `tail -F`, polling every 250 ms.
//!
//! A file is known by device, inode and a fingerprint of its first bytes.
//! When the path names another file (rotation by rename), the old file is
//! read to its end through the handle still open, then the new one from its
//! start; when the file shrinks below what was read, or its first bytes
//! change (copytruncate), it is read again from the start; a file that does
//! not exist yet is waited for. Every record handed over carries the
//! position just past its lines, which becomes the checkpoint once the
//! batch holding it is delivered or spooled.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::checkpoint::{FINGERPRINT_BYTES, Position, fingerprint};
use crate::lines::{Assembler, IDLE_FLUSH, LayoutNote, Settings};
use crate::send::{Item, ReaderEnd, hand_over};

/// How often a followed file is looked at when nothing new was read.
const POLL: Duration = Duration::from_millis(250);

/// The checkpoint key of a path: absolute, as given (not resolved).
pub(crate) fn key_of(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The file being read.
struct Current {
    file: std::fs::File,
    dev: u64,
    ino: u64,
    /// Bytes handed to the assembler (always the end of a line).
    offset: u64,
    /// Bytes read past `offset`, not yet ending with a newline.
    partial: Vec<u8>,
    fingerprint: u64,
    fingerprint_len: u64,
}

impl Current {
    fn position(&self, offset: u64) -> Position {
        Position {
            dev: self.dev,
            ino: self.ino,
            fingerprint: self.fingerprint,
            fingerprint_len: self.fingerprint_len,
            offset,
        }
    }

    /// The fingerprint of the first `len` bytes as the file holds them now.
    fn prefix(&self, len: u64) -> Option<(u64, u64)> {
        let mut buf = vec![0; len as usize];
        let mut got = 0;
        while got < buf.len() {
            match self.file.read_at(&mut buf[got..], got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(_) => return None,
            }
        }
        Some((fingerprint(&buf[..got]), got as u64))
    }

    fn refresh_fingerprint(&mut self) {
        if self.fingerprint_len < FINGERPRINT_BYTES as u64
            && let Some((hash, len)) = self.prefix(FINGERPRINT_BYTES as u64)
        {
            self.fingerprint = hash;
            self.fingerprint_len = len;
        }
    }
}

/// Opens `path`, at `start` if it is the same file and still that long. If
/// the file was rotated away (renamed in the same directory) while lsctl was
/// not running, that file is opened instead, at `start`, to be read to its
/// end before the file now at `path`.
fn open(path: &Path, start: Option<&Position>) -> Option<Current> {
    if let Some(start) = start
        && let Some(rotated) = find_rotated(path, start)
    {
        return Some(rotated);
    }
    open_file(path, start)
}

/// The file of `start`, if `path` is now another file and one beside it is
/// that file (same device, inode and fingerprint), opened at `start`.
fn find_rotated(path: &Path, start: &Position) -> Option<Current> {
    let meta = std::fs::metadata(path).ok();
    if meta.is_some_and(|m| m.dev() == start.dev && m.ino() == start.ino) {
        return None;
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    for entry in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_file() && meta.dev() == start.dev && meta.ino() == start.ino {
            let current = open_file(&entry.path(), Some(start))?;
            return (current.offset == start.offset).then_some(current);
        }
    }
    None
}

fn open_file(path: &Path, start: Option<&Position>) -> Option<Current> {
    let file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let mut current = Current {
        file,
        dev: meta.dev(),
        ino: meta.ino(),
        offset: 0,
        partial: Vec::new(),
        fingerprint: fingerprint(&[]),
        fingerprint_len: 0,
    };
    if let Some(start) = start
        && start.dev == current.dev
        && start.ino == current.ino
        && meta.len() >= start.offset
        && current.prefix(start.fingerprint_len) == Some((start.fingerprint, start.fingerprint_len))
    {
        current.offset = start.offset;
    }
    current.refresh_fingerprint();
    Some(current)
}

/// Follows `path` until asked to stop, starting at the checkpoint `start`.
pub(crate) async fn follow(
    path: PathBuf,
    key: String,
    start: Option<Position>,
    settings: Settings,
    tx: mpsc::Sender<Item>,
    mut stop: watch::Receiver<bool>,
    verbose: bool,
) -> ReaderEnd {
    let mut assembler = Assembler::new(settings);
    let mut note = LayoutNote::new(&path.display().to_string(), verbose);
    let mut start = start;
    let mut current: Option<Current> = None;
    let mut last_line = Instant::now();
    // Set when the path names another file: one more read of the old one.
    let mut rotated = false;
    // "waiting for FILE" is said once.
    let mut said_waiting = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if *stop.borrow() {
            let records = assembler.finish();
            let mark = current
                .as_ref()
                .map(|c| (key.clone(), c.position(c.offset)));
            return hand_over(&tx, records, mark).await.unwrap_or_default();
        }
        let Some(cur) = current.as_mut() else {
            current = open(&path, start.take().as_ref());
            if current.is_none() && !said_waiting {
                eprintln!("lsctl: waiting for {} to appear", path.display());
                said_waiting = true;
            }
            if current.is_none() && !poll(&mut stop).await {
                return ReaderEnd::default();
            }
            continue;
        };
        let at = cur.offset + cur.partial.len() as u64;
        let read = cur.file.read_at(&mut buf, at).unwrap_or(0);
        if read > 0 {
            cur.partial.extend_from_slice(&buf[..read]);
            cur.refresh_fingerprint();
            while let Some(end) = cur.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = cur.partial.drain(..=end).collect();
                let line_start = cur.offset;
                cur.offset += line.len() as u64;
                let records = assembler.push(&String::from_utf8_lossy(&line));
                note.after_line(&assembler);
                if records.is_empty() {
                    continue;
                }
                // A line starting the next record is not covered yet.
                let upto = if assembler.has_pending() {
                    line_start
                } else {
                    cur.offset
                };
                let mark = Some((key.clone(), cur.position(upto)));
                if let Some(end) = hand_over(&tx, records, mark).await {
                    return end;
                }
            }
            last_line = Instant::now();
            continue;
        }
        if assembler.has_pending() && last_line.elapsed() >= IDLE_FLUSH {
            let records = assembler.flush_idle();
            let mark = Some((key.clone(), cur.position(cur.offset)));
            if let Some(end) = hand_over(&tx, records, mark).await {
                return end;
            }
        }
        // Nothing more to read: has the file been rotated or truncated?
        match std::fs::metadata(&path) {
            Ok(meta) if meta.dev() != cur.dev || meta.ino() != cur.ino => {
                if rotated {
                    // The old file is read to its end: on to the new one.
                    let mut records = Vec::new();
                    if !cur.partial.is_empty() {
                        records = assembler.push(&String::from_utf8_lossy(&cur.partial));
                        cur.offset += cur.partial.len() as u64;
                    }
                    records.extend(assembler.finish());
                    let mark = Some((key.clone(), cur.position(cur.offset)));
                    if let Some(end) = hand_over(&tx, records, mark).await {
                        return end;
                    }
                    current = None;
                    rotated = false;
                    continue;
                }
                // One more poll of the old file: a writer may not have reopened yet.
                rotated = true;
            }
            Ok(meta) => {
                let truncated = meta.len() < at
                    || (cur.fingerprint_len > 0
                        && cur
                            .prefix(cur.fingerprint_len)
                            .is_some_and(|(hash, _)| hash != cur.fingerprint));
                if truncated {
                    let mut records = Vec::new();
                    if !cur.partial.is_empty() {
                        records = assembler.push(&String::from_utf8_lossy(&cur.partial));
                    }
                    records.extend(assembler.finish());
                    cur.partial.clear();
                    cur.offset = 0;
                    cur.fingerprint = fingerprint(&[]);
                    cur.fingerprint_len = 0;
                    cur.refresh_fingerprint();
                    let mark = Some((key.clone(), cur.position(0)));
                    if let Some(end) = hand_over(&tx, records, mark).await {
                        return end;
                    }
                    continue;
                }
            }
            // Renamed away, the new file not there yet: keep the old one.
            Err(_) => {}
        }
        if !poll(&mut stop).await {
            return ReaderEnd::default();
        }
    }
}

/// Waits `POLL` or until asked to stop; false when nobody is receiving any more.
async fn poll(stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(POLL) => true,
        changed = stop.changed() => changed.is_ok(),
    }
}
