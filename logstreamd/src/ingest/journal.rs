//! The embedded pipeline's journal: an append-only log of the batches the
//! daemon has acknowledged but the store may not have yet.
//!
//! A DuckDB commit takes 2–5 ms whatever its size, and a checkpoint stops
//! commits for 100–400 ms; a synced append of a few kilobytes takes well
//! under a millisecond. So each group of requests is appended here and
//! synced before they are answered, and the store takes the journal's
//! frames in larger commits behind it (see `journaled`). Each of those
//! commits records the number of its last frame in the same transaction,
//! so after a crash exactly the frames past that number are stored again.
//!
//! The journal is a folder of segments, each named by its first frame's
//! number and given its full size when created, so that appends into it
//! still find room when the disk fills up (the database, which needs room
//! to checkpoint, meets a full disk first). A frame is `length (u32 LE) | CRC-32 of number and payload (u32
//! LE) | number (u64 LE) | payload (JSON of its records and keys)`. A frame
//! that does not read back whole (a crash during its append, which was
//! never answered) ends its segment. Segments are deleted once the store
//! holds every frame in them.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use logstream_shared::LogRecord;
use serde::{Deserialize, Serialize};

use crate::store::IdempotencyKey;

/// A segment past this size is closed and the next begins. Small enough
/// to cost little room on a small disk, where at most about two are kept.
const SEGMENT_BYTES: u64 = 4 << 20;

/// The bytes before a frame's payload.
const HEADER_BYTES: usize = 16;

/// One acknowledged group of requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Frame {
    #[serde(skip)]
    pub number: u64,
    pub records: Vec<LogRecord>,
    pub keys: Vec<IdempotencyKey>,
}

#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    /// The segment being appended to and the bytes of frames in it; `None`
    /// before the first append after opening, once a segment is full, or
    /// after an append that failed and could not be undone (the next
    /// append starts a new segment).
    current: Option<(File, u64)>,
    /// First frame numbers of the segments on disk, oldest first; the last
    /// one is `current`'s while there is one.
    segments: Vec<u64>,
    next: u64,
}

impl Journal {
    /// Opens the journal in `dir` (creating it), returning the frames past
    /// `applied`, in order: acknowledged, and not yet in the store.
    pub(crate) fn open(dir: &Path, applied: u64) -> io::Result<(Journal, Vec<Frame>)> {
        std::fs::create_dir_all(dir)?;
        let segments = segment_numbers(dir)?;
        let mut unapplied = Vec::new();
        let mut next = applied + 1;
        for (i, first) in segments.iter().enumerate() {
            // A segment ends where the next begins: a frame numbered past
            // that was an append that failed (not answered) and could not
            // be cut back, its number given again in the next segment.
            let end = segments.get(i + 1).copied().unwrap_or(u64::MAX);
            for frame in read_segment(&segment_path(dir, *first))? {
                if frame.number >= end {
                    break;
                }
                next = next.max(frame.number + 1);
                if frame.number > applied {
                    unapplied.push(frame);
                }
            }
        }
        // The next append starts a fresh segment: a torn frame at the end
        // of the last one must not be followed by new frames. Nothing is
        // written before then, so that a daemon restarted on a full disk
        // starts (and reports the disk full).
        let journal = Journal {
            dir: dir.to_path_buf(),
            current: None,
            segments,
            next,
        };
        Ok((journal, unapplied))
    }

    /// Appends the frame and syncs it; its number once durable. A failed
    /// append leaves nothing of it behind (or, if the file cannot be cut
    /// back, the segment is closed there).
    pub(crate) fn append(
        &mut self,
        records: Vec<LogRecord>,
        keys: Vec<IdempotencyKey>,
    ) -> io::Result<Frame> {
        let frame = Frame {
            number: self.next,
            records,
            keys,
        };
        let bytes = encode(&frame)?;
        if self.current.is_none() {
            // After an append that failed as a segment's first frame, the
            // segment is made again (it holds nothing answered).
            let file = create_segment(&self.dir, frame.number)?;
            if self.segments.last() != Some(&frame.number) {
                self.segments.push(frame.number);
            }
            self.current = Some((file, 0));
        }
        let (file, len) = self.current.as_mut().expect("a segment is open");
        if let Err(e) = file.write_all(&bytes).and_then(|()| file.sync_data()) {
            let start = *len;
            if file
                .set_len(start)
                .and_then(|()| file.seek(SeekFrom::Start(start)))
                .is_err()
            {
                self.current = None;
            }
            return Err(e);
        }
        *len += bytes.len() as u64;
        self.next += 1;
        if *len >= SEGMENT_BYTES {
            self.current = None;
        }
        Ok(frame)
    }

