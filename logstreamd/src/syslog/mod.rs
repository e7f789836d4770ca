//! Opt-in syslog listeners (`--syslog-listen`, `--syslog-tcp`,
//! `--syslog-udp`): RFC 5424 and RFC 3164 messages over TCP and UDP become
//! records and end in the same [`Sink`] as HTTP ingest.
//!
//! Each frame is read by the parse crate's syslog reader, the one `lsctl send`
//! uses, so a line gets the same fields whichever way it arrives. A frame that
//! is not syslog is stored as a plain message, and an over-long one is cut
//! ([`fit_to_limits`]): syslog senders have no way to hear of a refusal, so
//! nothing that arrives is refused.
//!
//! What happens when the sink cannot take more depends on the transport:
//! TCP has flow control, so a connection's batch is retried until stored and
//! the connection is not read meanwhile (the sender slows down; nothing is
//! dropped); UDP has none, so after a short retry what could not be taken is
//! dropped and counted ([`WhenFull`]).

mod framing;
mod tcp;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use logstream_parse::{Context, Zone};
use logstream_shared::record::{TRUNCATED_FIELDS, UNKNOWN_SERVICE, fit_to_limits};
use logstream_shared::{Level, LogRecord};
use tokio::sync::watch;
use tokio::task::JoinSet;

use self::framing::Frame;
use crate::ingest::layouts::Given;
use crate::ingest::{Sink, SinkError, Turn};
use crate::metrics::Metrics;

/// A batch is submitted once it has this many records…
const BATCH_RECORDS: usize = 1000;
/// …or this many bytes of messages…
const BATCH_BYTES: usize = 1024 * 1024;
/// …or its first record has waited this long.
const BATCH_WAIT: Duration = Duration::from_millis(50);

/// Where the listeners are, by transport.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    pub tcp: Vec<SocketAddr>,
    pub udp: Vec<SocketAddr>,
}

impl Addresses {
    pub fn is_empty(&self) -> bool {
        self.tcp.is_empty() && self.udp.is_empty()
    }
}

/// What a full sink costs a transport's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenFull {
    /// Retry with backoff until stored; the sender waits (TCP).
    Block,
    /// Retry a few times, then drop the batch and count it (UDP).
    DropAfterRetries,
}

/// What every listener hands its records to.
#[derive(Debug)]
struct Intake {
    sink: Arc<dyn Sink>,
    metrics: Arc<Metrics>,
    batch_records: usize,
    /// `--detect-layouts`: see [`Intake::record`].
    detect_layouts: bool,
}

impl Intake {
    /// The record for one frame (see [`record`]). With `--detect-layouts`, a
    /// frame without a priority, or at the default ones notice and info (what
    /// senders use when they do not classify their messages), takes the level
    /// its text carries, and its time when the header had none.
    fn record(&self, frame: &Frame, peer: IpAddr, received: DateTime<Utc>) -> LogRecord {
        let (mut record, given) = read_frame(frame, peer, received);
        if self.detect_layouts {
            crate::ingest::layouts::complete(&mut record, given);
        }
        record
    }
}

/// The running listeners.
#[derive(Debug)]
pub struct Listeners {
    tasks: JoinSet<()>,
}

impl Listeners {
    /// Binds every address (an error names the one that failed), then
    /// receives until the first stop signal. `max_pending_records` bounds
    /// the batches, so that one always fits in the sink.
    pub async fn start(
        addresses: &Addresses,
        sink: Arc<dyn Sink>,
        metrics: Arc<Metrics>,
        max_pending_records: usize,
        detect_layouts: bool,
        stop: watch::Receiver<u32>,
    ) -> anyhow::Result<Listeners> {
        let intake = Arc::new(Intake {
            sink,
            metrics,
            batch_records: BATCH_RECORDS.min(max_pending_records).max(1),
            detect_layouts,
        });
        let mut tasks = JoinSet::new();
        for addr in &addresses.tcp {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot receive syslog on tcp://{addr}"))?;
            announce("tcp", listener.local_addr()?);
            tasks.spawn(tcp::accept(listener, Arc::clone(&intake), stop.clone()));
        }
        for addr in &addresses.udp {
            let socket = tokio::net::UdpSocket::bind(addr)
                .await
                .with_context(|| format!("cannot receive syslog on udp://{addr}"))?;
            announce("udp", socket.local_addr()?);
            tasks.spawn(udp::receive(socket, Arc::clone(&intake), stop.clone()));
        }
        Ok(Listeners { tasks })
    }

