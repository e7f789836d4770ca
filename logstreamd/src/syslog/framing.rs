//! Where one syslog message ends and the next begins.
//!
//! Over TCP (RFC 6587) senders use one of two framings, and a stream is read
//! frame by frame, so both may be mixed: a frame that starts with a run of
//! digits and a space is octet-counted (`LEN SP MSG`, rsyslog's and
//! `logger --octet-count`'s); any other frame ends at a delimiter, LF (most
//! senders) or NUL (Python's `SysLogHandler` ends each message with one and
//! sends no LF). A UDP datagram is one message.
//!
//! Memory stays bounded whatever a sender does: a frame longer than the
//! maximum is cut there, handed on marked as cut, and the rest of it is read
//! and thrown away.

/// The longest frame kept: a message at the store's limit
/// ([`MAX_MESSAGE_LEN`](logstream_shared::record::MAX_MESSAGE_LEN)) plus room
/// for the syslog header and structured data.
pub(crate) const MAX_FRAME: usize = logstream_shared::record::MAX_MESSAGE_LEN + 8 * 1024;

/// The longest digit run read as an octet count (up to 999 999 999 bytes);
/// a longer run is the start of a delimited message.
const MAX_COUNT_DIGITS: usize = 9;

/// One message's bytes, without its framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) bytes: Vec<u8>,
    /// The message went on past [`MAX_FRAME`] (or the stream ended inside
    /// an octet-counted frame): `bytes` is its start.
    pub(crate) cut: bool,
}

impl Frame {
    /// A frame of these bytes, without the trailing NUL, CR and LF that
    /// senders add; `None` when nothing but whitespace is left.
    fn of(bytes: &[u8], cut: bool) -> Option<Frame> {
        let bytes = trim_trailer(bytes);
        (!bytes.iter().all(u8::is_ascii_whitespace)).then(|| Frame {
            bytes: bytes.to_vec(),
            cut,
        })
    }

    /// A UDP datagram's message (cut at [`MAX_FRAME`]).
    pub(crate) fn datagram(bytes: &[u8]) -> Option<Frame> {
        let bytes = trim_trailer(bytes);
        let cut = bytes.len() > MAX_FRAME;
        Frame::of(&bytes[..bytes.len().min(MAX_FRAME)], cut)
    }
}