    /// The number the next frame gets.
    pub(crate) fn next_number(&self) -> u64 {
        self.next
    }

    /// Deletes every segment (the store holds every frame).
    pub(crate) fn forget_all(&mut self) -> io::Result<()> {
        self.current = None;
        self.forget(self.segments.len())
    }

    /// Deletes the segments whose every frame is at most `applied`.
    pub(crate) fn forget_through(&mut self, applied: u64) -> io::Result<()> {
        // A segment is done when the one after it starts at or before the
        // first frame not applied; the last segment always stays.
        let done = self
            .segments
            .windows(2)
            .take_while(|pair| pair[1] <= applied + 1)
            .count();
        self.forget(done)
    }

    /// Deletes the `count` oldest segments; a segment that failed to go is
    /// tried again the next time.
    fn forget(&mut self, count: usize) -> io::Result<()> {
        for (deleted, first) in self.segments[..count].iter().enumerate() {
            match std::fs::remove_file(segment_path(&self.dir, *first)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    self.segments.drain(..deleted);
                    return Err(e);
                }
                _ => {}
            }
        }
        self.segments.drain(..count);
        Ok(())
    }
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.journal"))
}

fn create_segment(dir: &Path, first: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(segment_path(dir, first))?;
    // Reserved room, where the disk has it; without it appends still work
    // as long as the disk has room.
    let reserved =
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, SEGMENT_BYTES);
    if let Err(e) = reserved {
        tracing::debug!(error = %e, "cannot reserve room for an ingest journal segment");
    }
    // The new name must survive a crash as well as the frames in it.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// The first frame numbers of the segments in `dir`, in order.