    /// Waits until the listeners have stopped (at the first stop signal) and
    /// every batch they held was submitted.
    pub async fn finish(mut self) {
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "a syslog listener panicked");
            }
        }
    }
}

/// Says where syslog arrives, and warns when anyone on the network can send.
/// (Not "listening on": tools wait for that line to learn the HTTP address.)
fn announce(transport: &str, addr: SocketAddr) {
    tracing::info!("syslog: receiving RFC 5424 and RFC 3164 on {transport}://{addr}");
    if !addr.ip().is_loopback() {
        tracing::warn!(
            "NO ACCESS CONTROL: syslog on {transport}://{addr} is unauthenticated, so anyone \
             who can reach this port can write logs (access tokens do not apply to syslog). \
             Listen on a loopback address, or restrict the port with a firewall"
        );
    }
}

/// The record for one frame from `peer`, received at `received`.
///
/// A syslog message gives its time (else `received`), APP-NAME or tag as
/// service (else "unknown"), severity as level, HOSTNAME as host (else the
/// sender's address), and as attributes `facility`, `pid` (PROCID), `msgid`
/// (MSGID) and each structured-data parameter by name. Any other frame is
/// a plain INFO message (RFC 3164's default priority, user.notice). RFC
/// 3164's times name no zone: they are read in the daemon's local zone.
#[cfg(test)]
fn record(frame: &Frame, peer: IpAddr, received: DateTime<Utc>) -> LogRecord {
    read_frame(frame, peer, received).0
}

/// The record for one frame, as [`record`] describes it, and whether the
/// frame gave its time and a level of its own (see [`Intake::record`]).
fn read_frame(frame: &Frame, peer: IpAddr, received: DateTime<Utc>) -> (LogRecord, Given) {
    let text = String::from_utf8_lossy(&frame.bytes);
    let mut record = LogRecord {
        id: uuid::Uuid::now_v7().to_string(),
        timestamp: received,
        service: UNKNOWN_SERVICE.into(),
        level: Level::Info,
        message: String::new(),
        host: Some(peer.to_string()),
        trace_id: None,
        span_id: None,
        attributes: Default::default(),
    };
    let cx = Context {
        zone: Zone::Local,
        now: received,
    };
    let mut given = Given::default();
    match logstream_parse::syslog(&text, cx) {
        Some(message) => {
            given = Given {
                level: !matches!(message.severity, 5 | 6),
                time: message.parsed.timestamp.is_some(),
            };
            let parsed = message.parsed;
            record.timestamp = parsed.timestamp.unwrap_or(received);
            record.level = parsed.level.unwrap_or(Level::Info);
            if let Some(service) = parsed.service.filter(|s| !s.is_empty() && s != "-") {
                record.service = service;
            }
            if let Some(host) = parsed.host.filter(|h| !h.is_empty()) {
                record.host = Some(host);
            }
            record.message = parsed.message;
            record.attributes = parsed.attributes;
            if let Some(facility) = logstream_parse::facility_name(message.facility) {
                record.attributes.insert("facility".into(), facility.into());
            }
        }
        None => record.message = text.into_owned(),
    }
    fit_to_limits(&mut record);
    if frame.cut {
        // The framing cut the message before fit_to_limits saw it.
        let noted = record
            .attributes
            .entry(TRUNCATED_FIELDS.into())
            .or_default();
        if !noted.split(',').any(|field| field == "message") {
            *noted = match noted.as_str() {
                "" => "message".into(),
                others => format!("message,{others}"),
            };
        }
    }
    (record, given)
}