/// `bytes` without trailing NUL, CR and LF bytes: they end a message, they
/// are not part of it.
fn trim_trailer(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\0' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

fn is_delimiter(byte: u8) -> bool {
    byte == b'\n' || byte == b'\0'
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames; the buffer holds the digits read so far, which may be
    /// an octet count.
    Start,
    /// In an octet-counted frame, of which `remaining` bytes are still to come.
    Counted { remaining: usize },
    /// In a frame that ends at a delimiter.
    Delimited,
    /// Throwing away the rest of a cut octet-counted frame.
    SkipCounted { remaining: usize },
    /// Throwing away the rest of a cut delimited frame, up to its delimiter.
    SkipDelimited,
}

/// Splits a TCP byte stream into frames, whatever the sizes of the reads.
#[derive(Debug)]
pub(crate) struct Framer {
    buffer: Vec<u8>,
    state: State,
    max_frame: usize,
}

impl Framer {
    /// Frames longer than `max_frame` bytes are cut at that length.
    pub(crate) fn new(max_frame: usize) -> Framer {
        Framer {
            buffer: Vec::new(),
            state: State::Start,
            max_frame,
        }
    }

    /// Adds the frames that `bytes`, coming after everything pushed before,
    /// complete. At most `max_frame` bytes plus a count are held between calls.
    pub(crate) fn push(&mut self, mut bytes: &[u8], frames: &mut Vec<Frame>) {
        while let Some(&first) = bytes.first() {
            match self.state {
                State::Start => {
                    if self.buffer.is_empty() && matches!(first, b'\n' | b'\r' | b'\0') {
                        bytes = &bytes[1..];
                    } else if first.is_ascii_digit() && self.buffer.len() < MAX_COUNT_DIGITS {
                        self.buffer.push(first);
                        bytes = &bytes[1..];
                    } else if first == b' ' && !self.buffer.is_empty() {
                        let count = std::str::from_utf8(&self.buffer)
                            .ok()
                            .and_then(|digits| digits.parse().ok())
                            .unwrap_or(0);
                        self.buffer.clear();
                        bytes = &bytes[1..];
                        if count > 0 {
                            self.state = State::Counted { remaining: count };
                        }
                    } else {
                        // Not a count: the digits (if any) start the message.
                        self.state = State::Delimited;
                    }
                }
                State::Counted { remaining } => {
                    let taken = remaining.min(bytes.len());
                    let room = self.max_frame - self.buffer.len();
                    let kept = taken.min(room);
                    self.buffer.extend_from_slice(&bytes[..kept]);
                    bytes = &bytes[taken..];
                    let remaining = remaining - taken;
                    let full = self.buffer.len() >= self.max_frame;
                    if full && (remaining > 0 || kept < taken) {
                        frames.extend(self.take(true));
                        self.state = match remaining {
                            0 => State::Start,
                            remaining => State::SkipCounted { remaining },
                        };
                    } else if remaining == 0 {
                        frames.extend(self.take(false));
                        self.state = State::Start;
                    } else {
                        self.state = State::Counted { remaining };
                    }
                }
                State::Delimited => {
                    let end = bytes.iter().position(|b| is_delimiter(*b));
                    let part = &bytes[..end.unwrap_or(bytes.len())];
                    let room = self.max_frame - self.buffer.len();
                    if part.len() > room {
                        self.buffer.extend_from_slice(&part[..room]);
                        frames.extend(self.take(true));
                        self.state = State::SkipDelimited;
                        bytes = &bytes[room..];
                        continue;
                    }
                    self.buffer.extend_from_slice(part);
                    match end {
                        Some(end) => {
                            frames.extend(self.take(false));
                            self.state = State::Start;
                            bytes = &bytes[end + 1..];
                        }
                        None => bytes = &[],
                    }
                }
                State::SkipCounted { remaining } => {
                    let skipped = remaining.min(bytes.len());
                    bytes = &bytes[skipped..];
                    self.state = match remaining - skipped {
                        0 => State::Start,
                        remaining => State::SkipCounted { remaining },
                    };
                }
                State::SkipDelimited => match bytes.iter().position(|b| is_delimiter(*b)) {
                    Some(end) => {
                        bytes = &bytes[end + 1..];
                        self.state = State::Start;
                    }
                    None => bytes = &[],
                },
            }
        }
    }

    /// At the end of the stream: what was read of a last frame, if anything
    /// (an octet-counted frame that the stream ended inside is marked cut).
    pub(crate) fn finish(&mut self) -> Option<Frame> {
        let cut = matches!(self.state, State::Counted { .. });
        let skipping = matches!(self.state, State::SkipCounted { .. } | State::SkipDelimited);
        self.state = State::Start;
        let frame = self.take(cut);
        if skipping { None } else { frame }
    }

    /// The buffered bytes as a frame, leaving the buffer empty.
    fn take(&mut self, cut: bool) -> Option<Frame> {
        let frame = Frame::of(&self.buffer, cut);
        self.buffer.clear();
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames of `chunks` read one after another, then the end of the stream.
    fn frames_of(max: usize, chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut framer = Framer::new(max);
        let mut frames = Vec::new();
        for chunk in chunks {
            framer.push(chunk, &mut frames);
            assert!(framer.buffer.len() <= max.max(MAX_COUNT_DIGITS));
        }
        frames.extend(framer.finish());
        frames
            .into_iter()
            .map(|f| (String::from_utf8_lossy(&f.bytes).into_owned(), f.cut))
            .collect()
    }

    fn whole(texts: &[&str]) -> Vec<(String, bool)> {
        texts.iter().map(|t| (t.to_string(), false)).collect()
    }

    #[test]
    fn lf_and_nul_delimited_frames() {
        assert_eq!(
            frames_of(
                100,
                &[b"<13>one\n<13>two\r\n<13>three\0<13>four\0\n\n<13>last"]
            ),
            whole(&["<13>one", "<13>two", "<13>three", "<13>four", "<13>last"])
        );
    }

    #[test]
    fn octet_counted_frames_with_and_without_trailers() {
        assert_eq!(
            frames_of(100, &[b"7 <13>one8 <13>two\n9 <13>three\0"]),
            whole(&["<13>one", "<13>two", "<13>three"])
        );
    }

    #[test]
    fn framings_are_told_apart_per_frame() {
        assert_eq!(
            frames_of(
                100,
                &[b"7 <13>one<13>two\n2024-05-01 text\n123abc\n7 <13>end"]
            ),
            whole(&["<13>one", "<13>two", "2024-05-01 text", "123abc", "<13>end"])
        );
    }

    #[test]
    fn frames_split_anywhere_across_reads() {
        let stream: &[u8] = b"11 <13>1 hello5 world<13>plain\n12 <13>1 again\n";
        let expected = whole(&["<13>1 hello", "world", "<13>plain", "<13>1 again"]);
        for split in 0..=stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(frames_of(100, &[a, b]), expected, "split at {split}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(frames_of(100, &bytes), expected);
    }

    #[test]
    fn bad_counts() {
        // A zero count is an empty frame; ten digits are no count at all.
        assert_eq!(
            frames_of(100, &[b"0 3 abc1234567890 is text\n"]),
            whole(&["abc", "1234567890 is text"])
        );
        // A count larger than what follows: the stream ends inside the frame.
        assert_eq!(
            frames_of(100, &[b"50 <13>short"]),
            [("<13>short".to_string(), true)]
        );
        // Digits alone at the end of the stream are a message.
        assert_eq!(frames_of(100, &[b"12345"]), whole(&["12345"]));
    }

    #[test]
    fn huge_frames_are_cut_and_the_rest_skipped() {
        let long = vec![b'x'; 250];
        let mut counted = b"250 ".to_vec();
        counted.extend(&long);
        counted.extend(b"4 next");
        let chunks: Vec<&[u8]> = counted.chunks(7).collect();
        assert_eq!(
            frames_of(100, &chunks),
            [("x".repeat(100), true), ("next".to_string(), false)]
        );

        let mut delimited = long.clone();
        delimited.extend(b"\nnext\n");
        let chunks: Vec<&[u8]> = delimited.chunks(33).collect();
        assert_eq!(
            frames_of(100, &chunks),
            [("x".repeat(100), true), ("next".to_string(), false)]
        );

        // Exactly the maximum is not cut.
        let mut exact = vec![b'y'; 100];
        exact.push(b'\n');
        assert_eq!(frames_of(100, &[&exact]), whole(&[&"y".repeat(100)]));
        // A cut frame whose rest never ends gives nothing more.
        assert_eq!(frames_of(100, &[&long]), [("x".repeat(100), true)]);
    }

    #[test]
    fn datagrams_lose_their_trailers() {
        let frame = Frame::datagram(b"<13>python\0").unwrap();
        assert_eq!(
            (frame.bytes.as_slice(), frame.cut),
            (&b"<13>python"[..], false)
        );
        assert_eq!(Frame::datagram(b"<13>x\r\n").unwrap().bytes, b"<13>x");
        assert_eq!(Frame::datagram(b"\0\n"), None);
        let huge = vec![b'z'; MAX_FRAME + 10];
        let frame = Frame::datagram(&huge).unwrap();
        assert_eq!((frame.bytes.len(), frame.cut), (MAX_FRAME, true));
    }
}