fn segment_numbers(dir: &Path) -> io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let number = name
            .to_str()
            .and_then(|n| n.strip_suffix(".journal"))
            .and_then(|n| n.parse().ok());
        if let Some(number) = number {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

fn encode(frame: &Frame) -> io::Result<Vec<u8>> {
    let payload = serde_json::to_vec(frame)?;
    let length = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a frame over 4 GiB"))?;
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.extend_from_slice(&length.to_le_bytes());
    bytes.extend_from_slice(&checksum(frame.number, &payload).to_le_bytes());
    bytes.extend_from_slice(&frame.number.to_le_bytes());
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

fn checksum(number: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&number.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// The whole frames of a segment, up to the first that is not.
fn read_segment(path: &Path) -> io::Result<Vec<Frame>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut frames = Vec::new();
    let mut rest = bytes.as_slice();
    while let Some((frame, after)) = decode(rest) {
        frames.push(frame);
        rest = after;
    }
    // Past the last frame: the segment's reserved room, zeros.
    if rest.iter().any(|b| *b != 0) {
        tracing::warn!(
            segment = %path.display(),
            bytes = rest.len(),
            "the ingest journal ends in a frame that was never completed (a crash during its append, before it was answered); it is ignored"
        );
    }
    Ok(frames)
}

/// The frame at the start of `bytes` and what follows it, if it is whole.
fn decode(bytes: &[u8]) -> Option<(Frame, &[u8])> {
    let header = bytes.get(..HEADER_BYTES)?;
    let length = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let number = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let payload = bytes.get(HEADER_BYTES..HEADER_BYTES + length)?;
    if checksum(number, payload) != crc {
        return None;
    }
    let mut frame: Frame = serde_json::from_slice(payload).ok()?;
    frame.number = number;
    Some((frame, &bytes[HEADER_BYTES + length..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(message: &str) -> LogRecord {
        LogRecord {
            id: format!("id-{message}"),
            timestamp: chrono::Utc::now(),
            service: "journal".into(),
            level: logstream_shared::Level::Info,
            message: message.into(),
            host: None,
            trace_id: None,
            span_id: None,
            attributes: Default::default(),
        }
    }

    fn messages(frames: &[Frame]) -> Vec<(u64, String)> {
        frames
            .iter()
            .flat_map(|f| f.records.iter().map(|r| (f.number, r.message.clone())))
            .collect()
    }

    #[test]
    fn frames_past_the_applied_one_come_back_in_order_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, unapplied) = Journal::open(dir.path(), 0).unwrap();
        assert!(unapplied.is_empty());
        for message in ["a", "b", "c"] {
            journal.append(vec![record(message)], vec![]).unwrap();
        }
        drop(journal);
        let (_, unapplied) = Journal::open(dir.path(), 1).unwrap();
        assert_eq!(
            messages(&unapplied),
            [(2, "b".to_string()), (3, "c".to_string())]
        );
    }

    #[test]
    fn a_torn_last_frame_is_ignored_and_numbering_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        journal.append(vec![record("whole")], vec![]).unwrap();
        journal.append(vec![record("torn")], vec![]).unwrap();
        let written = journal.current.as_ref().unwrap().1;
        drop(journal);
        // As if the crash came before the end of the second frame was written.
        let path = segment_path(dir.path(), 1);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(written - 3).unwrap();

        let (mut journal, unapplied) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(messages(&unapplied), [(1, "whole".to_string())]);
        let next = journal.append(vec![record("after")], vec![]).unwrap();
        assert_eq!(next.number, 2);
        drop(journal);
        let (_, unapplied) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(
            messages(&unapplied),
            [(1, "whole".to_string()), (2, "after".to_string())]
        );
    }

    #[test]
    fn a_failed_append_left_whole_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        journal.append(vec![record("answered")], vec![]).unwrap();
        journal.append(vec![record("refused")], vec![]).unwrap();
        // As when that append's sync failed and the file could not be cut
        // back: the segment is closed and the number given again.
        journal.current = None;
        journal.next = 2;
        journal.append(vec![record("next")], vec![]).unwrap();
        drop(journal);
        let (_, unapplied) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(
            messages(&unapplied),
            [(1, "answered".to_string()), (2, "next".to_string())]
        );
    }

    #[test]
    fn keys_come_back_with_their_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        let key = IdempotencyKey {
            key: "k-1".into(),
            fingerprint: "f".into(),
            ids: vec!["id-1".into()],
        };
        let appended = journal.append(vec![record("m")], vec![key]).unwrap();
        drop(journal);
        let (_, unapplied) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(unapplied, [appended]);
    }

    #[test]
    fn segments_go_once_the_store_holds_all_their_frames() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        journal.append(vec![record("a")], vec![]).unwrap();
        journal.current = None; // as when a segment is full
        journal.append(vec![record("b")], vec![]).unwrap();
        journal.append(vec![record("c")], vec![]).unwrap();
        assert_eq!(segment_numbers(dir.path()).unwrap(), [1, 2]);
        journal.forget_through(1).unwrap();
        assert_eq!(segment_numbers(dir.path()).unwrap(), [2]);
        journal.forget_through(3).unwrap();
        assert_eq!(
            segment_numbers(dir.path()).unwrap(),
            [2],
            "the last segment stays"
        );
        drop(journal);
        let (mut journal, unapplied) = Journal::open(dir.path(), 3).unwrap();
        assert!(unapplied.is_empty());
        journal.append(vec![record("d")], vec![]).unwrap();
        journal.forget_through(3).unwrap();
        assert_eq!(segment_numbers(dir.path()).unwrap(), [4]);
        journal.forget_all().unwrap();
        assert!(segment_numbers(dir.path()).unwrap().is_empty());
        let (journal, _) = Journal::open(dir.path(), 4).unwrap();
        assert_eq!(journal.next_number(), 5);
    }
}