/// Resolves at the first stop signal.
async fn stopped(stop: &mut watch::Receiver<u32>) {
    // The guard wait_for returns is not Send: drop it here.
    let _ = stop.wait_for(|n| *n >= 1).await;
}

/// Records waiting to be submitted together.
#[derive(Debug, Default)]
struct Batch {
    records: Vec<LogRecord>,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, record: LogRecord) {
        self.bytes += record.message.len();
        self.records.push(record);
    }

    fn is_full(&self, intake: &Intake) -> bool {
        self.records.len() >= intake.batch_records || self.bytes >= BATCH_BYTES
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn take(&mut self) -> Vec<LogRecord> {
        self.bytes = 0;
        std::mem::take(&mut self.records)
    }
}

/// How many tries a UDP batch gets while the sink is full or unavailable.
const UDP_TRIES: u32 = 4;
/// The first retry's wait; it doubles each time, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Intake {
    /// Submits `records` to the sink, retrying while it is full or
    /// unavailable as `when_full` says. Returns how many records were not
    /// stored (and counts them as dropped for UDP).
    async fn submit(&self, mut records: Vec<LogRecord>, when_full: WhenFull) -> usize {
        let mut backoff = FIRST_BACKOFF;
        let mut tries = 0;
        let mut slimmed = None;
        while !records.is_empty() {
            tries += 1;
            let error = match self
                .sink
                .submit(records.clone(), None, Turn::default())
                .await
            {
                Ok(_) => {
                    self.metrics.ingested_records.inc_by(records.len() as u64);
                    return 0;
                }
                Err(error) => error,
            };
            match error {
                SinkError::Full { .. } | SinkError::Unavailable(_) | SinkError::DiskFull => {
                    if when_full == WhenFull::DropAfterRetries && tries >= UDP_TRIES {
                        tracing::warn!(error = %error, records = records.len(), "syslog: dropping a UDP batch the sink could not take");
                        self.metrics
                            .syslog_udp_dropped_records
                            .inc_by(records.len() as u64);
                        return records.len();
                    }
                    if tries == 1 || tries % 10 == 0 {
                        tracing::warn!(error = %error, tries, "syslog: the sink cannot take a batch yet; retrying");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                SinkError::TooLarge { max, .. } => {
                    // Batches are at most max_pending_records, so this is not
                    // expected; should it happen, pieces of `max` fit.
                    let mut lost = 0;
                    while !records.is_empty() {
                        let piece: Vec<_> =
                            records.drain(..records.len().min(max.max(1))).collect();
                        lost += Box::pin(self.submit(piece, when_full)).await;
                    }
                    return lost;
                }
                SinkError::RecordTooLarge { index, .. } if index < records.len() => {
                    // Kafka's message limit: its attributes are the likely bulk.
                    if slimmed == Some(index) {
                        tracing::error!(
                            index,
                            "syslog: a record is too large for the queue even without attributes; dropped"
                        );
                        records.remove(index);
                        self.count_dropped(1, when_full);
                        slimmed = None;
                    } else {
                        let record = &mut records[index];
                        record.attributes.clear();
                        record
                            .attributes
                            .insert(TRUNCATED_FIELDS.into(), "attributes".into());
                        slimmed = Some(index);
                    }
                }
                error => {
                    // Closed (a second stop signal), or an answer no syslog
                    // batch can get: nothing to wait for.
                    tracing::error!(error = %error, records = records.len(), "syslog: batch not stored");
                    self.count_dropped(records.len(), when_full);
                    return records.len();
                }
            }
        }
        0
    }

    fn count_dropped(&self, records: usize, when_full: WhenFull) {
        let counter = match when_full {
            WhenFull::Block => &self.metrics.syslog_tcp_dropped_records,
            WhenFull::DropAfterRetries => &self.metrics.syslog_udp_dropped_records,
        };
        counter.inc_by(records as u64);
    }
}

#[cfg(test)]
mod tests;
