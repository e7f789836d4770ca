//! Counters for Prometheus (`GET /metrics`, text exposition format).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::{Store, StoreCounter};

pub struct Metrics {
    registry: Registry,
    /// Records the API acknowledged (202) or the syslog listeners stored.
    pub ingested_records: Counter,
    /// Records of requests refused because the store's disk is full
    /// (nothing of those requests was stored).
    pub disk_full_records: Counter,
    /// Records of OTLP, Loki and Elasticsearch requests that could not be
    /// taken (reported to the shipper; the rest of the request was stored).
    pub rejected_records: Counter,
    /// Syslog messages received (TCP and UDP), each made a record.
    pub syslog_received_records: Counter,
    /// Syslog records received over UDP that were not stored: the receive
    /// queue was full, or the sink could not take them after a short retry.
    pub syslog_udp_dropped_records: Counter,
    /// Syslog records received over TCP that the sink refused outright
    /// (the daemon stopping); a full sink only makes TCP wait.
    pub syslog_tcp_dropped_records: Counter,
    /// Messages a worker read from Kafka: stored, dead-lettered, or in a
    /// batch that is not committed yet (more read than stored and
    /// dead-lettered means a batch is in flight).
    pub worker_consumed_records: Counter,
    /// Batches a worker inserted and committed.
    pub worker_batches: Counter,
    /// Records a worker inserted.
    pub worker_records: Counter,
    /// Records a worker did not store because the store had them from an
    /// earlier copy of their request (the same `Idempotency-Key` and body).
    pub worker_duplicates: Counter,
    /// Messages a worker could not decode and sent to the dead-letter topic.
    pub dead_letters: Counter,
    /// Store inserts that failed and were retried.
    pub store_retries: Counter,
    /// Batches a worker split because the store kept refusing them.
    pub worker_split_batches: Counter,
    /// Records the store refused on their own, sent to the dead-letter topic.
    pub store_refused_records: Counter,
    /// Seconds from a batch's first message to its offsets being committed.
    pub worker_batch_seconds: Histogram,
    /// The embedded store's memory limit (`--memory-limit`), 0 with ClickHouse.
    pub memory_limit: Gauge,
    /// The daemon's resident memory, read when the metrics are.
    resident_memory: Gauge,
    /// Live-tail subscribers connected.
    pub tail_subscribers: Gauge,
    /// Kafka consumers open for the live tail (the shared feed's and those
    /// of subscribers that resume or start in the past).
    pub tail_consumers: Gauge,
    /// Records answered from the embedded pipeline's journal that the store
    /// does not hold yet.
    pub journal_unstored_records: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("logstream");
        let metrics = Metrics {
            ingested_records: Counter::default(),
            rejected_records: Counter::default(),
            disk_full_records: Counter::default(),
            syslog_received_records: Counter::default(),
            syslog_udp_dropped_records: Counter::default(),
            syslog_tcp_dropped_records: Counter::default(),
            worker_consumed_records: Counter::default(),
            worker_batches: Counter::default(),
            worker_records: Counter::default(),
            worker_duplicates: Counter::default(),
            dead_letters: Counter::default(),
            store_retries: Counter::default(),
            worker_split_batches: Counter::default(),
            store_refused_records: Counter::default(),
            worker_batch_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 12)),
            memory_limit: Gauge::default(),
            resident_memory: Gauge::default(),
            tail_subscribers: Gauge::default(),
            tail_consumers: Gauge::default(),
            journal_unstored_records: Gauge::default(),
            registry: Registry::default(),
        };
        let counters = [
            (
                "ingested_records",
                "Records the API acknowledged or the syslog listeners stored",
                &metrics.ingested_records,
            ),
            (
                "rejected_records",
                "Records of OTLP, Loki and Elasticsearch requests that could not be taken (the rest of each request was stored)",
                &metrics.rejected_records,
            ),
            (
                "disk_full_records",
                "Records of requests refused because the store's disk is full (nothing of those requests was stored)",
                &metrics.disk_full_records,
            ),
            (
                "syslog_received_records",
                "Syslog messages received over TCP and UDP",
                &metrics.syslog_received_records,
            ),
            (
                "syslog_udp_dropped_records",
                "Syslog records received over UDP but not stored (receive queue full, or the sink full or unavailable after retries)",
                &metrics.syslog_udp_dropped_records,
            ),
            (
                "syslog_tcp_dropped_records",
                "Syslog records received over TCP that the sink refused outright (shutting down)",
                &metrics.syslog_tcp_dropped_records,
            ),
            (
                "worker_consumed_records",
                "Messages a worker read from Kafka, whether stored, dead-lettered or in a batch not yet committed",
                &metrics.worker_consumed_records,
            ),
            (
                "worker_batches",
                "Batches a worker stored and committed",
                &metrics.worker_batches,
            ),
            (
                "worker_records",
                "Records a worker stored",
                &metrics.worker_records,
            ),
            (
                "worker_duplicates",
                "Records a worker left out because the store had them from an earlier copy of their request (same Idempotency-Key and body)",
                &metrics.worker_duplicates,
            ),
            (
                "dead_letters",
                "Messages a worker could not decode, sent to the dead-letter topic",
                &metrics.dead_letters,
            ),
            (
                "store_retries",
                "Store inserts that failed and were retried",
                &metrics.store_retries,
            ),
            (
                "worker_split_batches",
                "Batches a worker split because the store kept refusing them while healthy",
                &metrics.worker_split_batches,
            ),
            (
                "store_refused_records",
                "Records the store refused on their own, which a worker sent to the dead-letter topic",
                &metrics.store_refused_records,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "store_memory_limit_bytes",
            "Memory the embedded store may use (--memory-limit); 0 with ClickHouse",
            metrics.memory_limit.clone(),
        );
        registry.register(
            "resident_memory_bytes",
            "The daemon's resident memory (VmRSS), as of this scrape",
            metrics.resident_memory.clone(),
        );
        registry.register(
            "tail_subscribers",
            "Live-tail subscribers connected",
            metrics.tail_subscribers.clone(),
        );
        registry.register(
            "tail_consumers",
            "Kafka consumers open for the live tail: one shared by the subscribers that follow from now on, one per subscriber that starts in the past",
            metrics.tail_consumers.clone(),
        );
        registry.register(
            "ingest_journal_unstored_records",
            "Records answered from the embedded pipeline's journal that DuckDB does not hold yet (stored within about 50 ms unless DuckDB is failing, e.g. on a full disk)",
            metrics.journal_unstored_records.clone(),
        );
        registry.register(
            "worker_batch_seconds",
            "Seconds from a batch's first message to its offsets being committed",
            metrics.worker_batch_seconds.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// The metrics, with the counters `store` keeps of itself.
    pub fn of_store(store: &dyn Store) -> Metrics {
        let mut metrics = Metrics::default();
        for StoreCounter {
            name,
            help,
            counter,
        } in store.counters()
        {
            metrics.registry.register(name, help, counter);
        }
        metrics
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.resident_memory.set(resident_bytes().unwrap_or(0));
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// The process's resident memory in bytes (Linux: `VmRSS` of /proc/self/status).
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
