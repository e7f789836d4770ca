use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use logstream_shared::record::{MAX_MESSAGE_LEN, validate};

use super::*;
use crate::ingest::{IdempotencyKey, Submitted};

fn frame(text: &str) -> Frame {
    Frame {
        bytes: text.as_bytes().to_vec(),
        cut: false,
    }
}

fn peer() -> IpAddr {
    "192.0.2.7".parse().unwrap()
}

fn received() -> DateTime<Utc> {
    "2026-11-27T13:00:00Z".parse().unwrap()
}

fn attrs(record: &LogRecord) -> Vec<(&str, &str)> {
    record
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn rfc5424_maps_to_the_record() {
    let r = record(
        &frame(
            r#"<11>1 2026-11-27T12:00:01.253067+00:00 vm app 123 ID [x@32473 a="b"] message here"#,
        ),
        peer(),
        received(),
    );
    assert_eq!(r.service, "app");
    assert_eq!(r.level, Level::Error);
    assert_eq!(r.host.as_deref(), Some("vm"));
    assert_eq!(
        r.timestamp,
        "2026-11-27T12:00:01.253067Z"
            .parse::<DateTime<Utc>>()
            .unwrap()
    );
    assert_eq!(r.message, "message here");
    assert_eq!(
        attrs(&r),
        [
            ("a", "b"),
            ("facility", "user"),
            ("msgid", "ID"),
            ("pid", "123")
        ]
    );
}

#[test]
fn nil_fields_take_the_defaults() {
    let r = record(&frame("<165>1 - - - - - - hello"), peer(), received());
    assert_eq!(
        (r.service.as_str(), r.level, r.host.as_deref(), r.timestamp),
        ("unknown", Level::Info, Some("192.0.2.7"), received())
    );
    assert_eq!(attrs(&r), [("facility", "local4")]);
}

#[test]
fn rfc3164_and_a_bare_tag() {
    let r = record(
        &frame("<34>Nov 27 12:00:01 web-1 su[99]: 'su root' failed"),
        peer(),
        received(),
    );
    assert_eq!(
        (
            r.service.as_str(),
            r.level,
            r.host.as_deref(),
            r.message.as_str()
        ),
        ("su", Level::Fatal, Some("web-1"), "'su root' failed")
    );
    assert_eq!(attrs(&r), [("facility", "auth"), ("pid", "99")]);

    let r = record(&frame("<155>pyapp: cache miss"), peer(), received());
    assert_eq!(
        (r.service.as_str(), r.level, r.host.as_deref()),
        ("pyapp", Level::Error, Some("192.0.2.7"))
    );
    assert_eq!(attrs(&r), [("facility", "local3")]);
}

#[test]
fn anything_else_is_a_plain_message() {
    for text in ["hello world", "<999>nope", "\u{1b}[31m☃"] {
        let r = record(&frame(text), peer(), received());
        assert_eq!(
            (r.service.as_str(), r.level, r.message.as_str()),
            ("unknown", Level::Info, text)
        );
        assert!(r.attributes.is_empty(), "{text}");
    }
    // Not UTF-8: replaced, never a panic.
    let r = record(
        &Frame {
            bytes: b"<13>bad \xff\xfe bytes".to_vec(),
            cut: false,
        },
        peer(),
        received(),
    );
    assert_eq!(r.message, "bad \u{fffd}\u{fffd} bytes");
}

#[test]
fn cut_frames_are_noted_and_every_record_passes_the_checks() {
    let long = format!("<13>app: {}", "x".repeat(MAX_MESSAGE_LEN + 100));
    let r = record(&frame(&long), peer(), received());
    assert!(validate(&r).is_empty());
    assert_eq!(r.attributes[TRUNCATED_FIELDS], "message");

    let r = record(
        &Frame {
            bytes: b"<13>app: the start".to_vec(),
            cut: true,
        },
        peer(),
        received(),
    );
    assert_eq!(r.attributes[TRUNCATED_FIELDS], "message");

    let long_host = format!("<13>1 - {} app - - - m", "h".repeat(300));
    let r = record(
        &Frame {
            bytes: long_host.into_bytes(),
            cut: true,
        },
        peer(),
        received(),
    );
    assert!(validate(&r).is_empty());
    assert_eq!(r.attributes[TRUNCATED_FIELDS], "message,host");
}

/// A sink that answers from a script, then stores; it keeps what it stored.
#[derive(Debug, Default)]
struct ScriptedSink {
    answers: Mutex<VecDeque<SinkError>>,
    stored: Mutex<Vec<LogRecord>>,
    calls: Mutex<usize>,
}

#[async_trait]
impl Sink for ScriptedSink {
    async fn submit(
        &self,
        records: Vec<LogRecord>,
        _key: Option<IdempotencyKey>,
        _turn: Turn,
    ) -> Result<Submitted, SinkError> {
        *self.calls.lock().unwrap() += 1;
        if let Some(error) = self.answers.lock().unwrap().pop_front() {
            return Err(error);
        }
        self.stored.lock().unwrap().extend(records);
        Ok(Submitted::Stored)
    }

    async fn shutdown(&self) {}
}

fn full() -> SinkError {
    SinkError::Full {
        pending: 1,
        retry_after: Duration::from_secs(1),
    }
}

fn intake(answers: Vec<SinkError>) -> (Arc<ScriptedSink>, Intake) {
    let sink = Arc::new(ScriptedSink {
        answers: Mutex::new(answers.into()),
        ..ScriptedSink::default()
    });
    let intake = Intake {
        sink: Arc::clone(&sink) as Arc<dyn Sink>,
        metrics: Arc::new(Metrics::default()),
        batch_records: 10,
        detect_layouts: true,
    };
    (sink, intake)
}

#[test]
fn a_message_at_the_default_priority_takes_the_level_its_text_carries() {
    let (_, intake) = intake(Vec::new());
    let r = intake.record(&frame("<14>app: ERROR db down"), peer(), received());
    assert_eq!(r.level, Level::Error);
    // Another priority is the sender's own choice, and stays.
    let r = intake.record(&frame("<12>app: ERROR db down"), peer(), received());
    assert_eq!(r.level, Level::Warn);
    let r = intake.record(&frame("plain ERROR text"), peer(), received());
    assert_eq!(r.level, Level::Error);
    let off = Intake {
        detect_layouts: false,
        ..intake
    };
    let r = off.record(&frame("<14>app: ERROR db down"), peer(), received());
    assert_eq!(r.level, Level::Info);
}

fn some_records(n: usize) -> Vec<LogRecord> {
    (0..n)
        .map(|i| record(&frame(&format!("<13>m{i}")), peer(), received()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn tcp_batches_wait_for_a_full_sink_and_are_stored_once() {
    let mut answers: Vec<SinkError> = (0..20).map(|_| full()).collect();
    answers.push(SinkError::Unavailable("store down".into()));
    let (sink, intake) = intake(answers);
    assert_eq!(intake.submit(some_records(3), WhenFull::Block).await, 0);
    assert_eq!(sink.stored.lock().unwrap().len(), 3);
    assert_eq!(*sink.calls.lock().unwrap(), 22);
    assert_eq!(intake.metrics.ingested_records.get(), 3);
    assert_eq!(intake.metrics.syslog_tcp_dropped_records.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn udp_batches_are_dropped_and_counted_after_a_few_tries() {
    let (sink, intake) = intake((0..10).map(|_| full()).collect());
    assert_eq!(
        intake
            .submit(some_records(3), WhenFull::DropAfterRetries)
            .await,
        3
    );
    assert_eq!(*sink.calls.lock().unwrap(), UDP_TRIES as usize);
    assert_eq!(intake.metrics.syslog_udp_dropped_records.get(), 3);
    assert_eq!(intake.metrics.ingested_records.get(), 0);
    // The next batch, once the sink has room, is stored.
    let (sink, intake) = intake_after(2);
    assert_eq!(
        intake
            .submit(some_records(2), WhenFull::DropAfterRetries)
            .await,
        0
    );
    assert_eq!(sink.stored.lock().unwrap().len(), 2);
}

fn intake_after(fulls: usize) -> (Arc<ScriptedSink>, Intake) {
    intake((0..fulls).map(|_| full()).collect())
}

#[tokio::test(start_paused = true)]
async fn a_record_too_large_for_the_queue_loses_its_attributes_not_its_batch() {
    let (sink, intake) = intake(vec![SinkError::RecordTooLarge {
        index: 1,
        bytes: 2_000_000,
        max: 1_000_000,
    }]);
    assert_eq!(intake.submit(some_records(3), WhenFull::Block).await, 0);
    let stored = sink.stored.lock().unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[1].attributes[TRUNCATED_FIELDS], "attributes");
}

/// A TCP stream's bytes as senders write them: RFC 5424 and RFC 3164
/// messages, octet-counted and delimited, and a bare line.
const STREAM: &str = concat!(
    "87 <165>1 2026-11-27T12:00:01.5Z host app 42 ID7 [ex@32473 k=\"v\\\"q\"] message one\n",
    "<34>Nov 27 12:00:01 mymachine su[230]: 'su root' failed\n",
    "<13>1 - - - - - -\0",
    "just a line\n",
);

proptest::proptest! {
    /// Syslog under the fuzz tests of `crate::fuzzing`: arbitrary streams,
    /// in any chunking, frame and decode without panicking, within memory
    /// linear in what arrived.
    #[test]
    fn streams_frame_and_decode_within_memory(
        stream in crate::fuzzing::mutated(vec![STREAM.as_bytes().to_vec()]),
        chunk in 1..64usize,
    ) {
        crate::fuzzing::assert_memory_within((64, crate::fuzzing::SLACK), &stream, |bytes| {
            let mut framer = super::framing::Framer::new(super::framing::MAX_FRAME);
            let mut frames = Vec::new();
            for piece in bytes.chunks(chunk) {
                framer.push(piece, &mut frames);
            }
            let datagram = Frame::datagram(bytes);
            let records: Vec<LogRecord> = frames
                .iter()
                .chain(&datagram)
                .map(|frame| read_frame(frame, peer(), received()).0)
                .collect();
            records
        })?;
    }
}
